"""cifar10.towers and cifar10.multi_gpu_train, on a machine without GPUs."""
import json
import re

import numpy as np
import pytest
import tensorflow as tf

from cifar10 import model
from cifar10 import towers
from tfclassic import evaluation
from conftest import (CIFAR10_SEED_FLAG, QUICK_TRAIN_FLAGS,
                      assert_eval_matches_numpy, checkpoint_steps,
                      learnable_examples, numpy_precision, run_module)
from numpy_model import eval_preprocess

tf1 = tf.compat.v1

BATCH = 8
SOFT_PLACEMENT = tf1.ConfigProto(allow_soft_placement=True)


def _batch():
  images, labels = learnable_examples(BATCH, seed=4)
  return eval_preprocess(images).astype(np.float32), labels.astype(np.int32)


def _build_two_towers():
  images, labels = _batch()
  with tf.device('/cpu:0'):
    global_step = tf1.train.get_or_create_global_step()
  return towers.build_towers(tf.constant(images), tf.constant(labels), 2,
                             global_step)


def test_towers_are_placed_on_their_gpus_and_variables_on_the_cpu(
    tf_behaviour):
  with tf.Graph().as_default() as graph:
    _build_two_towers()
    for i in (0, 1):
      tower_ops = [op for op in graph.get_operations()
                   if op.name.startswith('tower_%d/' % i)]
      # Reads of a resource variable run where the variable is: the CPU.
      reads = [op for op in tower_ops if op.type == 'ReadVariableOp']
      if tf_behaviour == 'v2':
        assert len(reads) == 12
        assert {op.inputs[0].op.device for op in reads} == {'/device:CPU:0'}
      else:
        # A reference variable is read once, by its own op beside it.
        assert not reads
        weights = graph.get_operation_by_name('conv1/weights/read')
        assert weights.device == '/device:CPU:0'
        assert [op for op in tower_ops if weights.outputs[0] in op.inputs]
      computed = [op for op in tower_ops if op.type != 'ReadVariableOp']
      assert len(computed) > 100
      assert {op.device for op in computed} == {'/device:GPU:%d' % i}
    variables = tf1.global_variables()
    assert {v.device for v in variables} == {'/device:CPU:0'}
    assert not [v.op.name for v in variables if 'tower_' in v.op.name]
    names = {v.op.name for v in variables}
    assert {'global_step', 'conv1/weights',
            'conv1/weights/ExponentialMovingAverage',
            'total_loss/avg', 'cross_entropy/avg'} <= names
    assert len(tf1.trainable_variables()) == 10


def test_summaries_come_once_with_single_device_tags():
  with tf.Graph().as_default(), tf1.Session(config=SOFT_PLACEMENT) as sess:
    graph = _build_two_towers()
    sess.run(tf1.global_variables_initializer())
    summary = tf1.Summary.FromString(sess.run(graph.summary_op))
  tags = [value.tag for value in summary.value]
  assert len(tags) == len(set(tags))
  assert {'total_loss', 'total_loss_raw', 'cross_entropy', 'learning_rate',
          'local3/weight_loss', 'conv1/conv1/activations',
          'conv1/weights/gradients'} <= set(tags)


def _initial_weights():
  with tf.Graph().as_default(), tf1.Session(config=SOFT_PLACEMENT) as sess:
    model.inference(tf1.placeholder(tf.float32, [None, 24, 24, 3]))
    sess.run(tf1.global_variables_initializer())
    rng = np.random.default_rng(5)
    return {v.op.name: sess.run(v) + rng.normal(0, 0.01, v.shape.as_list())
            for v in tf1.trainable_variables()}


def _load(sess, weights):
  for v in tf1.trainable_variables():
    v.load(weights[v.op.name], sess)


@pytest.mark.usefixtures('tf_behaviour')
def test_two_towers_equal_one_model_on_the_whole_batch():
  weights = _initial_weights()
  images, labels = _batch()
  with tf.Graph().as_default(), tf1.Session(config=SOFT_PLACEMENT) as sess:
    global_step = tf1.train.get_or_create_global_step()
    total_loss = model.loss(model.inference(tf.constant(images)),
                            tf.constant(labels))
    variables = tf1.trainable_variables()
    single_grads = tf.gradients(total_loss, variables)
    train_op = model.train(total_loss, global_step, BATCH)
    sess.run(tf1.global_variables_initializer())
    _load(sess, weights)
    want_grads = sess.run(single_grads)
    want_loss = sess.run(total_loss)
    sess.run(train_op)
    want_after = {v.op.name: sess.run(v) for v in variables}
  with tf.Graph().as_default(), tf1.Session(config=SOFT_PLACEMENT) as sess:
    graph = _build_two_towers()
    sess.run(tf1.global_variables_initializer())
    _load(sess, weights)
    got_grads = sess.run([g for g, _ in graph.grads_and_vars])
    got_loss = sess.run(graph.loss)
    sess.run(graph.train_op)
    got_after = {v.op.name: sess.run(v) for v in tf1.trainable_variables()}
    assert [v.op.name for _, v in graph.grads_and_vars] == [
        v.op.name for v in variables]
  assert got_loss == pytest.approx(want_loss, rel=1e-5)
  for got, want in zip(got_grads, want_grads):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
  for name, want in want_after.items():
    np.testing.assert_allclose(got_after[name], want, rtol=1e-5, atol=1e-7)


LOG_LINE = re.compile(r': step (\d+), loss = \d+\.\d\d \((\d+\.\d) '
                      r'examples/sec; \d+\.\d{3} sec/batch\), ETA ', re.M)


def test_multi_gpu_train_runs_without_gpus_and_eval_scores_it(
    cifar_data, tmp_path):
  args = ['--data_dir=%s' % cifar_data, '--train_dir=%s' % tmp_path,
          '--num_gpus=2', *QUICK_TRAIN_FLAGS, CIFAR10_SEED_FLAG]
  result = run_module('cifar10.multi_gpu_train', '--max_steps=12', *args)
  assert ('Asked for 2 GPUs, found 0: towers 0..1 run on the CPU (soft '
          'placement).') in result.stdout
  assert [int(s) for s, _ in LOG_LINE.findall(result.stdout)] == [5, 10]
  assert checkpoint_steps(tmp_path)[-1] == 12
  result = run_module('cifar10.multi_gpu_train', '--max_steps=17',
                      '--trace_steps=14', '--eval_every_steps=100',
                      '--eval_dir=%s' % (tmp_path / 'eval'), *args)
  assert 'Resuming from %s/model.ckpt-12' % tmp_path in result.stdout
  assert [int(s) for s, _ in LOG_LINE.findall(result.stdout)] == [15]
  assert checkpoint_steps(tmp_path)[-1] == 17
  # The trace of step 14 holds both towers' ops.
  assert sorted(p.name for p in tmp_path.glob('timeline-*')) == [
      'timeline-14.json']
  events = json.loads((tmp_path / 'timeline-14.json').read_text())[
      'traceEvents']
  names = {e['args']['name'] for e in events if e['ph'] == 'X'}
  for tower in ('tower_0/', 'tower_1/'):
    assert any(n.startswith(tower + 'conv1/') for n in names), tower
  # Scored at the end only (17 < 100), on all 60 test records.
  [record] = evaluation.read_records(str(tmp_path))
  assert (record['global_step'], record['examples']) == (17, 60)
  assert record['precision_at_1'] == pytest.approx(
      numpy_precision(tmp_path / 'model.ckpt-17', cifar_data, 60))
  # The towers' checkpoint is the single-device model's: scored as numpy
  # scores its moving-average weights.
  assert_eval_matches_numpy(cifar_data, tmp_path, 60)

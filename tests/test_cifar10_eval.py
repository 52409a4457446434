"""cifar10.eval: scores checkpoints exactly, and fails clearly."""
import re
import shutil
import signal
import threading

import numpy as np
import pytest
import tensorflow as tf

from cifar10 import data as cifar10_data
from cifar10 import scoring
from conftest import (CHILD_TIMEOUT_SECS, SHORT_RUN_STEPS, damage_checkpoint,
                      numpy_precision, numpy_predictions, read_scalars,
                      run_module, start_module, summary_values)
from tfclassic import summaries

tf1 = tf.compat.v1

PRECISION = re.compile(r': precision @ 1 = (\d\.\d{3})$', re.M)


def evaluate(cifar_data, checkpoint_dir, eval_dir, *args, **kwargs):
  return run_module('cifar10.eval', '--data_dir=%s' % cifar_data,
                    '--checkpoint_dir=%s' % checkpoint_dir,
                    '--eval_dir=%s' % eval_dir, '--batch_size=16', *args,
                    **kwargs)


def logged_precisions(eval_dir):
  return [(step, v.simple_value)
          for step, v in summary_values(eval_dir, 'Precision @ 1')]


@pytest.fixture(scope='module')
def checkpoint(short_run):
  return short_run.checkpoint


@pytest.mark.smoke
@pytest.mark.parametrize('num_examples', [60, 50])
def test_precision_equals_numpy_accuracy_of_average_weights(
    cifar_data, short_run, checkpoint, tmp_path, num_examples):
  result = evaluate(cifar_data, short_run.train_dir, tmp_path, '--run_once',
                    '--num_examples=%d' % num_examples)
  want = numpy_precision(checkpoint, cifar_data, num_examples)
  assert PRECISION.findall(result.stdout) == ['%.3f' % want]
  (step, logged), = logged_precisions(tmp_path)
  assert step == SHORT_RUN_STEPS
  assert logged == pytest.approx(want, abs=1e-6)


def test_confusion_matrix_matches_numpy_predictions(cifar_data, short_run,
                                                    checkpoint, tmp_path):
  result = evaluate(cifar_data, short_run.train_dir, tmp_path, '--run_once',
                    '--num_examples=60', '--confusion')
  labels, predictions = numpy_predictions(checkpoint, cifar_data, 60)
  names = cifar10_data.read_class_names(str(cifar_data))
  rows = [line for line in result.stdout.splitlines()
          if line.split(' |')[0].strip() in names]
  assert len(rows) == 10
  for true_class, row in enumerate(rows):
    counts = [int(n) for n in row.split('|')[1].split()[:10]]
    assert counts == [int(np.sum((labels == true_class) & (predictions == p)))
                      for p in range(10)]
  for name_index in (0, 1):
    (_, recall), = summary_values(tmp_path, 'recall/' + names[name_index])
    in_class = labels == name_index
    assert recall.simple_value == pytest.approx(
        np.mean(predictions[in_class] == name_index) if in_class.any() else 0)
  (_, image), = summary_values(tmp_path, 'confusion_matrix')
  assert image.image.encoded_image_string.startswith(b'\x89PNG')
  assert image.image.width == image.image.height == 160


def test_more_examples_than_the_data_holds_scores_all(cifar_data, short_run,
                                                      checkpoint, tmp_path):
  result = evaluate(cifar_data, short_run.train_dir, tmp_path, '--run_once')
  assert 'The test data holds 60 examples; scoring all of them.' in (
      result.stdout)
  (_, logged), = logged_precisions(tmp_path)
  assert logged == pytest.approx(numpy_precision(checkpoint, cifar_data, 60),
                                 abs=1e-6)


def test_run_once_without_checkpoint_fails_clearly(cifar_data, tmp_path):
  result = evaluate(cifar_data, tmp_path / 'none', tmp_path / 'eval',
                    '--run_once', check=False)
  assert result.returncode == 1
  assert result.stderr.strip().endswith(
      'Error: No checkpoint found in %s. Train first (python -m cifar10.train '
      '--train_dir=%s) or point --checkpoint_dir at a train_dir.'
      % (tmp_path / 'none', tmp_path / 'none'))


def _publish(short_run, step, checkpoint_dir):
  """Puts short_run's checkpoint of `step` into checkpoint_dir and makes it
  the latest, as training does: the files first, then the state file."""
  for path in short_run.train_dir.glob('model.ckpt-%d.*' % step):
    shutil.copy(path, checkpoint_dir)
  tf1.train.update_checkpoint_state(
      str(checkpoint_dir), str(checkpoint_dir / ('model.ckpt-%d' % step)))


def test_without_run_once_scores_each_new_checkpoint_until_ctrl_c(
    cifar_data, short_run, tmp_path):
  checkpoint_dir, eval_dir = tmp_path / 'train', tmp_path / 'eval'
  checkpoint_dir.mkdir()
  process = start_module(
      'cifar10.eval', '--data_dir=%s' % cifar_data,
      '--checkpoint_dir=%s' % checkpoint_dir, '--eval_dir=%s' % eval_dir,
      '--eval_interval_secs=1', '--num_examples=60', '--batch_size=16')
  killer = threading.Timer(CHILD_TIMEOUT_SECS, process.kill)
  killer.start()
  try:
    assert process.stdout.readline() == (
        'No checkpoint in %s yet; looking again every 1 s.\n' % checkpoint_dir)
    for step in (0, SHORT_RUN_STEPS):
      _publish(short_run, step, checkpoint_dir)
      while not PRECISION.search(process.stdout.readline()):
        assert process.poll() is None, process.stderr.read()
    process.send_signal(signal.SIGINT)
    out, err = process.communicate()
  finally:
    killer.cancel()
    if process.poll() is None:
      process.kill()
      process.wait()
  assert process.returncode == 0, err
  assert out.splitlines()[-1] == 'Stopped by SIGINT.'
  assert 'Traceback' not in err
  # Each checkpoint scored once, at its own step, with its own weights.
  assert logged_precisions(eval_dir) == [
      (step, pytest.approx(numpy_precision(
          checkpoint_dir / ('model.ckpt-%d' % step), cifar_data, 60),
          abs=1e-6))
      for step in (0, SHORT_RUN_STEPS)]


@pytest.mark.parametrize('part, damage', [
    ('data', 'truncate'), ('data', 'flip'), ('index', 'truncate')])
def test_a_corrupt_checkpoint_is_one_paragraph_naming_an_intact_one(
    cifar_data, short_run, tmp_path, part, damage):
  broken = tmp_path / 'broken'
  shutil.copytree(short_run.train_dir, broken)
  damage_checkpoint(broken / ('model.ckpt-%d' % SHORT_RUN_STEPS), part,
                    damage)
  result = evaluate(cifar_data, broken, tmp_path / 'eval', '--run_once',
                    check=False)
  assert result.returncode == 1
  error, = result.stderr.strip().splitlines()
  # In the parentheses, TensorFlow's reason, worded as each release words it.
  assert error.startswith('Error: %s/model.ckpt-%d is corrupt or truncated '
                          '(' % (broken, SHORT_RUN_STEPS)), error
  assert error.endswith('. The newest intact one is %s/model.ckpt-0.' % (
      broken)), error


@pytest.mark.smoke
def test_with_the_damaged_checkpoint_deleted_the_intact_one_is_scored(
    cifar_data, short_run, tmp_path):
  # What the corrupt-checkpoint message says to do: the state file still
  # names the deleted one.
  train_dir = tmp_path / 'train'
  shutil.copytree(short_run.train_dir, train_dir)
  for path in train_dir.glob('model.ckpt-%d.*' % SHORT_RUN_STEPS):
    path.unlink()
  state = (train_dir / 'checkpoint').read_text()
  result = evaluate(cifar_data, train_dir, tmp_path / 'eval', '--run_once')
  assert result.stderr == ''
  precision, = PRECISION.findall(result.stdout)
  # Scored at the intact checkpoint's global step.
  assert read_scalars(tmp_path / 'eval')['Precision @ 1'] == [
      (0, pytest.approx(float(precision), abs=5e-4))]
  assert (train_dir / 'checkpoint').read_text() == state


def test_checkpoint_of_another_model_gives_a_clear_error(cifar_data, tmp_path):
  with tf.Graph().as_default(), tf1.Session() as sess:
    tf1.train.get_or_create_global_step()
    tf1.get_variable('conv1/weights', [3])
    sess.run(tf1.global_variables_initializer())
    tf1.train.Saver().save(sess, str(tmp_path / 'model.ckpt'), global_step=7)
  result = evaluate(cifar_data, tmp_path, tmp_path / 'eval', '--run_once',
                    check=False)
  assert result.returncode == 1
  assert ('Error: %s/model.ckpt-7 does not match this model' % tmp_path) in (
      result.stderr)
  assert 'Traceback' not in result.stderr


@pytest.mark.usefixtures('tf_behaviour')
def test_eval_graph_scores_the_average_weights_in_any_tf_program(
    cifar_data, short_run, tmp_path):
  with tf.Graph().as_default():
    graph = scoring.build_eval_graph(str(cifar_data), True, batch_size=16)
    writer = summaries.file_writer(str(tmp_path))
    precision = scoring.eval_once(graph, str(short_run.checkpoint), 50,
                                  writer)
    writer.close()
  assert precision == pytest.approx(
      numpy_precision(short_run.checkpoint, cifar_data, 50), abs=1e-9)


def _constant_model(checkpoint, train_dir, raw_class, average_class):
  """A checkpoint in train_dir like `checkpoint` whose weights are all zero
  but the last biases: its raw weights predict raw_class for every image,
  its moving averages average_class."""
  reader = tf.train.load_checkpoint(str(checkpoint))
  with tf.Graph().as_default():
    saved = {}
    for name in reader.get_variable_to_shape_map():
      value = reader.get_tensor(name)
      if name.startswith(('conv', 'local', 'softmax_linear')):
        value = np.zeros_like(value)
        if name.startswith('softmax_linear/biases'):
          value[average_class if name.endswith('ExponentialMovingAverage')
                else raw_class] = 1
      saved[name] = tf1.Variable(value, name=name.replace('/', '_'))
    saver = tf1.train.Saver(saved)
    with tf1.Session() as sess:
      sess.run(tf1.global_variables_initializer())
      return saver.save(sess, str(train_dir / 'model.ckpt'),
                        global_step=SHORT_RUN_STEPS)


def test_raw_weights_are_scored_with_nomoving_average(cifar_data, checkpoint,
                                                      tmp_path):
  labels, _ = numpy_predictions(checkpoint, cifar_data, 60)
  counts = np.bincount(labels)
  commonest, rarest = counts.argmax(), counts.argmin()
  assert counts[commonest] != counts[rarest]
  model = _constant_model(checkpoint, tmp_path, commonest, rarest)
  averaged = numpy_precision(model, cifar_data, 60)
  raw = numpy_precision(model, cifar_data, 60, moving_average=False)
  assert (averaged, raw) == (counts[rarest] / 60, counts[commonest] / 60)
  for flags_, want in (([], averaged), (['--nomoving_average'], raw)):
    result = evaluate(cifar_data, tmp_path, tmp_path / str(want), '--run_once',
                      '--num_examples=60', *flags_)
    assert PRECISION.findall(result.stdout) == ['%.3f' % want]

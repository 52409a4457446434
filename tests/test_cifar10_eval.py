"""cifar10.eval: scores checkpoints exactly, and fails clearly."""
import glob
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from cifar10 import input as cifar10_input
from conftest import PROJECT_ROOT, QUICK_TRAIN_FLAGS, run_module
from numpy_model import eval_preprocess, logits as np_logits

tf1 = tf.compat.v1

WEIGHTS = ['conv1/weights', 'conv1/biases', 'conv2/weights', 'conv2/biases',
           'local3/weights', 'local3/biases', 'local4/weights',
           'local4/biases', 'softmax_linear/weights', 'softmax_linear/biases']


@pytest.fixture(scope='module')
def train_dir(cifar_data, tmp_path_factory):
  train_dir = tmp_path_factory.mktemp('eval_train')
  run_module('cifar10.train', '--data_dir=%s' % cifar_data,
             '--train_dir=%s' % train_dir, '--max_steps=25',
             *QUICK_TRAIN_FLAGS)
  return train_dir


def evaluate(cifar_data, checkpoint_dir, eval_dir, *args, **kwargs):
  return run_module('cifar10.eval', '--data_dir=%s' % cifar_data,
                    '--checkpoint_dir=%s' % checkpoint_dir,
                    '--eval_dir=%s' % eval_dir, '--batch_size=16', *args,
                    **kwargs)


def numpy_predictions(checkpoint, data_dir, num_examples):
  """Labels and predictions of the checkpoint's moving-average weights."""
  reader = tf.train.load_checkpoint(checkpoint)
  weights = {name: reader.get_tensor(name + '/ExponentialMovingAverage')
             for name in WEIGHTS}
  test_file = cifar10_input.data_files(str(data_dir), eval_data=True)
  images, labels = cifar10_input.Cifar10Reader(test_file).batch(
      range(num_examples))
  return labels, np_logits(eval_preprocess(images), weights).argmax(1)


def numpy_precision(checkpoint, data_dir, num_examples):
  """Accuracy of the checkpoint's moving-average weights, in numpy."""
  labels, predictions = numpy_predictions(checkpoint, data_dir, num_examples)
  return np.mean(predictions == labels)


def logged_values(eval_dir, tag):
  values = []
  for path in sorted(glob.glob(str(eval_dir / 'events.out.tfevents.*'))):
    for event in tf1.train.summary_iterator(path):
      values += [(event.step, v) for v in event.summary.value if v.tag == tag]
  return values


def logged_precisions(eval_dir):
  return [(step, v.simple_value)
          for step, v in logged_values(eval_dir, 'Precision @ 1')]


@pytest.mark.parametrize('num_examples', [60, 50])
def test_precision_equals_numpy_accuracy_of_average_weights(
    cifar_data, train_dir, tmp_path, num_examples):
  result = evaluate(cifar_data, train_dir, tmp_path, '--run_once',
                    '--num_examples=%d' % num_examples)
  want = numpy_precision(str(train_dir / 'model.ckpt-25'), cifar_data,
                         num_examples)
  printed = re.findall(r': precision @ 1 = (\d\.\d{3})$', result.stdout, re.M)
  assert printed == ['%.3f' % want]
  (step, logged), = logged_precisions(tmp_path)
  assert step == 25
  assert logged == pytest.approx(want, abs=1e-6)


def test_confusion_matrix_matches_numpy_predictions(cifar_data, train_dir,
                                                    tmp_path):
  result = evaluate(cifar_data, train_dir, tmp_path, '--run_once',
                    '--num_examples=60', '--confusion')
  labels, predictions = numpy_predictions(
      str(train_dir / 'model.ckpt-25'), cifar_data, 60)
  names = cifar10_input.read_class_names(str(cifar_data))
  rows = [line for line in result.stdout.splitlines()
          if line.split(' |')[0].strip() in names]
  assert len(rows) == 10
  for true_class, row in enumerate(rows):
    counts = [int(n) for n in row.split('|')[1].split()[:10]]
    assert counts == [int(np.sum((labels == true_class) & (predictions == p)))
                      for p in range(10)]
  for name_index in (0, 1):
    (_, recall), = logged_values(tmp_path, 'recall/' + names[name_index])
    in_class = labels == name_index
    assert recall.simple_value == pytest.approx(
        np.mean(predictions[in_class] == name_index) if in_class.any() else 0)
  (_, image), = logged_values(tmp_path, 'confusion_matrix')
  assert image.image.encoded_image_string.startswith(b'\x89PNG')
  assert image.image.width == image.image.height == 160


def test_more_examples_than_the_data_holds_scores_all(cifar_data, train_dir,
                                                      tmp_path):
  result = evaluate(cifar_data, train_dir, tmp_path, '--run_once')
  assert 'The test data holds 60 examples; scoring all of them.' in (
      result.stdout)
  (_, logged), = logged_precisions(tmp_path)
  want = numpy_precision(str(train_dir / 'model.ckpt-25'), cifar_data, 60)
  assert logged == pytest.approx(want, abs=1e-6)


def test_run_once_without_checkpoint_fails_clearly(cifar_data, tmp_path):
  result = evaluate(cifar_data, tmp_path / 'none', tmp_path / 'eval',
                    '--run_once', check=False)
  assert result.returncode == 1
  assert result.stderr.strip().endswith(
      'Error: No checkpoint found in %s. Train first (python -m cifar10.train '
      '--train_dir=%s) or point --checkpoint_dir at a train_dir.'
      % (tmp_path / 'none', tmp_path / 'none'))


def test_without_run_once_waits_for_a_checkpoint(cifar_data, tmp_path):
  process = subprocess.Popen(
      [sys.executable, '-m', 'cifar10.eval', '--data_dir=%s' % cifar_data,
       '--checkpoint_dir=%s' % tmp_path, '--eval_dir=%s' % tmp_path,
       '--eval_interval_secs=1', '--num_examples=60'],
      cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
      text=True)
  try:
    line = process.stdout.readline()
    assert line == 'No checkpoint in %s yet; looking again every 1 s.\n' % (
        tmp_path)
    assert process.poll() is None
  finally:
    process.kill()
    process.wait()


def test_corrupt_checkpoint_gives_a_clear_error(cifar_data, train_dir,
                                                tmp_path):
  broken = tmp_path / 'broken'
  shutil.copytree(train_dir, broken)
  for data in glob.glob(str(broken / 'model.ckpt-25.data-*')):
    with open(data, 'r+b') as f:
      f.truncate(os.path.getsize(data) // 2)
  result = evaluate(cifar_data, broken, tmp_path / 'eval', '--run_once',
                    check=False)
  assert result.returncode == 1
  assert 'Error: %s/model.ckpt-25 is corrupt or truncated' % broken in (
      result.stderr)
  assert 'Traceback' not in result.stderr


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

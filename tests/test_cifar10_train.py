"""cifar10.train and cifar10.training: the binary as users run it, resume,
feed input, Ctrl-C and NaN handling."""
import glob
import re
import shutil
import signal
import subprocess
import sys

import pytest
import tensorflow as tf
from absl import flags
from absl.testing import flagsaver

from cifar10 import runtime
from cifar10 import training
from conftest import PROJECT_ROOT, QUICK_TRAIN_FLAGS, run_module

tf1 = tf.compat.v1

LOG_LINE = re.compile(r'^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: step (\d+), '
                      r'loss = \d+\.\d\d \(\d+\.\d examples/sec; '
                      r'\d+\.\d{3} sec/batch\), ETA \d+:\d\d:\d\d$', re.M)


def checkpoint_steps(train_dir) -> list[int]:
  return sorted(int(re.search(r'ckpt-(\d+)\.index$', p).group(1))
                for p in glob.glob(str(train_dir / 'model.ckpt-*.index')))


def train(data_dir, train_dir, *args, **kwargs):
  return run_module('cifar10.train', '--data_dir=%s' % data_dir,
                    '--train_dir=%s' % train_dir, *QUICK_TRAIN_FLAGS, *args,
                    **kwargs)


@pytest.fixture(scope='module')
def trained(cifar_data, tmp_path_factory):
  """A train_dir after 20 steps on the tiny dataset, and the run's output."""
  train_dir = tmp_path_factory.mktemp('trained')
  result = train(cifar_data, train_dir, '--max_steps=20')
  return train_dir, result


def test_train_logs_and_writes_checkpoints_and_summaries(trained):
  train_dir, result = trained
  assert [int(s) for s in LOG_LINE.findall(result.stdout)] == [5, 10, 15]
  assert checkpoint_steps(train_dir) == [0, 20]
  tags = set()
  for path in glob.glob(str(train_dir / 'events.out.tfevents.*')):
    for event in tf1.train.summary_iterator(path):
      tags.update(value.tag for value in event.summary.value)
  assert {'total_loss', 'total_loss_raw', 'learning_rate',
          'conv1/weights'} <= tags
  assert result.stderr.count('\n') < 5, result.stderr


def test_resume_continues_the_global_step(trained, tmp_path, cifar_data):
  train_dir = tmp_path / 'train'
  shutil.copytree(trained[0], train_dir)
  result = train(cifar_data, train_dir, '--max_steps=30')
  assert 'Resuming from %s/model.ckpt-20' % train_dir in result.stdout
  assert [int(s) for s in LOG_LINE.findall(result.stdout)] == [25]
  assert checkpoint_steps(train_dir)[-1] == 30
  result = train(cifar_data, train_dir, '--max_steps=30')
  assert 'already at step 30 (--max_steps=30): nothing to do' in result.stdout
  result = train(cifar_data, train_dir, '--max_steps=5', '--fresh')
  assert checkpoint_steps(train_dir) == [0, 5]


def test_feed_input_trains_with_batch_size_one(cifar_data, tmp_path):
  result = train(cifar_data, tmp_path, '--input=feed', '--batch_size=1',
                 '--max_steps=12')
  assert [int(s) for s in LOG_LINE.findall(result.stdout)] == [5, 10]
  assert checkpoint_steps(tmp_path)[-1] == 12


def test_ctrl_c_stops_cleanly_with_a_checkpoint(cifar_data, tmp_path):
  process = subprocess.Popen(
      [sys.executable, '-m', 'cifar10.train', '--data_dir=%s' % cifar_data,
       '--train_dir=%s' % tmp_path, *QUICK_TRAIN_FLAGS],
      cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
      text=True)
  lines = []
  for line in process.stdout:
    lines.append(line)
    if LOG_LINE.match(line.strip()):
      break
  process.send_signal(signal.SIGINT)
  out, err = process.communicate(timeout=60)
  assert process.returncode == 0, err
  assert 'SIGINT received: stopping after this step' in out
  saved = checkpoint_steps(tmp_path)[-1]
  assert saved >= 5
  assert 'Stopped by SIGINT; saved %s/model.ckpt-%d.' % (tmp_path, saved) in out
  assert 'Traceback' not in err


def test_nan_loss_stops_with_a_message_and_keeps_the_last_checkpoint(
    tmp_path):
  flags.FLAGS.mark_as_parsed()
  with flagsaver.flagsaver(train_dir=str(tmp_path), max_steps=100,
                           save_checkpoint_secs=0, log_frequency=1):
    with tf.Graph().as_default():
      global_step = tf1.train.get_or_create_global_step()
      weight = tf1.get_variable('weight', initializer=1.0)
      loss = tf.math.log(weight)  # NaN once the weight turns negative
      with tf.control_dependencies([loss]):
        train_op = tf.group(weight.assign_sub(2.0),
                            global_step.assign_add(1))
      with pytest.raises(runtime.UserError) as error:
        training.run_training(train_op, loss, examples_per_step=1)
  # Step 0 saw loss 0 and was saved as checkpoint 1; step 1 saw NaN, which
  # stopped training before the checkpoint hook could save step 2.
  assert checkpoint_steps(tmp_path) == [0, 1]
  assert str(error.value).startswith(
      'Model diverged with loss = NaN. The last checkpoint, %s/model.ckpt-1, '
      'was written before the loss diverged and is kept.' % tmp_path)


def test_help_documents_every_flag():
  result = run_module('cifar10.train', '--help', check=False)
  for flag in ('data_dir', 'train_dir', 'max_steps', 'batch_size',
               'log_frequency', 'log_device_placement', 'use_fp16', 'input',
               'fresh', 'num_preprocess_threads', 'min_queue_fraction'):
    assert re.search(r'--(\[no\])?%s: ' % flag, result.stdout), flag

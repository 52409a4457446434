"""cifar10.train: the binary as users run it, resume, feed input, Ctrl-C and
NaN handling."""
import json
import re
import signal
import shutil

import pytest
import tensorflow as tf

from conftest import (CIFAR10_SEED_FLAG, QUICK_TRAIN_FLAGS, SHORT_RUN_STEPS,
                      assert_stopped_by_a_full_disk, checkpoint_steps,
                      damage_checkpoint, interrupt_when, latest_step,
                      read_scalars, run_module, summary_tags)
from tfclassic import errors
from tfclassic import evaluation
from tfclassic import training

tf1 = tf.compat.v1

LOG_LINE = re.compile(r'^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: step (\d+), '
                      r'loss = \d+\.\d\d \(\d+\.\d examples/sec; '
                      r'\d+\.\d{3} sec/batch\), ETA \d+:\d\d:\d\d$', re.M)


def train(data_dir, train_dir, *args, **kwargs):
  return run_module('cifar10.train', '--data_dir=%s' % data_dir,
                    '--train_dir=%s' % train_dir, *QUICK_TRAIN_FLAGS,
                    CIFAR10_SEED_FLAG, *args, **kwargs)


def logged_steps(output: str) -> list[int]:
  return [int(s) for s in LOG_LINE.findall(output)]


@pytest.mark.smoke
def test_train_logs_and_writes_checkpoints_and_summaries(short_run):
  assert logged_steps(short_run.train.stdout) == [5, 10]
  assert checkpoint_steps(short_run.train_dir) == [0, SHORT_RUN_STEPS]
  assert {'total_loss', 'total_loss_raw', 'learning_rate',
          'conv1/weights'} <= summary_tags(short_run.train_dir)
  # Not even XLA's first-use lines, which TF before 2.21 printed here.
  assert short_run.train.stderr == ''


@pytest.mark.smoke
def test_resume_continues_the_global_step(short_run, tmp_path, cifar_data):
  train_dir = tmp_path / 'train'
  shutil.copytree(short_run.train_dir, train_dir)
  result = train(cifar_data, train_dir, '--max_steps=22')
  assert 'Resuming from %s/model.ckpt-12' % train_dir in result.stdout
  assert logged_steps(result.stdout) == [15, 20]
  assert checkpoint_steps(train_dir)[-1] == 22
  result = train(cifar_data, train_dir, '--max_steps=22')
  assert 'already at step 22 (--max_steps=22): nothing to do' in result.stdout
  result = train(cifar_data, train_dir, '--max_steps=5', '--fresh')
  assert checkpoint_steps(train_dir) == [0, 5]


def test_feed_input_trains_with_batch_size_one(cifar_data, tmp_path):
  result = train(cifar_data, tmp_path, '--input=feed', '--batch_size=1',
                 '--max_steps=12')
  assert logged_steps(result.stdout) == [5, 10]
  assert checkpoint_steps(tmp_path)[-1] == 12


def test_nan_loss_stops_with_a_message_and_keeps_the_last_checkpoint(
    tmp_path):
  config = training.TrainConfig(train_dir=str(tmp_path), max_steps=100,
                                save_checkpoint_secs=0, log_frequency=1)
  with tf.Graph().as_default():
    global_step = tf1.train.get_or_create_global_step()
    weight = tf1.get_variable('weight', initializer=1.0)
    loss = tf.math.log(weight)  # NaN once the weight turns negative
    with tf.control_dependencies([loss]):
      train_op = tf.group(weight.assign_sub(2.0), global_step.assign_add(1))
    with pytest.raises(errors.UserError) as error:
      training.run_training(train_op, loss, 1, config,
                            nan_advice=' or drop --use_fp16')
  # Step 0 saw loss 0 and was saved as checkpoint 1; step 1 saw NaN, which
  # stopped training before the checkpoint hook could save step 2.
  assert checkpoint_steps(tmp_path) == [0, 1]
  assert str(error.value).startswith(
      'Model diverged with loss = NaN. The last checkpoint, %s/model.ckpt-1, '
      'was written before the loss diverged and is kept.' % tmp_path)
  assert 'or drop --use_fp16' in str(error.value)


def test_help_documents_every_flag():
  result = run_module('cifar10.train', '--help', check=False)
  for flag in ('data_dir', 'train_dir', 'max_steps', 'batch_size',
               'log_frequency', 'log_device_placement', 'use_fp16', 'input',
               'fresh', 'num_preprocess_threads', 'min_queue_fraction',
               'seed', 'save_checkpoint_secs', 'save_summaries_steps', 'lrn',
               'precision', 'intra_op_threads', 'inter_op_threads'):
    assert re.search(r'--(\[no\])?%s: ' % flag, result.stdout), flag
  # The knobs, each with the tutorial's value as its default.
  for flag, default in (('initial_learning_rate', '0.1'),
                        ('num_epochs_per_decay', '350.0'),
                        ('learning_rate_decay_factor', '0.1'),
                        ('moving_average_decay', '0.9999'),
                        ('weight_decay', '0.004'), ('momentum', '0.0')):
    assert re.search(r"--%s: (?:(?!\n  --).)*?\(default: '%s'\)" % (
        flag, default), result.stdout, re.S), flag


def test_default_flags_write_the_tutorials_checkpoint_layout(short_run):
  # The variables of the original tutorial's training graph, and no other.
  from test_cifar10_model import TUTORIAL_LAYOUT  # noqa
  assert {name: list(shape) for name, shape in tf.train.load_checkpoint(
      str(short_run.checkpoint)).get_variable_to_shape_map().items()
          } == TUTORIAL_LAYOUT


def test_knobs_train_are_recorded_shown_and_a_change_is_named(cifar_data,
                                                              tmp_path):
  knobs = ['--initial_learning_rate=0.05', '--momentum=0.9',
           '--num_epochs_per_decay=0.001', '--learning_rate_decay_factor=0.5']
  train(cifar_data, tmp_path, '--max_steps=3', '--save_summaries_steps=1',
        *knobs)
  saved = tf.train.load_checkpoint(str(tmp_path / 'model.ckpt-3'))
  assert saved.has_tensor('conv1/weights/Momentum')
  # 50 examples (0.001 epochs) per decay: batches of 32 halve it every
  # step. (The summary of the step from global step N is written at N + 1.)
  rates = dict(read_scalars(tmp_path)['learning_rate'])
  assert rates[1] == pytest.approx(0.05)
  assert rates[3] == pytest.approx(0.05 * 0.5 ** 2)
  settings = json.loads((tmp_path / 'settings.json').read_text())
  assert settings == {'initial_learning_rate': 0.05,
                      'num_epochs_per_decay': 0.001,
                      'learning_rate_decay_factor': 0.5,
                      'moving_average_decay': 0.9999, 'weight_decay': 0.004,
                      'momentum': 0.9, 'trainable_scopes': '',
                      'batch_size': 32}
  assert 'settings/text_summary' in summary_tags(tmp_path)
  resumed = train(cifar_data, tmp_path, '--max_steps=4', *knobs[1:],
                  '--initial_learning_rate=0.02')
  assert ('This run changes settings of the run it resumes (%s/settings.json)'
          ': --initial_learning_rate=0.02 (was 0.05).' % tmp_path
          in resumed.stdout)


def test_keep_best_without_evaluations_is_refused(tmp_path):
  result = run_module('cifar10.train', '--keep_best',
                      '--train_dir=%s' % tmp_path, check=False)
  assert result.returncode == 1
  assert ('--keep_best and --stop_at_precision act on the evaluations of '
          '--eval_every_steps: add it' in result.stderr)


def test_bf16_with_fp16_is_refused_before_anything_runs(tmp_path):
  result = run_module('cifar10.train', '--precision=bf16', '--use_fp16',
                      '--train_dir=%s' % tmp_path, check=False)
  assert result.returncode == 1
  assert ('--precision=bf16 and --use_fp16 exclude each other' in
          result.stderr)
  assert not list(tmp_path.iterdir())


def test_unexpected_arguments_are_refused(tmp_path):
  result = run_module('cifar10.train', 'max_steps=10',
                      '--train_dir=%s' % tmp_path, check=False)
  assert result.returncode == 1
  assert 'unexpected arguments: max_steps=10' in result.stderr


def test_a_trainer_killed_with_sigkill_leaves_nothing_that_blocks(
    cifar_data, tmp_path):
  args = ['--data_dir=%s' % cifar_data, '--train_dir=%s' % tmp_path,
          *QUICK_TRAIN_FLAGS, CIFAR10_SEED_FLAG]
  code, _, _, _ = interrupt_when('cifar10.train', *args, '--max_steps=100000',
                                 pattern=r'step \d+, loss',
                                 signum=signal.SIGKILL)
  assert code == -signal.SIGKILL
  # Its lock file stays behind, naming a process that is gone.
  assert (tmp_path / '.lock').read_text().split()[0].isdigit()
  saved = latest_step(tmp_path)
  resumed = run_module('cifar10.train', *args, '--max_steps=%d' % (saved + 2))
  assert 'Resuming from' in resumed.stdout
  assert latest_step(tmp_path) == saved + 2


def test_a_corrupt_latest_checkpoint_is_not_resumed(short_run, cifar_data,
                                                    tmp_path):
  shutil.copytree(short_run.train_dir, tmp_path, dirs_exist_ok=True)
  broken = tmp_path / ('model.ckpt-%d' % SHORT_RUN_STEPS)
  damage_checkpoint(broken, 'data', 'flip')
  args = ['--data_dir=%s' % cifar_data, '--train_dir=%s' % tmp_path,
          *QUICK_TRAIN_FLAGS, CIFAR10_SEED_FLAG]
  refused = run_module('cifar10.train', *args, '--max_steps=20', check=False)
  assert refused.returncode == 1
  error, = refused.stderr.strip().splitlines()
  assert error.startswith('Error: %s is corrupt or truncated (' % broken)
  assert error.endswith(
      'To resume from %s/model.ckpt-0, the newest intact one, delete the '
      'damaged one\'s files (%s.*) and run again; or pass --fresh to start '
      'over.' % (tmp_path, broken)), error
  # As the message says: without the damaged files, it resumes from step 0.
  for path in tmp_path.glob(broken.name + '.*'):
    path.unlink()
  resumed = run_module('cifar10.train', *args, '--max_steps=3')
  assert ('latest checkpoint, %s, is gone; its newest is now %s/model.ckpt-0.'
          % (broken, tmp_path)) in resumed.stdout
  assert 'Resuming from %s/model.ckpt-0.' % tmp_path in resumed.stdout
  assert latest_step(tmp_path) == 3


def test_a_full_disk_while_saving_is_one_paragraph_and_then_resumes(
    cifar_data, small_filesystem):
  # 12 MB hold the first checkpoint (8.5 MB) but not a second.
  train_dir = small_filesystem.path / 'train'
  args = ['--data_dir=%s' % cifar_data, '--train_dir=%s' % train_dir,
          '--max_steps=5', *QUICK_TRAIN_FLAGS, CIFAR10_SEED_FLAG]
  full = run_module('cifar10.train', *args, check=False)
  assert_stopped_by_a_full_disk(full, train_dir)
  small_filesystem.resize(40)
  resumed = run_module('cifar10.train', *args)
  assert 'Resuming from %s/model.ckpt-0.' % train_dir in resumed.stdout
  assert latest_step(train_dir) == 5


PRECISION_LINE = re.compile(r'^\d{4}-\d\d-\d\d [\d:.]+: step (\d+), '
                            r'precision @ 1 = (\d\.\d{3})$', re.M)


def test_in_training_evaluation_scores_as_eval_does_and_resumes(
    cifar_data, tmp_path):
  train_dir, eval_dir = tmp_path / 'train', tmp_path / 'eval'
  args = ['--eval_every_steps=3', '--eval_dir=%s' % eval_dir]
  first = train(cifar_data, train_dir, '--max_steps=7', *args)
  # Every 3 steps, and at the end although 7 is not a multiple of 3.
  assert [int(s) for s, _ in PRECISION_LINE.findall(first.stdout)] == [
      3, 6, 7]
  records = evaluation.read_records(str(train_dir))
  assert [r['global_step'] for r in records] == [3, 6, 7]
  # The whole test file, exactly: 60 records in batches of 32.
  assert {r['examples'] for r in records} == {60}
  in_training = read_scalars(eval_dir)['Precision @ 1']
  assert [step for step, _ in in_training] == [3, 6, 7]
  assert [round(r['precision_at_1'], 6) for r in records] == [
      round(p, 6) for _, p in in_training]

  separate_dir = tmp_path / 'separate_eval'
  run_module('cifar10.eval', '--data_dir=%s' % cifar_data,
             '--checkpoint_dir=%s' % train_dir,
             '--eval_dir=%s' % separate_dir, '--run_once', '--batch_size=32')
  separate = read_scalars(separate_dir)['Precision @ 1']
  assert separate == [in_training[-1]]
  assert round(separate[0][1] * 60) == round(records[-1]['precision_at_1']
                                              * 60)

  resumed = train(cifar_data, train_dir, '--max_steps=9', *args)
  assert 'Resuming from' in resumed.stdout
  assert [int(s) for s, _ in PRECISION_LINE.findall(resumed.stdout)] == [9]
  assert [r['global_step'] for r in evaluation.read_records(
      str(train_dir))] == [3, 6, 7, 9]
  again = train(cifar_data, train_dir, '--max_steps=9', *args)
  assert 'nothing to do' in again.stdout
  assert not PRECISION_LINE.search(again.stdout)


def test_trace_steps_write_a_chrome_trace_of_those_steps_only(
    cifar_data, tmp_path, short_run):
  result = train(cifar_data, tmp_path, '--max_steps=4', '--trace_steps=2')
  assert sorted(p.name for p in tmp_path.glob('timeline-*')) == [
      'timeline-2.json']
  assert ('Wrote the trace of step 2 to %s/timeline-2.json' % tmp_path
          in result.stdout)
  events = json.loads((tmp_path / 'timeline-2.json').read_text())[
      'traceEvents']
  ops = [e for e in events if e['ph'] == 'X']
  assert all(e['dur'] >= 0 and e['ts'] > 0 for e in ops)
  for layer in ('conv1/', 'conv2/', 'local3/', 'local4/', 'softmax_linear/'):
    assert any(e['args']['name'].startswith(layer) for e in ops), layer
  # The gradients and the update ran in the traced step.
  assert any('ApplyGradientDescent' in e['args']['op'] for e in ops)
  # Runs without --trace_steps write none.
  assert not list(short_run.train_dir.glob('timeline-*'))

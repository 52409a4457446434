"""--deterministic: runs of one seed repeat exactly, and a run killed and
resumed ends where an uninterrupted one does (checked by
scripts/compare_checkpoints.py on real checkpoints)."""
import signal
import subprocess
import time

import numpy as np
import pytest
import tensorflow as tf

from conftest import checkpoint_steps, interrupt_when, run_module

DETERMINISTIC = ['--seed=1', '--deterministic']
CIFAR10_FLAGS = ['--batch_size=16', '--min_queue_fraction=0.002',
                 '--log_frequency=2', '--save_summaries_steps=4',
                 *DETERMINISTIC]
MNIST_FLAGS = ['--batch_size=10', '--validation_size=10',
               '--checkpoint_every=4', '--log_frequency=2', *DETERMINISTIC]
# Steps of the runs compared: enough for a checkpoint mid-way.
STEPS = 24
# How long a killed run may take to write a checkpoint past step 0.
CHECKPOINT_WAIT_SECS = 60


def compare(first, second) -> subprocess.CompletedProcess:
  return run_module('scripts.compare_checkpoints', str(first), str(second),
                    check=False)


def assert_identical(first, second) -> None:
  result = compare(first, second)
  assert result.returncode == 0, result.stdout + result.stderr
  assert result.stdout.endswith(': identical\n'), result.stdout


def timeless_summaries(train_dir) -> list[tuple[int, str, bytes]]:
  """Every summary value written (scalars, histograms, images, text), but
  those measuring how full a queue was, which depends on how fast its
  reader ran."""
  values = []
  for path in sorted(train_dir.glob('events.out.tfevents.*')):
    for event in tf.compat.v1.train.summary_iterator(str(path)):
      values += [(event.step, value.tag, value.SerializeToString())
                 for value in event.summary.value
                 if '/fraction_of_' not in value.tag]
  return sorted(values)


def _wait_for_a_checkpoint_past_zero(train_dir):
  def wait(pid):
    deadline = time.time() + CHECKPOINT_WAIT_SECS
    while not [s for s in checkpoint_steps(train_dir) if s > 0]:
      assert time.time() < deadline, 'no checkpoint past step 0'
      time.sleep(0.05)
  return wait


def kill_and_resume(module: str, *args: str, train_dir, pattern: str) -> int:
  """Runs module, kills it (SIGKILL) once it printed `pattern` and holds a
  checkpoint past step 0, then runs it again to the end. Returns the step
  the second run resumed from."""
  code, out, err, _ = interrupt_when(
      module, *args, pattern=pattern, signum=signal.SIGKILL,
      while_running=_wait_for_a_checkpoint_past_zero(train_dir))
  assert code == -signal.SIGKILL, out + err
  resumed_from = max(checkpoint_steps(train_dir))
  assert 0 < resumed_from < STEPS
  result = run_module(module, *args)
  assert 'Resuming from %s/model.ckpt-%d.' % (train_dir, resumed_from) in (
      result.stdout)
  return resumed_from


@pytest.mark.parametrize('input_kind', ['queue', 'feed'])
def test_cifar10_runs_repeat_and_a_killed_run_resumes_exactly(
    cifar_data, tmp_path, input_kind):
  common = ['--data_dir=%s' % cifar_data, '--input=%s' % input_kind,
            '--max_steps=%d' % STEPS, '--save_checkpoint_secs=1',
            *CIFAR10_FLAGS]
  straight = [tmp_path / name for name in ('first', 'second')]
  for train_dir in straight:
    run_module('cifar10.train', *common, '--train_dir=%s' % train_dir)
  assert_identical(*straight)
  assert timeless_summaries(straight[0]) == timeless_summaries(straight[1])
  killed = tmp_path / 'killed'
  kill_and_resume('cifar10.train', *common, '--train_dir=%s' % killed,
                  train_dir=killed, pattern=r'step 6,')
  assert_identical(straight[0], killed)


def test_two_towers_repeat_exactly(cifar_data, tmp_path):
  runs = [tmp_path / name for name in ('first', 'second')]
  for train_dir in runs:
    run_module('cifar10.multi_gpu_train', '--data_dir=%s' % cifar_data,
               '--num_gpus=2', '--max_steps=6', '--train_dir=%s' % train_dir,
               *CIFAR10_FLAGS)
  assert_identical(*runs)


def test_mnist_deep_resumes_exactly_after_a_kill(mnist_data, tmp_path):
  common = ['--data_dir=%s' % mnist_data, '--model=deep',
            '--max_steps=%d' % STEPS, *MNIST_FLAGS]
  straight, killed = tmp_path / 'straight', tmp_path / 'killed'
  run_module('mnist.train', *common, '--train_dir=%s' % straight)
  kill_and_resume('mnist.train', *common, '--train_dir=%s' % killed,
                  train_dir=killed, pattern=r'step 6,')
  assert_identical(straight, killed)


@pytest.mark.parametrize('module, flags', [
    ('mnist.train', ['--model=scratch', '--max_steps=40',
                     '--batch_size=10']),
    ('linear.train', ['--max_steps=40']),
])
def test_other_models_repeat_exactly(module, flags, mnist_data, tmp_path):
  runs = [tmp_path / name for name in ('first', 'second')]
  for train_dir in runs:
    run_module(module, '--data_dir=%s' % mnist_data if module.startswith(
        'mnist') else '--log_frequency=10', *flags,
               '--train_dir=%s' % train_dir, *DETERMINISTIC)
  if module == 'mnist.train':
    assert (runs[0] / 'two_layer_net.npz').read_bytes() == (
        runs[1] / 'two_layer_net.npz').read_bytes()
  else:
    assert_identical(*runs)


def test_compare_checkpoints_names_what_differs(tmp_path):
  runs = {}
  for seed in (1, 2):
    runs[seed] = tmp_path / str(seed)
    run_module('linear.train', '--max_steps=5', '--seed=%d' % seed,
               '--train_dir=%s' % runs[seed], '--learning_rate=%g' % (
                   0.01 * seed))
  result = compare(runs[1], runs[2])
  assert result.returncode == 1
  lines = dict(line.split(None, 1) for line in result.stdout.splitlines()[:-1])
  for name in ('W', 'b'):
    expected = np.max(np.abs(
        tf.train.load_variable(str(runs[1]), name).astype(np.float64) -
        tf.train.load_variable(str(runs[2]), name)))
    assert lines[name] == 'differs by up to %.6g' % expected
  assert lines['global_step'] == 'identical'
  assert result.stdout.endswith('2 of 3 variables differ\n')
  missing = compare(runs[1], tmp_path / 'nothing_here')
  assert missing.returncode == 2
  assert 'is neither a checkpoint' in missing.stderr


def test_deterministic_needs_a_seed(cifar_data, tmp_path):
  result = run_module('cifar10.train', '--data_dir=%s' % cifar_data,
                      '--train_dir=%s' % tmp_path, '--deterministic',
                      check=False)
  assert result.returncode == 1
  assert '--deterministic repeats the run of one seed: give --seed too' in (
      result.stderr)

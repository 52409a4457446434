"""Every training binary, as users run it, through the shared behaviours:
a second trainer on a train_dir in use is refused, Ctrl-C saves and exits
within seconds, a second run resumes, --fresh starts over, and the log line
has an ETA. (The NaN guard is tested in
test_tfclassic_training.py and, through binaries whose learning rate can
diverge, in test_mnist_train.py and test_linear.py.)"""
import contextlib
import re
import subprocess

import pytest
import tensorflow as tf

from conftest import (QUICK_TRAIN_FLAGS, free_ports, interrupt_when,
                      run_module, start_module)

tf1 = tf.compat.v1

LOG_LINE = re.compile(r'step (\d+), loss = \S+ \(\S+ examples/sec; '
                      r'\S+ sec/batch\), ETA (?:\d+ days?, )?\d+:\d\d:\d\d$',
                      re.M)
# Far beyond what a test runs: training only ends by the signal.
ENDLESS = '--max_steps=1000000'
# Seconds from Ctrl-C to the process's exit, checkpoint written.
STOP_WITHIN_SECS = 10

# The tiny MNIST has 300 training examples, fewer than the tutorial holds out.
MNIST_QUICK_FLAGS = ['--log_frequency=5', '--validation_size=100']

CASES = {
    'cifar10.train': ('cifar10.train', 'cifar', [*QUICK_TRAIN_FLAGS]),
    'cifar10.train feed': ('cifar10.train', 'cifar',
                           [*QUICK_TRAIN_FLAGS, '--input=feed']),
    'cifar10.multi_gpu_train': ('cifar10.multi_gpu_train', 'cifar',
                                [*QUICK_TRAIN_FLAGS, '--num_gpus=2']),
    'cifar10.dist_train': ('cifar10.dist_train', 'cifar',
                           [*QUICK_TRAIN_FLAGS]),
    'mnist softmax': ('mnist.train', 'mnist',
                      ['--model=softmax', *MNIST_QUICK_FLAGS]),
    'mnist deep': ('mnist.train', 'mnist',
                   ['--model=deep', *MNIST_QUICK_FLAGS, '--batch_size=20']),
    'mnist mlp': ('mnist.train', 'mnist', ['--model=mlp', *MNIST_QUICK_FLAGS]),
    'linear.train': ('linear.train', None, ['--log_frequency=5']),
}

@contextlib.contextmanager
def _cluster_flags(module):
  """For dist_train: a parameter server for one worker, and the flags that
  make that worker its chief. Nothing for the other binaries."""
  if module != 'cifar10.dist_train':
    yield []
    return
  ps_port, worker_port = free_ports(2)
  cluster = ['--ps_hosts=127.0.0.1:%d' % ps_port,
             '--worker_hosts=127.0.0.1:%d' % worker_port]
  ps = start_module(module, '--job_name=ps', '--task_index=0', *cluster,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  try:
    yield cluster + ['--job_name=worker', '--task_index=0']
  finally:
    ps.kill()
    ps.wait()


def _args(case, data, train_dir, *extra):
  module, dataset, flags = CASES[case]
  data_flag = ['--data_dir=%s' % data[dataset]] if dataset else []
  return module, [*data_flag, '--train_dir=%s' % train_dir, '--seed=1',
                  *flags, *extra]


def _saved_step(train_dir):
  checkpoint = tf1.train.latest_checkpoint(str(train_dir))
  assert checkpoint, 'no checkpoint in %s' % train_dir
  return int(tf.train.load_variable(checkpoint, 'global_step'))


@pytest.fixture
def data(cifar_data, mnist_data):
  return {'cifar': cifar_data, 'mnist': mnist_data}


@pytest.mark.parametrize('case', list(CASES))
def test_a_second_trainer_is_refused_ctrl_c_saves_then_resume_then_fresh(
    case, data, tmp_path):
  train_dir = tmp_path / 'train'
  module, args = _args(case, data, train_dir, ENDLESS)
  refusals = []

  def start_a_second_trainer(pid):
    refusals.append((pid, run_module(module, *args, *cluster, check=False)))

  with _cluster_flags(module) as cluster:
    code, out, err, secs = interrupt_when(module, *args, *cluster,
                                          pattern=LOG_LINE.pattern,
                                          while_running=start_a_second_trainer)
  (pid, second), = refusals
  assert second.returncode == 1, second.stderr
  assert second.stderr.startswith('Error: %s is in use by process %d (' % (
      train_dir, pid)), second.stderr
  assert '-m %s ' % module in second.stderr
  assert 'Traceback' not in second.stderr
  assert not LOG_LINE.search(second.stdout)
  assert code in (0, 130), err
  assert 'Traceback' not in err, err
  assert secs <= STOP_WITHIN_SECS
  saved = _saved_step(train_dir)
  logged = [int(step) for step in LOG_LINE.findall(out)]
  assert logged and saved >= logged[-1]
  assert 'SIGINT received: stopping after this step' in out
  assert re.search(r'Stopped by SIGINT; saved %s/model\.ckpt-%d\.' % (
      re.escape(str(train_dir)), saved), out), out

  module, args = _args(case, data, train_dir, '--max_steps=%d' % (saved + 3))
  with _cluster_flags(module) as cluster:
    resumed = run_module(module, *args, *cluster)
  assert 'Resuming from %s/model.ckpt-%d' % (train_dir, saved) in (
      resumed.stdout)
  assert _saved_step(train_dir) == saved + 3

  module, args = _args(case, data, train_dir, '--max_steps=2', '--fresh')
  with _cluster_flags(module) as cluster:
    fresh = run_module(module, *args, *cluster)
  assert 'Resuming' not in fresh.stdout
  assert _saved_step(train_dir) == 2
  assert not list(train_dir.glob('model.ckpt-%d.*' % saved))

"""cifar10.dist_train and scripts/local_cluster.py: a real cluster of
parameter-server and worker processes on loopback ports."""
import glob
import json
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
from absl import flags
from absl.testing import flagsaver

from cifar10 import dist_train
from cifar10 import runtime
from conftest import PROJECT_ROOT, QUICK_TRAIN_FLAGS, run_module

STEP = re.compile(r'^worker (\d): \S+ \S+: step (\d+), ', re.M)
# Every process of a cluster test must be gone by then.
CLUSTER_TIMEOUT = 240
# Asynchronous updates from two workers with stale gradients diverge on the
# tiny dataset at smaller batches.
ASYNC_STABLE_BATCH = '--batch_size=64'


def checkpoint_steps(train_dir) -> list[int]:
  return sorted(int(re.search(r'ckpt-(\d+)\.index$', p).group(1))
                for p in glob.glob(str(train_dir / 'model.ckpt-*.index')))


def port_is_free(port: int) -> bool:
  """Whether nothing listens on the port (closed connections may linger in
  TIME_WAIT, which SO_REUSEADDR lets a new listener ignore)."""
  with socket.socket() as s:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
      s.bind(('127.0.0.1', port))
      return True
    except OSError:
      return False


@pytest.mark.parametrize('mode', ['async', 'sync'])
def test_local_cluster_trains_to_max_steps_and_every_process_exits(
    cifar_data, tmp_path, mode):
  train_dir = tmp_path / 'train'
  # The tutorial's learning rate can diverge on the tiny dataset after 25-35
  # steps (seen once in sync mode); these tests are about the processes.
  flags_ = ['--data_dir=%s' % cifar_data, '--train_dir=%s' % train_dir,
            '--max_steps=20', *QUICK_TRAIN_FLAGS, ASYNC_STABLE_BATCH]
  if mode == 'sync':
    flags_.append('--sync_replicas')
  result = subprocess.run(
      [sys.executable, 'scripts/local_cluster.py', '--ps=1', '--workers=2',
       '--', *flags_], cwd=PROJECT_ROOT, capture_output=True, text=True,
      timeout=CLUSTER_TIMEOUT)
  out = result.stdout
  assert result.returncode == 0, out + result.stderr
  assert out.rstrip().endswith('cluster finished: all workers exited 0')
  assert '[ps0] ps 0: all workers finished; shutting down.' in out
  assert '[worker0] worker 0: done.' in out
  assert '[worker1] worker 1: done.' in out
  assert 'Traceback' not in out
  # Asynchronous workers may each finish steps already under way.
  assert 20 <= checkpoint_steps(train_dir)[-1] <= 23
  ports = [int(p) for p in re.findall(r'127\.0\.0\.1:(\d+)',
                                      out.splitlines()[0])]
  assert len(ports) == 3 and all(port_is_free(p) for p in ports)
  if mode == 'async':
    return
  result = run_module('cifar10.eval', '--data_dir=%s' % cifar_data,
                      '--checkpoint_dir=%s' % train_dir,
                      '--eval_dir=%s' % (tmp_path / 'eval'), '--run_once',
                      '--num_examples=60')
  assert re.search(r': precision @ 1 = \d\.\d{3}$', result.stdout, re.M)


class Cluster:
  """1 ps + 2 workers started by hand, each logging to its own file."""

  def __init__(self, tmp_path, cifar_data, max_steps):
    ports = []
    while len(ports) < 3:
      with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        ports.append(s.getsockname()[1])
    self.tmp_path = tmp_path
    self.train_dir = tmp_path / 'train'
    self.flags = ['--ps_hosts=127.0.0.1:%d' % ports[0],
                  '--worker_hosts=127.0.0.1:%d,127.0.0.1:%d' % tuple(
                      ports[1:]),
                  '--data_dir=%s' % cifar_data,
                  '--train_dir=%s' % self.train_dir,
                  '--max_steps=%d' % max_steps, '--save_checkpoint_secs=1',
                  *QUICK_TRAIN_FLAGS, ASYNC_STABLE_BATCH]
    self.processes = {}
    self.runs = {}

  def start(self, name):
    job, index = name[:-1], name[-1]
    self.runs[name] = self.runs.get(name, 0) + 1
    log = open(self.tmp_path / ('%s.%d.log' % (name, self.runs[name])), 'w')
    self.processes[name] = subprocess.Popen(
        [sys.executable, '-m', 'cifar10.dist_train', '--job_name=' + job,
         '--task_index=' + index, *self.flags], cwd=PROJECT_ROOT,
        stdout=log, stderr=subprocess.STDOUT)

  def log(self, name):
    return (self.tmp_path / ('%s.%d.log' % (name, self.runs[name]))).read_text()

  def wait_for(self, name, predicate, timeout=120):
    deadline = time.time() + timeout
    while not predicate(self.log(name)):
      assert time.time() < deadline, self.log(name)
      assert self.processes[name].poll() is None, self.log(name)
      time.sleep(0.2)

  def kill(self, name):
    self.processes[name].send_signal(signal.SIGKILL)
    self.processes[name].wait()

  def stop_all(self):
    for process in self.processes.values():
      if process.poll() is None:
        process.kill()
        process.wait()


def logged_steps(log: str) -> list[int]:
  return [int(step) for _, step in STEP.findall(log)]


def test_killed_workers_rejoin_and_the_chief_resumes_from_its_checkpoint(
    cifar_data, tmp_path):
  cluster = Cluster(tmp_path, cifar_data, max_steps=1500)
  try:
    for name in ('ps0', 'worker0', 'worker1'):
      cluster.start(name)
    # A non-chief worker dies mid-run and comes back (its restart takes long
    # enough for the chief alone to run a few hundred steps).
    cluster.wait_for('worker1', lambda log: len(logged_steps(log)) >= 1)
    cluster.kill('worker1')
    cluster.start('worker1')
    cluster.wait_for('worker1', lambda log: len(logged_steps(log)) >= 1)
    # The chief dies; restarted, it resumes from its last checkpoint.
    cluster.wait_for('worker0',
                     lambda log: checkpoint_steps(cluster.train_dir)[-1] > 0)
    cluster.kill('worker0')
    saved = checkpoint_steps(cluster.train_dir)[-1]
    cluster.start('worker0')
    for name in ('worker0', 'worker1', 'ps0'):
      assert cluster.processes[name].wait(CLUSTER_TIMEOUT) == 0, (
          cluster.log(name))
    restarted = cluster.log('worker0')
    assert 'Resuming from %s/model.ckpt-%d.' % (cluster.train_dir,
                                                 saved) in restarted
    assert min(logged_steps(restarted)) > saved
    assert 1500 <= checkpoint_steps(cluster.train_dir)[-1] <= 1503
    assert 'worker 1: done.' in cluster.log('worker1')
    assert 'ps 0: all workers finished; shutting down.' in cluster.log('ps0')
  finally:
    cluster.stop_all()
  print('\n'.join('--- %s run %d\n%s' % (
      name, run, (tmp_path / ('%s.%d.log' % (name, run))).read_text())
                  for name in ('ps0', 'worker0', 'worker1')
                  for run in range(1, cluster.runs[name] + 1)))


def test_unreachable_parameter_server_gives_up_with_a_clear_error(
    cifar_data, tmp_path):
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
  start = time.time()
  result = run_module(
      'cifar10.dist_train', '--job_name=worker', '--task_index=0',
      '--ps_hosts=127.0.0.1:%d' % port, '--worker_hosts=127.0.0.1:1',
      '--data_dir=%s' % cifar_data, '--train_dir=%s' % tmp_path,
      '--connect_timeout_secs=3', check=False)
  assert result.returncode == 1
  assert 'worker 0: Waiting for parameter server 127.0.0.1:%d' % port in (
      result.stdout)
  assert result.stderr.strip().endswith(
      'Error: Cannot reach parameter server 127.0.0.1:%d after 3 s '
      '(Connection refused). Is it running, and do --ps_hosts or TF_CONFIG '
      'name it right? --connect_timeout_secs sets how long to wait.' % port)
  assert time.time() - start < 60


def test_role_and_cluster_come_from_flags_or_tf_config(monkeypatch):
  flags.FLAGS.mark_as_parsed()
  config = {'cluster': {'ps': ['h0:1'], 'worker': ['h1:1', 'h2:1']},
            'task': {'type': 'worker', 'index': 1}}
  monkeypatch.setenv('TF_CONFIG', json.dumps(config))
  with flagsaver.flagsaver(job_name=None, task_index=None, ps_hosts=None,
                           worker_hosts=None):
    assert dist_train.cluster_and_role() == (
        {'ps': ['h0:1'], 'worker': ['h1:1', 'h2:1']}, 'worker', 1)
  with flagsaver.flagsaver(job_name='ps', task_index=0,
                           ps_hosts=['a:2'], worker_hosts=None):
    assert dist_train.cluster_and_role() == (
        {'ps': ['a:2'], 'worker': ['h1:1', 'h2:1']}, 'ps', 0)
  monkeypatch.delenv('TF_CONFIG')
  with flagsaver.flagsaver(job_name='worker', task_index=2,
                           ps_hosts=['a:2'], worker_hosts=['b:2', 'c:2']):
    with pytest.raises(runtime.UserError,
                       match='--task_index=2, but the worker job has 2'):
      dist_train.cluster_and_role()
  with flagsaver.flagsaver(job_name=None, task_index=None, ps_hosts=None,
                           worker_hosts=None):
    with pytest.raises(runtime.UserError, match='not fully described'):
      dist_train.cluster_and_role()

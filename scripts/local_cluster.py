#!/usr/bin/env python3
"""Runs a whole cifar10.dist_train cluster on this machine.

Starts --ps parameter servers and --workers workers on free loopback ports,
streams each process's output prefixed with its name, and stops everything
on Ctrl-C, or when the workers are done (parameter servers then exit by
themselves; any still running after a grace period are stopped).

  python scripts/local_cluster.py --ps=1 --workers=2 -- --max_steps=1000 \
      --data_dir=/tmp/cifar10_data --train_dir=/tmp/cifar10_train

Everything after `--` goes to every process (training flags).
Exits 0 when every worker did, else 1.
"""
import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, PROJECT_ROOT)

from tfclassic import flags as shared_flags  # noqa: E402

# Processes of one job: far beyond what one machine runs.
MAX_TASKS = 64
# Seconds parameter servers get to exit after the last worker.
PS_GRACE_SECS = 30


def free_ports(count: int) -> list[int]:
  """Ports the kernel has just handed out on 127.0.0.1."""
  sockets = [socket.socket() for _ in range(count)]
  try:
    for s in sockets:
      s.bind(('127.0.0.1', 0))
    return [s.getsockname()[1] for s in sockets]
  finally:
    for s in sockets:
      s.close()


def stream(process: subprocess.Popen, prefix: str) -> threading.Thread:
  def copy():
    for line in process.stdout:
      sys.stdout.write(prefix + line)
      sys.stdout.flush()
  thread = threading.Thread(target=copy, daemon=True)
  thread.start()
  return thread


def start(job: str, index: int, hosts: dict,
          train_flags: list[str]) -> subprocess.Popen:
  return subprocess.Popen(
      [sys.executable, '-u', '-m', 'cifar10.dist_train', '--job_name=' + job,
       '--task_index=%d' % index, '--ps_hosts=' + ','.join(hosts['ps']),
       '--worker_hosts=' + ','.join(hosts['worker'])] + train_flags,
      cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
      text=True, start_new_session=True)


def stop(processes: dict) -> None:
  for process in processes.values():
    if process.poll() is None:
      process.terminate()
  deadline = time.time() + 10
  for process in processes.values():
    try:
      process.wait(max(0.1, deadline - time.time()))
    except subprocess.TimeoutExpired:
      process.kill()
      process.wait()


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      description=__doc__.split('\n')[0],
      usage='%(prog)s [--ps N] [--workers N] [-- TRAIN_FLAGS...]')
  parser.add_argument('--ps', default=1,
                      type=shared_flags.argparse_number(int, 1, MAX_TASKS),
                      help='parameter servers (default 1)')
  parser.add_argument('--workers', default=2,
                      type=shared_flags.argparse_number(int, 1, MAX_TASKS),
                      help='workers (default 2)')
  return parser


def main() -> int:
  args, train_flags = build_parser().parse_known_args()
  train_flags = [f for f in train_flags if f != '--']
  ports = free_ports(args.ps + args.workers)
  hosts = {'ps': ['127.0.0.1:%d' % p for p in ports[:args.ps]],
           'worker': ['127.0.0.1:%d' % p for p in ports[args.ps:]]}
  print('cluster: ps %s, workers %s' % (' '.join(hosts['ps']),
                                         ' '.join(hosts['worker'])),
        flush=True)
  processes = {}
  threads = []
  for job, count in (('ps', args.ps), ('worker', args.workers)):
    for i in range(count):
      name = '%s%d' % (job, i)
      processes[name] = start(job, i, hosts, train_flags)
      threads.append(stream(processes[name], '[%s] ' % name))
  workers = [p for n, p in processes.items() if n.startswith('worker')]
  try:
    codes = [w.wait() for w in workers]
    deadline = time.time() + PS_GRACE_SECS
    for name, process in processes.items():
      if name.startswith('ps'):
        try:
          process.wait(max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
          print('%s did not exit; stopping it.' % name, flush=True)
  except KeyboardInterrupt:
    print('Ctrl-C: stopping the cluster.', flush=True)
    codes = [1]
  finally:
    stop(processes)
    for thread in threads:
      thread.join(timeout=5)
  ok = all(code == 0 for code in codes)
  print('cluster finished: %s' % ('all workers exited 0' if ok else
                                  'a worker failed (exit codes %s)' % codes),
        flush=True)
  return 0 if ok else 1


if __name__ == '__main__':
  signal.signal(signal.SIGTERM, signal.default_int_handler)
  sys.exit(main())

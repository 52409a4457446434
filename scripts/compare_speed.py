#!/usr/bin/env python3
"""Compares cifar10 training speed across tower or worker counts.

Runs the real programs for each setting in turn, several rounds, so that all
see the same machine load, and prints the median examples/sec of each and
its ratio to the first. The chief's log is used for clusters (its figure
already counts the examples of all workers).

  python scripts/compare_speed.py towers --data_dir=/tmp/cifar10_data \
      --counts=1,2
  python scripts/compare_speed.py workers --data_dir=/tmp/cifar10_data \
      --counts=1,2
  python scripts/compare_speed.py towers --data_dir=/tmp/cifar10_data \
      --counts=1,2 --split_batch

--split_batch is the tutorial's exercise: the same --batch_size examples a
step, split among the towers (2 towers of 64 against one of 128), with one
tower run as cifar10.train itself.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, PROJECT_ROOT)

from tfclassic import flags as shared_flags  # noqa: E402
from tfclassic import paths  # noqa: E402

SPEED = re.compile(r'^(?:\[worker0\] worker 0: )?\S+ \S+: step \d+, '
                   r'loss = \S+ \(([\d.]+) examples/sec;', re.M)


def command(kind: str, count: int, train_dir: str,
            args: argparse.Namespace) -> list[str]:
  batch_size = args.batch_size // count if args.split_batch else (
      args.batch_size)
  train_flags = ['--data_dir=%s' % args.data_dir, '--train_dir=%s' % train_dir,
                 '--max_steps=%d' % args.steps,
                 '--batch_size=%d' % batch_size,
                 '--min_queue_fraction=0.05',
                 '--save_summaries_steps=%d' % args.steps]
  if kind == 'towers' and count == 1 and args.split_batch:
    return [sys.executable, '-m', 'cifar10.train'] + train_flags
  if kind == 'towers':
    return [sys.executable, '-m', 'cifar10.multi_gpu_train',
            '--num_gpus=%d' % count] + train_flags
  return [sys.executable, os.path.join('scripts', 'local_cluster.py'),
          '--ps=1', '--workers=%d' % count, '--'] + train_flags


def examples_per_sec(kind: str, count: int,
                     args: argparse.Namespace) -> list[float]:
  """Speeds one run logged, without its first (warm-up) line."""
  with tempfile.TemporaryDirectory() as train_dir:
    result = subprocess.run(command(kind, count, train_dir, args),
                            cwd=PROJECT_ROOT, capture_output=True, text=True,
                            check=True)
  return [float(s) for s in SPEED.findall(result.stdout)][1:]


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('kind', choices=['towers', 'workers'],
                      help='towers: multi_gpu_train --num_gpus; workers: '
                           'dist_train asynchronous workers (1 ps)')
  parser.add_argument('--data_dir', default='/tmp/cifar10_data',
                      type=shared_flags.argparse_path(paths.DATA_DIR))
  parser.add_argument('--counts', default='1,2', type=_counts,
                      help='comma-separated tower or worker counts')
  parser.add_argument('--steps', default=200,
                      type=shared_flags.argparse_number(
                          int, 1, shared_flags.MAX_STEPS))
  parser.add_argument('--batch_size', default=128,
                      type=shared_flags.argparse_number(
                          int, 1, shared_flags.MAX_BATCH_SIZE))
  parser.add_argument('--rounds', default=3,
                      type=shared_flags.argparse_number(
                          int, 1, shared_flags.MAX_ROUNDS))
  parser.add_argument('--split_batch', action='store_true',
                      help='towers: split --batch_size among the towers, '
                      'and run one tower as cifar10.train')
  return parser


def _counts(text: str) -> list[int]:
  """--counts: tower or worker counts, each at least 1."""
  try:
    counts = [int(c) for c in text.split(',')]
  except ValueError:
    counts = []
  if not counts or min(counts) < 1:
    raise argparse.ArgumentTypeError(
        '%s is not a comma-separated list of counts from 1 up, e.g. 1,2'
        % text)
  return counts


def main() -> None:
  args = build_parser().parse_args()
  counts = args.counts
  speeds = {n: [] for n in counts}
  for round_index in range(args.rounds):
    for n in counts:
      speeds[n] += examples_per_sec(args.kind, n, args)
      print('round %d, %s=%d: median so far %.1f examples/sec'
            % (round_index + 1, args.kind, n, statistics.median(speeds[n])),
            flush=True)
  base = statistics.median(speeds[counts[0]])
  print('\n%7s  examples/sec (median)  ratio to %d' % (args.kind, counts[0]))
  for n in counts:
    median = statistics.median(speeds[n])
    print('%7d  %22.1f  %10.2f' % (n, median, median / base))


if __name__ == '__main__':
  main()

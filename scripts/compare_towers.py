#!/usr/bin/env python3
"""Compares training speed of cifar10.multi_gpu_train with different --num_gpus.

Runs the real binary for each tower count in turn, several rounds, so that
both see the same machine load, and prints the median examples/sec of each
and their ratio. On a machine without GPUs the towers share the CPU, so this
shows the cost (or gain) of splitting a step into towers.

  python scripts/compare_towers.py --data_dir=/tmp/cifar10_data --towers=1,2
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPEED = re.compile(r': step \d+, loss = \S+ \(([\d.]+) examples/sec;')


def examples_per_sec(num_gpus: int, args: argparse.Namespace) -> list[float]:
  """Speeds logged by one training run, without its first (warm-up) line."""
  with tempfile.TemporaryDirectory() as train_dir:
    result = subprocess.run(
        [sys.executable, '-m', 'cifar10.multi_gpu_train',
         '--num_gpus=%d' % num_gpus, '--data_dir=%s' % args.data_dir,
         '--train_dir=%s' % train_dir, '--max_steps=%d' % args.steps,
         '--batch_size=%d' % args.batch_size, '--min_queue_fraction=0.05',
         '--save_summaries_steps=%d' % args.steps],
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
  return [float(s) for s in SPEED.findall(result.stdout)][1:]


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--data_dir', default='/tmp/cifar10_data')
  parser.add_argument('--towers', default='1,2',
                      help='comma-separated --num_gpus values')
  parser.add_argument('--steps', type=int, default=200)
  parser.add_argument('--batch_size', type=int, default=128)
  parser.add_argument('--rounds', type=int, default=3)
  args = parser.parse_args()
  counts = [int(t) for t in args.towers.split(',')]
  speeds = {n: [] for n in counts}
  for round_index in range(args.rounds):
    for n in counts:
      speeds[n] += examples_per_sec(n, args)
      print('round %d, num_gpus=%d: median so far %.1f examples/sec'
            % (round_index + 1, n, statistics.median(speeds[n])), flush=True)
  base = statistics.median(speeds[counts[0]])
  print('\nnum_gpus  examples/sec (median)  ratio to num_gpus=%d' % counts[0])
  for n in counts:
    median = statistics.median(speeds[n])
    print('%8d  %22.1f  %20.2f' % (n, median, median / base))


if __name__ == '__main__':
  main()

#!/usr/bin/env python3
"""Reproduces the CIFAR-10 tutorial's headline on this machine: its schedule,
evaluated as it trains, and its table of step times and accuracy.

  python scripts/reproduce_cifar10.py --data_dir=$DATA_DIR
  python scripts/reproduce_cifar10.py --data_dir=$DATA_DIR --max_steps=30000
  python scripts/reproduce_cifar10.py --report_only

Runs `python -m cifar10.train` with the tutorial's model, hyperparameters
and schedule (nothing tuned) and --eval_every_steps, so the test set is
scored inside the training process. Running it again continues from the
last checkpoint; Ctrl-C stops training after the current step (saving a
checkpoint) and still prints the table so far. Extra arguments after `--`
go to cifar10.train (e.g. `-- --precision=bf16`).

At the end it prints the tutorial's table with this machine's row added
(CPU, sec/batch range, precision at 10K / 30K / 60K / 100K steps and the
training wall time to each), a row per evaluation, and draws the loss and
precision curves to --curves (needs matplotlib: pip install
'tfclassic[plot]').
"""
import argparse
import os
import platform
import subprocess
import sys
from typing import Mapping, Optional, Sequence

import numpy as np

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, PROJECT_ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import plot_curves  # noqa: E402  (imports TensorFlow quietly, once)
from tfclassic import evaluation  # noqa: E402
from tfclassic import flags as shared_flags  # noqa: E402
from tfclassic import paths  # noqa: E402

DEFAULT_ROOT = '/tmp/cifar10_reproduce'
MAX_STEPS = 100000
EVAL_EVERY_STEPS = 2000
MILESTONES = (10000, 30000, 60000, 100000)
# The tutorial's table, as its cifar10_train.py and cifar10_multi_gpu_train.py
# docstrings publish it (batch 128 per GPU).
PUBLISHED_ROWS = (
    ('1 Tesla K20m', '0.35-0.60', '~86% at 60K steps (5 hours)'),
    ('1 Tesla K40m', '0.25-0.35', '~86% at 100K steps (4 hours)'),
    ('2 Tesla K20m', '0.13-0.20', '~84% at 30K steps (2.5 hours)'),
    ('3 Tesla K20m', '0.13-0.18', '~84% at 30K steps'),
    ('4 Tesla K20m', '~0.10', '~84% at 30K steps'),
)
# The training loss every summary step writes.
LOSS_TAG = 'total_loss'
PRECISION_TAG = 'Precision @ 1'


def cpu_model() -> str:
  """The CPU's model name and the cores this process may use."""
  name = platform.processor() or platform.machine()
  try:
    with open('/proc/cpuinfo') as f:
      for line in f:
        if line.startswith('model name'):
          name = line.split(':', 1)[1].strip()
          break
  except OSError:
    pass
  return '%s, %d cores' % (name, len(os.sched_getaffinity(0)))


# One training run: the steps it reached and when, in time order.
Segment = tuple[np.ndarray, np.ndarray]


def run_segments(train_dir: str,
                 records: Sequence[Mapping[str, float]] = ()
                 ) -> list[Segment]:
  """(steps, wall times) of each training run (one event file each), in
  the order the runs started: its loss summaries, and the steps it scored
  (when the step was reached: the score's time less the evaluation's), so
  that a run's last step counts even when no summary fell on it."""
  starts, segments = [], []
  paths = sorted(f for f in os.listdir(train_dir)
                 if f.startswith('events.out.tfevents.'))
  for name in paths:
    series = plot_curves.read_timed_scalars(os.path.join(train_dir, name))
    if LOSS_TAG in series:
      steps, times, _ = series[LOSS_TAG]
      starts.append(times[0])
      segments.append((list(steps), list(times)))
  for record in records:
    reached = record['unix_time'] - record['eval_secs']
    run = max((i for i, start in enumerate(starts) if start <= reached),
              default=None)
    if run is not None:
      segments[run][0].append(int(record['global_step']))
      segments[run][1].append(reached)
  ordered = []
  for steps, times in segments:
    order = np.argsort(times, kind='stable')
    ordered.append((np.asarray(steps)[order], np.asarray(times)[order]))
  return ordered


def wall_time_to(step: int, segments: Sequence[Segment]) -> Optional[float]:
  """Seconds of training until `step`, summed over the runs (time stopped
  between a run and its resumption left out); None if not reached. A step
  that a run reached after its last point counts that run's time up to its
  last point."""
  total = 0.0
  for steps, times in segments:
    if step <= steps[0]:
      return total
    total += float(np.interp(min(step, steps[-1]), steps, times) - times[0])
    if step <= steps[-1]:
      return total
  return None


def sec_per_batch(segments: Sequence[Segment], eval_times: Sequence[float]
                  ) -> Optional[tuple[float, float]]:
  """The 5th and 95th percentiles of sec/batch over the intervals between
  loss summaries, leaving out intervals that include an evaluation."""
  rates = []
  for steps, times in segments:
    for i in range(1, len(steps)):
      if any(times[i - 1] < t <= times[i] for t in eval_times):
        continue
      if steps[i] > steps[i - 1]:
        rates.append((times[i] - times[i - 1]) / (steps[i] - steps[i - 1]))
  if not rates:
    return None
  low, high = np.percentile(rates, [5, 95])
  return float(low), float(high)


def hours(seconds: Optional[float]) -> str:
  """'H:MM h', or 'not reached' for None."""
  if seconds is None:
    return 'not reached'
  return '%d:%02d h' % (seconds // 3600, seconds % 3600 // 60)


def report(train_dir: str, label: str) -> str:
  """The tutorial's table with this machine's row, then every evaluation."""
  records = evaluation.read_records(train_dir)
  segments = run_segments(train_dir, records)
  scored = {int(r['global_step']): r for r in records}
  reached = [m for m in MILESTONES if m in scored]
  rate = sec_per_batch(segments, [r['unix_time'] for r in records])
  accuracy = '; '.join(
      '%.1f%% at %dK steps (%s)' % (100 * scored[m]['precision_at_1'],
                                    m // 1000, hours(wall_time_to(m, segments)))
      for m in reached) or 'no milestone reached yet'
  last = max(scored) if scored else None
  if last is not None and last not in reached:
    accuracy += '; last scored: %.1f%% at step %d (%s)' % (
        100 * scored[last]['precision_at_1'], last,
        hours(wall_time_to(last, segments)))
  rows = list(PUBLISHED_ROWS) + [(
      '%s (%s)' % (cpu_model(), label),
      '%.2f-%.2f' % rate if rate else '-', accuracy)]
  lines = ['| System | Step Time (sec/batch) | Accuracy |',
           '| --- | --- | --- |']
  lines += ['| %s | %s | %s |' % row for row in rows]
  lines += ['', '| step | precision @ 1 | examples | training wall time | '
            'eval secs |', '| ---: | ---: | ---: | ---: | ---: |']
  lines += ['| %d | %.4f | %d | %s | %.1f |' % (
      step, r['precision_at_1'], r['examples'],
      hours(wall_time_to(step, segments)), r['eval_secs'])
            for step, r in sorted(scored.items())]
  return '\n'.join(lines)


def draw(train_dir: str, eval_dir: str, output: str, title: str) -> bool:
  """Draws loss and precision against the step; False without matplotlib."""
  try:
    import matplotlib  # noqa: F401
  except ImportError:
    print(plot_curves.MATPLOTLIB_MISSING.replace('--csv works without it.',
                                                 'The table needs nothing.'))
    return False
  train = plot_curves.read_scalars(train_dir)
  panels = {'loss': {tag: train[tag] for tag in ('total_loss',
                                                  'total_loss_raw')
                     if tag in train}}
  if os.path.isdir(eval_dir):
    precision = plot_curves.read_scalars(eval_dir).get(PRECISION_TAG)
    if precision:
      panels['precision @ 1 (test set)'] = {'moving-average weights':
                                            precision}
  plot_curves.plot_curves(panels, output, title=title)
  return True


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--data_dir', default='/tmp/cifar10_data',
                      type=shared_flags.argparse_path(paths.DATA_DIR),
                      help='the CIFAR-10 binary files (downloaded there if '
                      'missing, as cifar10.train does)')
  parser.add_argument('--train_dir', default=DEFAULT_ROOT + '/train',
                      type=shared_flags.argparse_path(paths.OUTPUT_DIR))
  parser.add_argument('--eval_dir', default=DEFAULT_ROOT + '/eval',
                      type=shared_flags.argparse_path(paths.OUTPUT_DIR))
  parser.add_argument('--max_steps', default=MAX_STEPS,
                      type=shared_flags.argparse_number(
                          int, 1, shared_flags.MAX_STEPS))
  parser.add_argument('--eval_every_steps', default=EVAL_EVERY_STEPS,
                      type=shared_flags.argparse_number(
                          int, 1, shared_flags.MAX_STEPS))
  parser.add_argument('--curves', help='the PNG of the curves (default: '
                      'curves.png beside the train_dir)',
                      type=shared_flags.argparse_path(paths.OUTPUT_FILE))
  parser.add_argument('--label', default='fp32',
                      help='names the run in the table (e.g. bf16)')
  parser.add_argument('--report_only', action='store_true',
                      help='print the table and draw the curves of what '
                      'the train_dir holds, without training')
  parser.add_argument('train_args', nargs='*',
                      help='after --: more flags for cifar10.train')
  return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
  args = build_parser().parse_args(argv)
  status = 0
  if not args.report_only:
    command = [sys.executable, '-m', 'cifar10.train',
               '--data_dir=' + args.data_dir, '--train_dir=' + args.train_dir,
               '--eval_dir=' + args.eval_dir,
               '--max_steps=%d' % args.max_steps,
               '--eval_every_steps=%d' % args.eval_every_steps,
               *args.train_args]
    print(' '.join(command), flush=True)
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [PROJECT_ROOT] + ([env['PYTHONPATH']] if env.get('PYTHONPATH')
                          else []))
    child = subprocess.Popen(command, env=env)
    try:
      status = child.wait()
    except KeyboardInterrupt:
      # The child got the same Ctrl-C: it saves and stops after its step.
      status = child.wait()
  if not os.path.isdir(args.train_dir):
    print('Error: %s does not exist: nothing to report.' % args.train_dir,
          file=sys.stderr)
    return status or 1
  print()
  print(report(args.train_dir, args.label))
  curves = args.curves or os.path.join(os.path.dirname(
      os.path.abspath(args.train_dir)), 'curves.png')
  if draw(args.train_dir, args.eval_dir, curves,
          'CIFAR-10, %s, %s' % (args.label, cpu_model())):
    print('\nWrote', curves)
  return status


if __name__ == '__main__':
  sys.exit(main())

#!/usr/bin/env python3
"""Plots training curves from a train_dir's (and eval_dir's) event files.

  python scripts/plot_curves.py /tmp/cifar10_train /tmp/cifar10_eval -o c.png
  python scripts/plot_curves.py /tmp/cifar10_train --csv curves.csv

  python scripts/plot_curves.py /tmp/mnist_train -o mnist.png

Draws what the train_dir has of: the loss (cifar10's total_loss, a moving
average, and total_loss_raw; mnist's loss), the learning rate, mnist's
accuracy (the TF models' batch accuracy; the scratch model's accuracy on the
whole training and test sets) and, from the eval_dir, precision @ 1, against
the global step (the scratch model's iteration).
Drawing needs matplotlib (pip install 'tfclassic[plot]'); --csv does not.
When a run resumed from an earlier checkpoint, the later values logged for a
step replace the earlier ones, as TensorBoard shows them.

Other programs can draw their own curves with plot_curves(), which takes
plain (steps, values) series, and read event files with read_scalars() (or
read_timed_scalars(), which keeps each value's wall time).
"""
import argparse
import csv
import glob
import os
import sys
from typing import Mapping, Optional, Sequence

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, PROJECT_ROOT)

import tfclassic  # noqa: E402,F401  (imports TensorFlow quietly, once)
import tensorflow as tf  # noqa: E402

from tfclassic import flags as shared_flags  # noqa: E402
from tfclassic import paths  # noqa: E402

# A curve: the steps and the value at each.
Series = tuple[Sequence[int], Sequence[float]]

# Panel title -> tags drawn in it, for the train_dir and the eval_dir.
TRAIN_PANELS = {'loss': ('total_loss', 'total_loss_raw', 'loss'),
                'learning rate': ('learning_rate',),
                'accuracy': ('accuracy', 'accuracy/train', 'accuracy/test')}
EVAL_PANELS = {'precision @ 1': ('Precision @ 1',)}

MATPLOTLIB_MISSING = ("Error: drawing needs matplotlib: pip install "
                      "'tfclassic[plot]' (or pip install matplotlib). --csv "
                      "works without it.")


def read_scalars(logdir: str) -> dict[str, Series]:
  """Every scalar summary in logdir's event files, by tag, in step order.

  Args:
    logdir: a folder of events.out.tfevents.* files (not searched further).

  Returns:
    {tag: (steps, values)}.
  """
  latest = {}  # tag -> {step: (wall_time, value)}
  for path in glob.glob(os.path.join(logdir, 'events.out.tfevents.*')):
    for tag, series in read_timed_scalars(path).items():
      steps = latest.setdefault(tag, {})
      for step, wall_time, value in zip(*series):
        if step not in steps or steps[step][0] <= wall_time:
          steps[step] = (wall_time, value)
  return {tag: (sorted(steps), [steps[s][1] for s in sorted(steps)])
          for tag, steps in latest.items()}


TimedSeries = tuple[list[int], list[float], list[float]]


def read_timed_scalars(path: str) -> dict[str, TimedSeries]:
  """The scalars of one event file: {tag: (steps, wall times, values)} in
  the order written. A file cut short by a killed run is read up to where it
  breaks off."""
  timed = {}
  try:
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        if value.WhichOneof('value') == 'simple_value':
          steps, times, values = timed.setdefault(value.tag, ([], [], []))
          steps.append(event.step)
          times.append(event.wall_time)
          values.append(value.simple_value)
  except tf.errors.DataLossError:
    pass
  return timed


def plot_curves(panels: Mapping[str, Mapping[str, Series]], output: str,
                title: str = '') -> None:
  """Draws curves to an image file, one panel above the other.

  Args:
    panels: {panel title: {curve label: (steps, values)}}; the panels share
      the step axis.
    output: the image file; its extension (.png, .pdf, .svg) picks the format.
    title: above the panels.

  Raises:
    ImportError: matplotlib is not installed.
  """
  from matplotlib.figure import Figure  # An optional dependency.
  figure = Figure(figsize=(8, 2.5 * len(panels)), layout='constrained')
  axes = figure.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
  for ax, (panel_title, curves) in zip(axes, panels.items()):
    for label, (steps, values) in curves.items():
      ax.plot(steps, values, label=label, marker='.' if len(steps) < 50 else
              None)
    ax.set_title(panel_title)
    ax.grid(alpha=0.3)
    ax.legend()
  axes[-1].set_xlabel('step')
  if title:
    figure.suptitle(title)
  figure.savefig(output)


def write_csv(runs: Mapping[str, Mapping[str, Series]], output: str) -> None:
  """Writes the curves as rows run,tag,step,value."""
  with open(output, 'w', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(['run', 'tag', 'step', 'value'])
    for run, curves in runs.items():
      for tag, (steps, values) in curves.items():
        writer.writerows([run, tag, step, value]
                         for step, value in zip(steps, values))


def _selected(scalars: Mapping[str, Series],
              panels: Mapping[str, Sequence[str]]
              ) -> dict[str, dict[str, Series]]:
  """The panels' curves that scalars has; panels without any are left out."""
  selected = {title: {tag: scalars[tag] for tag in tags if tag in scalars}
              for title, tags in panels.items()}
  return {title: curves for title, curves in selected.items() if curves}


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('train_dir', help='the training run\'s event files',
                      type=shared_flags.argparse_path(paths.INPUT_DIR))
  parser.add_argument('eval_dir', nargs='?',
                      help='cifar10.eval\'s event files (Precision @ 1)',
                      type=shared_flags.argparse_path(paths.INPUT_DIR))
  parser.add_argument('-o', '--output',
                      type=shared_flags.argparse_path(paths.OUTPUT_FILE),
                      help='the image to draw (default curves.png, unless '
                      'only --csv is given)')
  parser.add_argument('--csv', help='also write the values to this CSV file '
                      '(columns run, tag, step, value)',
                      type=shared_flags.argparse_path(paths.OUTPUT_FILE))
  return parser


def main(argv: Optional[Sequence[str]] = None) -> None:
  args = build_parser().parse_args(argv)
  output = args.output or (None if args.csv else 'curves.png')
  if output:
    try:
      import matplotlib  # noqa: F401
    except ImportError:
      sys.exit(MATPLOTLIB_MISSING)
  sources = {'train': (args.train_dir, TRAIN_PANELS)}
  if args.eval_dir:
    sources['eval'] = (args.eval_dir, EVAL_PANELS)
  runs = {}
  for run, (logdir, panels) in sources.items():
    runs[run] = _selected(read_scalars(logdir), panels)
    if not runs[run]:
      sys.exit('Error: no event file in %s has the scalars %s.' % (
          logdir, ', '.join(tag for tags in panels.values() for tag in tags)))
  if args.csv:
    write_csv({run: {tag: series for curves in panels.values()
                     for tag, series in curves.items()}
               for run, panels in runs.items()}, args.csv)
    print('Wrote', args.csv)
  if output:
    plot_curves({title: curves for panels in runs.values()
                 for title, curves in panels.items()}, output,
                title=os.path.abspath(args.train_dir))
    print('Wrote', output)


if __name__ == '__main__':
  main()

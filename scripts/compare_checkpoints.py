"""Says whether two checkpoints hold the same values, variable by variable.

  python scripts/compare_checkpoints.py RUN_A/train RUN_B/train
  python scripts/compare_checkpoints.py A/model.ckpt-100 B/model.ckpt-100

Each argument is a checkpoint (its prefix) or a train_dir (its newest
checkpoint). Every variable is printed with 'identical' or the largest
absolute difference; a variable that only one holds is named too. Exits 0
when every variable is identical to the bit, 1 when any differs, 2 when a
checkpoint cannot be read. It is how a --deterministic run is checked
against another (docs/performance.md, "Runs that repeat exactly").
"""
import argparse
import os
import sys
from typing import Optional, Sequence

import numpy as np

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, PROJECT_ROOT)

import tfclassic  # noqa: E402,F401  (imports TensorFlow quietly, once)
import tensorflow as tf  # noqa: E402

from tfclassic import checkpoints  # noqa: E402
from tfclassic import errors  # noqa: E402


def resolve(path: str) -> str:
  """The checkpoint `path` names: itself, or a folder's newest.

  Raises:
    errors.UserError: there is none.
  """
  if os.path.isdir(path):
    return checkpoints.latest_checkpoint(path)
  if not checkpoints.exists(path):
    raise errors.UserError('%s is neither a checkpoint (no %s.index) nor a '
                           'folder of checkpoints.' % (path, path))
  return path


def difference(a: np.ndarray, b: np.ndarray) -> Optional[float]:
  """None if a and b are the same to the bit (NaNs included), else the
  largest absolute difference (inf for other shapes or types)."""
  if a.shape != b.shape or a.dtype != b.dtype:
    return float('inf')
  if a.tobytes() == b.tobytes():
    return None
  if not np.issubdtype(a.dtype, np.number):
    return float('inf')
  return float(np.nanmax(np.abs(a.astype(np.float64) - b.astype(np.float64)),
                         initial=0.0))


def compare(first: str, second: str) -> list[tuple[str, str]]:
  """(variable, verdict) for every variable of either checkpoint, sorted."""
  readers = [tf.train.load_checkpoint(c) for c in (first, second)]
  shapes = [r.get_variable_to_shape_map() for r in readers]
  rows = []
  for name in sorted(set(shapes[0]) | set(shapes[1])):
    if name not in shapes[1]:
      rows.append((name, 'only in the first'))
    elif name not in shapes[0]:
      rows.append((name, 'only in the second'))
    else:
      diff = difference(*(r.get_tensor(name) for r in readers))
      rows.append((name, 'identical' if diff is None else
                   'differs by up to %.6g' % diff))
  return rows


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('first', help='a checkpoint or a train_dir')
  parser.add_argument('second', help='a checkpoint or a train_dir')
  return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
  args = build_parser().parse_args(argv)
  try:
    first, second = resolve(args.first), resolve(args.second)
    rows = compare(first, second)
  except errors.UserError as e:
    print('Error: %s' % e, file=sys.stderr)
    return 2
  except tf.errors.OpError as e:
    print('Error: cannot read the checkpoints (%s).'
          % checkpoints.op_error_reason(e), file=sys.stderr)
    return 2
  width = max(len(name) for name, _ in rows)
  for name, verdict in rows:
    print('%-*s  %s' % (width, name, verdict))
  differing = sum(verdict != 'identical' for _, verdict in rows)
  print('%s and %s: %s' % (first, second, 'identical' if not differing else
                           '%d of %d variables differ' % (differing,
                                                          len(rows))))
  return 1 if differing else 0


if __name__ == '__main__':
  sys.exit(main())

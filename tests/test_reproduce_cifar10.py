"""scripts/reproduce_cifar10.py: the tutorial's schedule with evaluation in
training, resumable, ending with the table and the curves."""
import contextlib
import io
import re
import sys

import numpy as np

from conftest import (CIFAR10_SEED_FLAG, PROJECT_ROOT, QUICK_TRAIN_FLAGS,
                      read_scalars, run_module)
from tfclassic import evaluation

sys.path.insert(0, str(PROJECT_ROOT / 'scripts'))
import reproduce_cifar10  # noqa: E402

PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
TRAIN_FLAGS = [*QUICK_TRAIN_FLAGS, '--save_summaries_steps=2',
               CIFAR10_SEED_FLAG]


def reproduce(cifar_data, root, max_steps: int) -> tuple[int, str]:
  printed = io.StringIO()
  with contextlib.redirect_stdout(printed):
    status = reproduce_cifar10.main([
        '--data_dir=%s' % cifar_data, '--train_dir=%s' % (root / 'train'),
        '--eval_dir=%s' % (root / 'eval'), '--max_steps=%d' % max_steps,
        '--eval_every_steps=4', '--', *TRAIN_FLAGS])
  return status, printed.getvalue()


def test_a_second_run_continues_and_the_table_shows_every_evaluation(
    cifar_data, tmp_path):
  # The first run as the script runs it (through the quicker forkserver).
  run_module('cifar10.train', '--data_dir=%s' % cifar_data,
             '--train_dir=%s' % (tmp_path / 'train'),
             '--eval_dir=%s' % (tmp_path / 'eval'), '--max_steps=4',
             '--eval_every_steps=4', *TRAIN_FLAGS)
  status, second = reproduce(cifar_data, tmp_path, 8)
  assert status == 0
  records = evaluation.read_records(str(tmp_path / 'train'))
  assert [r['global_step'] for r in records] == [4, 8]
  # One row per evaluation, with the precision written for TensorBoard.
  rows = re.findall(r'^\| (\d+) \| (\d\.\d{4}) \| (\d+) \| (.*?) \|',
                    second, re.M)
  precision = dict(read_scalars(tmp_path / 'eval')['Precision @ 1'])
  assert [(int(s), float(p), int(n)) for s, p, n, _ in rows] == [
      (step, round(precision[step], 4), 60) for step in (4, 8)]
  # Neither step is a summary step (1, 3, 5, 7), and 8 is the last: both
  # have their wall time all the same.
  assert all(re.fullmatch(r'\d+:\d\d h', time) for _, _, _, time in rows)
  machine_row = [line for line in second.splitlines()
                 if line.startswith('| ' + reproduce_cifar10.cpu_model())]
  assert len(machine_row) == 1
  assert 'last scored: %.1f%% at step 8' % (100 * precision[8]) in (
      machine_row[0])
  assert '| 1 Tesla K40m | 0.25-0.35 | ~86% at 100K steps (4 hours) |' in (
      second)
  assert (tmp_path / 'curves.png').read_bytes().startswith(PNG_SIGNATURE)


def test_wall_time_sums_the_runs_and_leaves_out_the_time_between():
  segments = [(np.array([0, 100, 200]), np.array([10.0, 30.0, 50.0])),
              (np.array([200, 300]), np.array([1000.0, 1010.0]))]
  assert reproduce_cifar10.wall_time_to(100, segments) == 20.0
  assert reproduce_cifar10.wall_time_to(250, segments) == 45.0
  assert reproduce_cifar10.wall_time_to(301, segments) is None
  # Intervals of 0.2, 0.2 (holding an evaluation: left out) and 0.1 s/step.
  low, high = reproduce_cifar10.sec_per_batch(segments, eval_times=[40.0])
  assert (low, high) == (np.percentile([0.2, 0.1], 5),
                         np.percentile([0.2, 0.1], 95))

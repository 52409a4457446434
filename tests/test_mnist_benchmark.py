"""mnist.benchmark: every model and mode runs and the table is complete (no
speeds are asserted: the machine is shared)."""

import json
import os
import re

import numpy as np
import pytest

from conftest import run_module
from test_mnist_train import write_idx

# The benchmark defines flags that clash with cifar10.benchmark's, so it runs
# in its own process.
MODES = ['ceiling', 'model', 'feed', 'queue', 'input', 'train']
QUICK_FLAGS = ['--batch_size=8', '--steps=2', '--warmup_steps=1',
               '--rounds=1', '--summary_every=2', '--log_every=2',
               '--validation_size=10']
COLUMNS = ['model', 'mode', 'ms/step', 'examples/sec', 'x ceiling',
           'mean ms', 'mean x ceiling', 'steps', 'peak RSS MB']


@pytest.fixture(scope='module')
def small_data(tmp_path_factory):
  """60 training and 10 test examples of noise, as gzipped IDX files."""
  data_dir = tmp_path_factory.mktemp('mnist_bench_data')
  rng = np.random.RandomState(0)
  for prefix, count in [('train', 60), ('t10k', 10)]:
    write_idx(data_dir / f'{prefix}-images-idx3-ubyte.gz',
              rng.randint(0, 256, (count, 28, 28)), 2051)
    write_idx(data_dir / f'{prefix}-labels-idx1-ubyte.gz',
              rng.randint(0, 10, count), 2049)
  return data_dir


def _table(stdout: str):
  """The table's header cells and its rows, split on runs of 2+ spaces."""
  lines = stdout.splitlines()
  start = next(i for i, line in enumerate(lines) if line.startswith('model'))
  return [re.split(r'\s{2,}', line.strip()) for line in lines[start:]]


def test_every_model_and_mode_runs_and_is_reported(small_data, tmp_path):
  figures_path = tmp_path / 'figures.json'
  result = run_module('mnist.benchmark', f'--data_dir={small_data}',
                      *QUICK_FLAGS, f'--json={figures_path}', timeout=150)
  header, *rows = _table(result.stdout)
  assert header == COLUMNS
  assert [row[:2] for row in rows] == [
      [name, mode] for name in ['softmax', 'deep'] for mode in MODES]
  assert all(len(row) == len(COLUMNS) for row in rows)
  assert rows[0][4] == '1.00'
  figures = json.loads(figures_path.read_text())
  assert figures['settings']['steps'] == 2
  # Importing mnist turns oneDNN on unless the environment says otherwise.
  assert figures['settings']['TF_ENABLE_ONEDNN_OPTS'] == os.environ.get(
      'TF_ENABLE_ONEDNN_OPTS', '1')
  assert list(figures['models']) == ['softmax', 'deep']
  for name, modes in figures['models'].items():
    assert list(modes) == MODES
    for mode, f in modes.items():
      assert f['batch_size'] == 8
      # train times whole multiples of --summary_every.
      assert f['timed_steps'] == 2, (name, mode)
      assert f['ms_per_step'] > 0 and f['examples_per_sec'] > 0
      assert f['peak_rss_mb'] > 0


def test_modes_and_models_can_be_chosen(small_data):
  result = run_module('mnist.benchmark', f'--data_dir={small_data}',
                      *QUICK_FLAGS, '--models=mlp', '--modes=feed')
  assert [row[:2] for row in _table(result.stdout)[1:]] == [
      ['mlp', 'ceiling'], ['mlp', 'feed']]


@pytest.mark.parametrize('flag, message', [
    ('--modes=feed,warp', 'Error: unknown --modes warp; choose from ceiling, '
                          'model, feed, queue, input, train.'),
    ('--models=deep,lenet', 'Error: unknown --models lenet; choose from '
                            'softmax, deep, mlp.'),
])
def test_unknown_modes_and_models_are_refused(small_data, flag, message):
  result = run_module('mnist.benchmark', f'--data_dir={small_data}', flag,
                      check=False)
  assert result.returncode == 1
  assert message in result.stderr
  assert 'Traceback' not in result.stderr

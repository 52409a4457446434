"""mnist.benchmark: every model and mode runs, and the table and JSON agree
with the step times it recorded (no speeds are asserted: the machine is
shared; tests/test_tfclassic_benchmark.py checks the arithmetic)."""

import json
import os
import re

import pytest

from conftest import (check_benchmark_row, profile_section, run_module,
                      write_mnist_dataset)

# The binary defines absl flags that clash with cifar10.benchmark's, so it
# runs in its own process.
MODES = ['ceiling', 'model', 'feed', 'queue', 'input', 'train']
QUICK_FLAGS = ['--batch_size=8', '--steps=2', '--warmup_steps=1',
               '--rounds=1', '--save_summaries_steps=2', '--log_frequency=2',
               '--validation_size=10']
COLUMNS = ['model', 'mode', 'ms/step', 'examples/sec', 'x ceiling',
           'mean ms', 'mean x ceiling', 'steps', 'peak RSS MB']


@pytest.fixture(scope='module')
def small_data(tmp_path_factory):
  """60 training and 10 test examples."""
  return write_mnist_dataset(tmp_path_factory.mktemp('mnist_bench_data'),
                             train_count=60, test_count=10)


def _table(stdout: str):
  """The table's header cells and its rows, split on runs of 2+ spaces."""
  lines = stdout.splitlines()
  start = next(i for i, line in enumerate(lines) if line.startswith('model'))
  end = lines.index('', start) if '' in lines[start:] else len(lines)
  return [re.split(r'\s{2,}', line.strip()) for line in lines[start:end]]


def test_every_model_and_mode_runs_and_is_reported(small_data, tmp_path):
  figures_path = tmp_path / 'figures.json'
  # The ceiling is left out of --modes: it runs first all the same.
  result = run_module('mnist.benchmark', f'--data_dir={small_data}',
                      *QUICK_FLAGS, f'--modes={",".join(MODES[1:])}',
                      f'--json={figures_path}', '--profile',
                      '--profile_steps=1', timeout=150)
  header, *rows = _table(result.stdout)
  assert header == COLUMNS
  assert [row[:2] for row in rows] == [
      [name, mode] for name in ['softmax', 'deep'] for mode in MODES]
  figures = json.loads(figures_path.read_text())
  assert figures['settings']['steps'] == 2
  # Importing mnist turns oneDNN on unless the environment says otherwise.
  assert figures['settings']['TF_ENABLE_ONEDNN_OPTS'] == os.environ.get(
      'TF_ENABLE_ONEDNN_OPTS', '1')
  assert list(figures['models']) == ['softmax', 'deep']
  table = {(row[0], row[1]): row[2:] for row in rows}
  for name, modes in figures['models'].items():
    assert list(modes) == MODES
    ceiling = modes['ceiling']['step_seconds']
    for mode, f in modes.items():
      assert f['batch_size'] == 8
      # train times whole multiples of --save_summaries_steps.
      check_benchmark_row(f, ceiling, table[name, mode], batch_size=8,
                          timed_steps=2)
      assert f['profiled_steps'] == 1, (name, mode)
  # --profile: one traced step of every row, by op type.
  profiles = profile_section(result.stdout)
  assert list(profiles) == ['%s %s' % (name, mode)
                            for name in ['softmax', 'deep'] for mode in MODES]
  assert any('MatMul' in kind for kind, _, _ in profiles['softmax model'])
  assert any('Conv2D' in kind for kind, _, _ in profiles['deep train'])


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

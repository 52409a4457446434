"""cifar10.benchmark: every mode runs, and the table and JSON agree with the
step times it recorded (no speeds are asserted: the machine is shared;
tests/test_tfclassic_benchmark.py checks the arithmetic)."""
import json
import os
import re
import statistics

import pytest

from conftest import profile_section, run_module

# The modes in the order the table lists them: the default ones and convs.
# (A binary defines its flags when imported, so the tests run it in its own
# process.)
MODES = ['ceiling', 'model', 'input', 'queue', 'feed', 'train', 'eval',
         'keras', 'convs']
COLUMNS = ['mode', 'ms/step', 'examples/sec', 'x ceiling', 'mean ms',
           'mean x ceiling', 'steps', 'peak RSS MB']

QUICK_FLAGS = ['--batch_size=8', '--steps=2', '--warmup_steps=1',
               '--rounds=1', '--save_summaries_steps=2',
               '--min_queue_fraction=0.002']


def _table(stdout: str) -> list[list[str]]:
  """The table's rows below its header, split on runs of 2+ spaces."""
  lines = stdout.splitlines()
  header = next(i for i, line in enumerate(lines) if line.startswith('mode'))
  assert re.split(r'\s{2,}', lines[header].strip()) == COLUMNS
  end = lines.index('', header) if '' in lines[header:] else len(lines)
  return [re.split(r'\s{2,}', line.strip()) for line in lines[header + 1:end]]




def test_every_mode_runs_and_is_reported(cifar_data, tmp_path):
  figures_path = tmp_path / 'figures.json'
  result = run_module('cifar10.benchmark', '--data_dir=%s' % cifar_data,
                      *QUICK_FLAGS, '--json=%s' % figures_path, '--profile',
                      '--modes=%s' % ','.join(MODES),
                      '--profile_steps=1', timeout=180)
  rows = _table(result.stdout)
  # By default the ceiling runs again in a child process with oneDNN off.
  assert [row[0] for row in rows] == MODES + ['ceiling [oneDNN off]']
  figures = json.loads(figures_path.read_text())
  assert figures['settings']['batch_size'] == 8
  # Importing cifar10 turns oneDNN on unless the environment says otherwise.
  assert figures['settings']['TF_ENABLE_ONEDNN_OPTS'] == os.environ.get(
      'TF_ENABLE_ONEDNN_OPTS', '1')
  assert list(figures['modes']) == MODES + ['ceiling [oneDNN off]']
  ceiling = figures['modes']['ceiling']['step_seconds']
  table = {row[0]: row[1:] for row in rows}
  for mode, f in figures['modes'].items():
    seconds = f['step_seconds']
    # train times whole multiples of --save_summaries_steps.
    assert len(seconds) == f['timed_steps'] == 2, mode
    median = statistics.median(seconds)
    assert f['ms_per_step'] == pytest.approx(1000 * median)
    assert f['examples_per_sec'] == pytest.approx(8 / median)
    assert f['ratio_to_ceiling'] == pytest.approx(
        statistics.median(ceiling) / median)
    assert f['mean_ratio_to_ceiling'] == pytest.approx(
        statistics.mean(ceiling) / statistics.mean(seconds))
    # A process that has loaded TensorFlow holds well over 100 MB.
    assert f['peak_rss_mb'] > 100
    assert table[mode] == [
        '%.2f' % f['ms_per_step'], '%.0f' % f['examples_per_sec'],
        '%.2f' % f['ratio_to_ceiling'], '%.2f' % f['mean_ms_per_step'],
        '%.2f' % f['mean_ratio_to_ceiling'], '2',
        '%.0f' % f['peak_rss_mb']], mode
  # --profile: every row but Keras's traced one step; each row's shares of
  # its op time add up, and the JSON holds the same op times.
  profiles = profile_section(result.stdout)
  assert list(profiles) == [m for m in MODES if m != 'keras'] + [
      'ceiling [oneDNN off]']
  for row, lines in profiles.items():
    f = figures['modes'][row]
    assert f['profiled_steps'] == 1
    assert sum(share for _, _, share in lines) == pytest.approx(100, abs=1)
    top = max(f['op_seconds'].items(), key=lambda kv: kv[1])
    assert lines[0][:2] == (top[0], round(1000 * top[1], 2)), row
  assert figures['modes']['keras']['profiled_steps'] == 0
  # The model's own ops are among those traced.
  assert any('Conv2D' in kind for kind, _, _ in profiles['train'])
  assert any('LRN' in kind for kind, _, _ in profiles['ceiling'])
  # The convolutions are run, not folded into constants, and listed by
  # kernel.
  assert {kind.split(' ')[0] for kind, _, _ in profiles['convs']
          if 'Conv2D' in kind} == {'conv1', 'conv1_filter', 'conv2',
                                   'conv2_filter', 'conv2_input'}


def test_variants_add_rows(cifar_data):
  result = run_module('cifar10.benchmark', '--data_dir=%s' % cifar_data,
                      *QUICK_FLAGS, '--modes=model', '--onednn_off=',
                      '--variants=lrn=stock,lrn=stock+intra_op_threads=1')
  assert [row[0] for row in _table(result.stdout)] == [
      'ceiling', 'model', 'model [lrn=stock]',
      'model [lrn=stock+intra_op_threads=1]']


def test_bad_modes_and_variants_are_refused(tmp_path):
  result = run_module('cifar10.benchmark', '--data_dir=%s' % tmp_path,
                      '--variants=lrn=stock,no_such_flag=1', check=False)
  assert result.returncode == 1
  assert "Error: Bad --variants entry 'no_such_flag=1'" in result.stderr
  assert 'Traceback' not in result.stderr


def test_unknown_onednn_off_mode_is_refused(tmp_path):
  result = run_module('cifar10.benchmark', '--data_dir=%s' % tmp_path,
                      '--onednn_off=ceiling,fast', check=False)
  assert result.returncode == 1
  assert 'Error: Unknown modes fast in --modes or --onednn_off' in (
      result.stderr)

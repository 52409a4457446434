"""cifar10.benchmark: every mode runs and the table is complete (no speeds
are asserted: the machine is shared)."""
import json

import pytest
from absl import flags

from cifar10 import benchmark
from cifar10 import runtime
from conftest import run_module


def test_every_mode_and_variant_runs_and_is_reported(cifar_data, tmp_path):
  figures_path = tmp_path / 'figures.json'
  result = run_module(
      'cifar10.benchmark', '--data_dir=%s' % cifar_data, '--batch_size=8',
      '--steps=2', '--warmup_steps=1', '--rounds=1',
      '--save_summaries_steps=2', '--min_queue_fraction=0.002',
      '--variants=lrn=stock', '--json=%s' % figures_path, timeout=120)
  lines = result.stdout.splitlines()
  header = next(i for i, line in enumerate(lines) if line.startswith('mode'))
  assert lines[header].split() == ['mode', 'ms/step', 'examples/sec', 'x',
                                   'ceiling', 'mean', 'ex/sec', 'mean', 'x',
                                   'ceiling', 'steps', 'peak', 'RSS', 'MB']
  rows = [line.rsplit(None, 7) for line in lines[header + 1:]]
  others = list(benchmark.MODES[1:])
  assert [row[0] for row in rows] == ['ceiling'] + others + [
      '%s [lrn=stock]' % mode for mode in others]
  assert rows[0][3] == '1.00'
  figures = json.loads(figures_path.read_text())
  assert figures['settings']['batch_size'] == 8
  assert list(figures['modes']) == [row[0] for row in rows]
  for mode, f in figures['modes'].items():
    # train times whole multiples of --save_summaries_steps.
    assert f['timed_steps'] == 2, mode
    assert f['ms_per_step'] > 0 and f['examples_per_sec'] > 0
    assert f['peak_rss_mb'] > 0


def test_variants_are_checked():
  flags.FLAGS.mark_as_parsed()
  assert benchmark.parse_variant('lrn=stock+precision=bf16') == {
      'lrn': 'stock', 'precision': 'bf16'}
  for bad in ('lrn', 'no_such_flag=1'):
    with pytest.raises(runtime.UserError, match='Bad --variants entry'):
      benchmark.parse_variant(bad)

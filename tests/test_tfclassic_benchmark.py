"""tfclassic.benchmark: the arithmetic on synthetic step times, checked
against figures worked out by hand; rounds, table, JSON and peak RSS."""
import json
import os
import re

import numpy as np
import pytest
import tensorflow as tf

from tfclassic import benchmark
from tfclassic import tracing

# Step seconds of two groups (as mnist's models) and their hand-worked
# medians and means, in seconds:
#   a/ceiling  median 0.012 (middle of 3), mean 0.042/3 = 0.014
#   a/feed     median (0.016 + 0.030)/2 = 0.023, mean 0.096/4 = 0.024
#   b/ceiling  median 0.100, mean 0.360/3 = 0.120
#   b/feed     median 0.050, mean 0.150/3 = 0.050
STEPS = {
    ('a', 'ceiling'): [0.020, 0.010, 0.012],
    ('a', 'feed'): [0.040, 0.010, 0.016, 0.030],
    ('b', 'ceiling'): [0.100, 0.180, 0.080],
    ('b', 'feed'): [0.060, 0.050, 0.040],
}
BATCH_SIZES = {'a': 8, 'b': 50}
PEAKS = {('a', 'ceiling'): 300.4, ('a', 'feed'): 310.6,
         ('b', 'ceiling'): 1200.0, ('b', 'feed'): 1250.4}


def _results() -> dict:
  return {key: benchmark.Result(list(seconds), PEAKS[key])
          for key, seconds in STEPS.items()}


def _summary() -> dict:
  return benchmark.summarize(_results(), lambda key: BATCH_SIZES[key[0]])


def test_summarize_matches_hand_computation():
  figures = _summary()
  assert list(figures) == list(STEPS)
  feed = figures['a', 'feed']
  assert feed.batch_size == 8
  assert feed.ms_per_step == pytest.approx(23.0)
  assert feed.examples_per_sec == pytest.approx(8 / 0.023)
  assert feed.ratio_to_ceiling == pytest.approx(12 / 23)
  assert feed.mean_ms_per_step == pytest.approx(24.0)
  assert feed.mean_examples_per_sec == pytest.approx(8 / 0.024)
  assert feed.mean_ratio_to_ceiling == pytest.approx(14 / 24)
  assert feed.timed_steps == 4
  assert feed.peak_rss_mb == 310.6
  assert feed.step_seconds == STEPS['a', 'feed']
  # Each group is compared with its own ceiling: b's, not a's.
  b_feed = figures['b', 'feed']
  assert b_feed.examples_per_sec == pytest.approx(50 / 0.050)
  assert b_feed.ratio_to_ceiling == pytest.approx(0.100 / 0.050)
  assert b_feed.mean_ratio_to_ceiling == pytest.approx(0.120 / 0.050)
  b_ceiling = figures['b', 'ceiling']
  assert b_ceiling.ms_per_step == pytest.approx(100.0)
  assert b_ceiling.mean_ms_per_step == pytest.approx(120.0)
  assert b_ceiling.ratio_to_ceiling == b_ceiling.mean_ratio_to_ceiling == 1


def test_rows_without_groups_compare_with_the_one_ceiling():
  results = {('ceiling',): benchmark.Result([0.2, 0.4, 0.3], 1.0),
             ('train [lrn=stock]',): benchmark.Result([0.1, 0.3], 1.0),
             ('ceiling [oneDNN off]',): benchmark.Result([0.6], 1.0)}
  figures = benchmark.summarize(results, lambda _: 128)
  # The ceiling's median and mean are both 0.3 s.
  assert figures['train [lrn=stock]', ].ratio_to_ceiling == pytest.approx(
      0.3 / 0.2)
  assert figures['ceiling [oneDNN off]', ].mean_ratio_to_ceiling == (
      pytest.approx(0.5))
  assert figures['ceiling [oneDNN off]', ].examples_per_sec == (
      pytest.approx(128 / 0.6))


def test_table_columns_and_cells():
  table = benchmark.format_table(_summary(), ('model', 'mode'))
  lines = table.splitlines()
  cells = [re.split(r'\s{2,}', line.strip()) for line in lines]
  assert cells[0] == ['model', 'mode', 'ms/step', 'examples/sec',
                      'x ceiling', 'mean ms', 'mean x ceiling', 'steps',
                      'peak RSS MB']
  assert cells[1:] == [
      ['a', 'ceiling', '12.00', '667', '1.00', '14.00', '1.00', '3', '300'],
      ['a', 'feed', '23.00', '348', '0.52', '24.00', '0.58', '4', '311'],
      ['b', 'ceiling', '100.00', '500', '1.00', '120.00', '1.00', '3',
       '1200'],
      ['b', 'feed', '50.00', '1000', '2.00', '50.00', '2.40', '3', '1250'],
  ]
  # Keys align left, figures right: every line ends at the same column.
  assert len({len(line) for line in lines}) == 1
  assert lines[2].startswith('a      feed   ')


def test_table_without_groups_has_one_key_column():
  figures = benchmark.summarize(
      {('ceiling',): benchmark.Result([0.5], 900.0)}, lambda _: 1)
  header, row = benchmark.format_table(figures).splitlines()
  assert header.split()[:2] == ['mode', 'ms/step']
  assert row.split() == ['ceiling', '500.00', '2', '1.00', '500.00', '1.00',
                         '1', '900']


def test_json_round_trip(tmp_path):
  path = str(tmp_path / 'figures.json')
  figures = _summary()
  benchmark.write_json(path, {'steps': 3, 'modes': ['feed']}, 'models',
                       figures)
  with open(path) as f:
    written = json.load(f)
  assert written['settings'] == {'steps': 3, 'modes': ['feed']}
  assert list(written['models']) == ['a', 'b']
  assert list(written['models']['a']) == ['ceiling', 'feed']
  a_feed = written['models']['a']['feed']
  assert a_feed['step_seconds'] == STEPS['a', 'feed']
  assert a_feed['ratio_to_ceiling'] == pytest.approx(12 / 23)
  assert a_feed['mean_ms_per_step'] == pytest.approx(24.0)
  assert benchmark.read_results(path, 'models') == _results()


def test_time_steps_times_only_after_warmup(monkeypatch):
  """On a fake clock that each step advances by a known amount."""
  calls = []
  clock = [100.0]
  monkeypatch.setattr(benchmark.time, 'perf_counter', lambda: clock[0])

  def step(number):
    calls.append(number)
    # Warm-up steps are slow, as first runs are.
    clock[0] += 5.0 if number < 2 else 0.25 * number

  seconds = benchmark.time_steps(step, warmup=2, steps=3)
  assert calls == [0, 1, 2, 3, 4]
  assert seconds == [0.5, 0.75, 1.0]


def test_traced_steps_sum_op_time_by_type_or_by_op():
  """Two ops of one type: by type their times add up; by op each has its
  own line, named, and the profile lines list them."""
  tf1 = tf.compat.v1
  with tf.Graph().as_default(), tf1.Session() as sess:
    data = tf.Variable(np.ones((256, 256), np.float32))
    first = tf.square(data, name='first')
    second = tf.square(first, name='second')
    sess.run(tf1.global_variables_initializer())
    run = lambda _, **trace: sess.run(second, **trace)
    by_type = benchmark.time_steps(run, warmup=1, steps=1, profile_steps=2)
    by_op = benchmark.time_steps(run, warmup=1, steps=1, profile_steps=2,
                                 op_key=tracing.op_name_and_type)
  assert by_type.profiled_steps == by_op.profiled_steps == 2
  assert 'Square' in by_type.op_seconds
  assert {'first (Square)', 'second (Square)'} <= set(by_op.op_seconds)
  assert 'Square' not in by_op.op_seconds
  lines = tracing.format_profile(by_op.op_seconds, 2, top=1)
  assert len(lines) == 3
  assert re.match(r'  \(\d+ others\) +\d+\.\d\d ms +\d+\.\d%$', lines[1])
  assert lines[2].startswith('  op time per step, summed')


def test_run_rounds_alternates_and_accumulates(capsys):
  calls, graphs, rounds = [], [], []

  def mode(name, seconds):
    def run():
      calls.append(name)
      graphs.append(tf.compat.v1.get_default_graph())
      print('a log line')
      return seconds
    return run

  def elsewhere():
    calls.append('child')
    return {('ceiling [oneDNN off]',): benchmark.Result([0.5], 10.0)}

  results = benchmark.run_rounds(
      [(('ceiling',), mode('ceiling', [0.1])),
       (('feed',), mode('feed', [0.2, 0.3]))],
      rounds=2, elsewhere=elsewhere, on_round=rounds.append)
  assert calls == ['ceiling', 'feed', 'child'] * 2
  assert rounds == [1, 2]
  assert list(results) == [('ceiling',), ('feed',), ('ceiling [oneDNN off]',)]
  assert results['feed', ].step_seconds == [0.2, 0.3, 0.2, 0.3]
  assert results['ceiling [oneDNN off]', ] == benchmark.Result([0.5, 0.5],
                                                               10.0)
  # Every run gets a graph of its own, and its prints stay out of the table.
  assert len({id(g) for g in graphs}) == 4
  assert capsys.readouterr().out == ''


def test_result_add_keeps_all_steps_and_the_highest_peak():
  result = benchmark.Result([0.1], 500.0)
  result.add(benchmark.Result([0.2, 0.3], 400.0))
  assert result == benchmark.Result([0.1, 0.2, 0.3], 500.0)


@pytest.mark.skipif(not os.access('/proc/self/clear_refs', os.W_OK),
                    reason='needs Linux /proc to reset the mark')
def test_peak_rss_grows_with_an_allocation_and_resets():
  size_mb = 200
  benchmark.reset_peak_rss()
  before = benchmark.peak_rss_mb()
  array = np.ones(size_mb * 2**20 // 8)
  grown = benchmark.peak_rss_mb()
  del array
  benchmark.reset_peak_rss()
  after_reset = benchmark.peak_rss_mb()
  assert grown - before >= 0.95 * size_mb
  assert grown - after_reset >= 0.9 * size_mb


@pytest.mark.skipif(not os.access('/proc/self/clear_refs', os.W_OK),
                    reason='needs Linux /proc to reset the mark')
def test_measure_reports_the_peak_while_the_mode_ran():
  size_mb = 100

  def allocate():
    np.ones(size_mb * 2**20 // 8)
    return [0.1]

  benchmark.reset_peak_rss()
  before = benchmark.peak_rss_mb()
  result = benchmark.measure(allocate)
  assert result.step_seconds == [0.1]
  assert result.peak_rss_mb - before >= 0.95 * size_mb

"""The benchmark harness: times training steps in modes, sums them up.

A benchmark binary (cifar10.benchmark, mnist.benchmark) defines its flags and
its modes: functions that build a graph in the default graph, run it and
return the seconds of each timed step (time_steps). This module does the
rest, the same way for every binary, without flags of its own:

  measure       one mode in a fresh graph, with its peak resident memory.
  run_rounds    every row's mode in turn, round after round, so that other
                jobs on a shared machine slow all of them alike.
  summarize     each row's median and mean ms per step, examples/sec and
                ratios to its ceiling.
  format_table  the text table; format_profiles: with profiling, each row's
                op time by op type (tracing.op_seconds of traced steps);
                write_json: settings, figures and every step's time
                (read_results reads them back).

Rows are keyed by tuples of strings whose last item names the row (a mode,
perhaps with a variant: 'feed [lrn=stock]') and whose leading items, if
any, group rows (mnist's model). Each row is compared with the CEILING row
of its group: (model, 'ceiling'), or ('ceiling',) without groups.
"""
import contextlib
import dataclasses
import io
import json
import resource
import time
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf

from tfclassic import session as session_lib
from tfclassic import tracing

tf1 = tf.compat.v1

Key = tuple[str, ...]
# A mode: builds its graph in the default graph, returns its step times
# (a Timed, from time_steps, when it also profiled).
Mode = Callable[[], list[float]]

# The yardstick's row in every group.
CEILING = 'ceiling'
# The columns after the key columns, and how each shows its figure.
COLUMNS = (
    ('ms/step', lambda f: '%.2f' % f.ms_per_step),
    ('examples/sec', lambda f: '%.0f' % f.examples_per_sec),
    ('x ceiling', lambda f: '%.2f' % f.ratio_to_ceiling),
    ('mean ms', lambda f: '%.2f' % f.mean_ms_per_step),
    ('mean x ceiling', lambda f: '%.2f' % f.mean_ratio_to_ceiling),
    ('steps', lambda f: '%d' % f.timed_steps),
    ('peak RSS MB', lambda f: '%.0f' % f.peak_rss_mb),
)


def stock_session_config() -> tf1.ConfigProto:
  """TensorFlow's default Session config (soft placement aside): what the
  ceiling runs with, so that tuned configs can be compared with it."""
  return tf1.ConfigProto(allow_soft_placement=True)


@contextlib.contextmanager
def session(config: tf1.ConfigProto) -> Iterator[tf1.Session]:
  """A Session on the default graph, variables initialised, queue runners
  running; stops the runners on leaving."""
  with tf1.Session(config=config) as sess:
    sess.run(tf1.global_variables_initializer())
    with session_lib.queue_runners(sess):
      yield sess


def reset_peak_rss() -> None:
  """Restarts the resident-memory high-water mark (Linux >= 4.0), so that
  peak_rss_mb() covers what runs next; elsewhere a no-op."""
  try:
    with open('/proc/self/clear_refs', 'w') as f:
      f.write('5')
  except OSError:
    pass


def peak_rss_mb() -> float:
  """The resident-memory high-water mark since reset_peak_rss(), in MB.

  Without /proc (not Linux), the peak of the whole process so far.
  """
  try:
    with open('/proc/self/status') as f:
      for line in f:
        if line.startswith('VmHWM:'):
          return int(line.split()[1]) / 1024
  except OSError:
    pass
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Timed(list):
  """The seconds of each timed step, and the op time of the traced ones.

  Attributes:
    op_seconds: op type -> op time summed over the traced steps.
    profiled_steps: how many steps were traced (after the timed ones).
  """

  def __init__(self, seconds: Sequence[float] = (),
               op_seconds: Optional[dict[str, float]] = None,
               profiled_steps: int = 0):
    super().__init__(seconds)
    self.op_seconds = dict(op_seconds or {})
    self.profiled_steps = profiled_steps


class EagerMode:
  """A mode that runs eagerly (a Keras model.fit), so measure() does not
  give it a graph of its own."""

  def __init__(self, run: Mode):
    self._run = run

  def __call__(self) -> list[float]:
    return self._run()


def profile_hook(first_step: int, count: int,
                 timed: Timed) -> tf1.train.SessionRunHook:
  """For modes timing a training loop: traces `count` global steps from
  first_step, adding their op times to `timed`."""

  def add(unused_step, step_stats):
    tracing.add_op_seconds(timed.op_seconds, tracing.op_seconds(step_stats))
    timed.profiled_steps += 1
  return tracing.TraceHook(range(first_step, first_step + count), add)


def time_steps(run_step: Callable[..., Any], warmup: int, steps: int,
               profile_steps: int = 0,
               op_key: Callable[[Any], str] = tracing.op_type) -> Timed:
  """Runs `warmup` untimed steps, times `steps` more, then traces
  `profile_steps` more.

  Args:
    run_step: runs one step, given its number (from 0, warm-up included);
      for a traced step also Session.run's `options` and `run_metadata`,
      as keywords.
    warmup: steps run first and not timed: the first runs of a graph pay
      for its optimisation and memory allocation.
    steps: steps timed.
    profile_steps: steps traced after the timed ones (tracing slows them,
      so they are not timed), summed by op type.
    op_key: what the traced op times are summed by (tracing.op_seconds'
      key): by default the op type.

  Returns:
    The seconds each timed step took, with the traced steps' op times.
  """
  for step in range(warmup):
    run_step(step)
  seconds = Timed()
  for step in range(warmup, warmup + steps):
    start = time.perf_counter()
    run_step(step)
    seconds.append(time.perf_counter() - start)
  for step in range(warmup + steps, warmup + steps + profile_steps):
    tracing.add_op_seconds(seconds.op_seconds, tracing.op_seconds(
        tracing.run_traced(lambda **trace: run_step(step, **trace)),
        op_key))
    seconds.profiled_steps += 1
  return seconds


@dataclasses.dataclass
class Result:
  """One row's measurements, over all rounds so far.

  Attributes:
    step_seconds: the duration of every timed step.
    peak_rss_mb: the largest resident memory seen while the row ran.
    op_seconds: op type -> op time summed over the traced steps.
    profiled_steps: how many steps were traced.
  """
  step_seconds: list[float] = dataclasses.field(default_factory=list)
  peak_rss_mb: float = 0.0
  op_seconds: dict[str, float] = dataclasses.field(default_factory=dict)
  profiled_steps: int = 0

  def add(self, other: 'Result') -> None:
    """Adds another round's measurements."""
    self.step_seconds += other.step_seconds
    self.peak_rss_mb = max(self.peak_rss_mb, other.peak_rss_mb)
    tracing.add_op_seconds(self.op_seconds, other.op_seconds)
    self.profiled_steps += other.profiled_steps


def measure(mode: Mode) -> Result:
  """Runs a mode in a fresh graph; returns its step times and peak RSS.

  The peak includes what earlier modes left allocated: the mark can only be
  restarted at the current resident size.
  """
  reset_peak_rss()
  graph = (contextlib.nullcontext() if isinstance(mode, EagerMode)
           else tf.Graph().as_default())
  # Log lines and queue notices would break up the table.
  with graph, contextlib.redirect_stdout(io.StringIO()):
    seconds = mode()
  if isinstance(seconds, Timed):
    return Result(list(seconds), peak_rss_mb(), seconds.op_seconds,
                  seconds.profiled_steps)
  return Result(list(seconds), peak_rss_mb())


def run_rounds(rows: Sequence[tuple[Key, Mode]], rounds: int,
               elsewhere: Optional[Callable[[], Mapping[Key, Result]]] = None,
               on_round: Optional[Callable[[int], None]] = None
               ) -> dict[Key, Result]:
  """Measures every row once per round, in order, for `rounds` rounds.

  Args:
    rows: each row's key and mode, in the order to run (and report) them.
    elsewhere: called once per round after the rows, for rows measured
      some other way (e.g. in a child process); its rows follow.
    on_round: called with the round number (from 1) after each round.

  Returns:
    {key: Result} over all rounds, in the order run.
  """
  results = {key: Result() for key, _ in rows}
  for round_index in range(rounds):
    for key, mode in rows:
      results[key].add(measure(mode))
    if elsewhere:
      for key, result in elsewhere().items():
        results.setdefault(key, Result()).add(result)
    if on_round:
      on_round(round_index + 1)
  return results


@dataclasses.dataclass(frozen=True)
class Figures:
  """One row's figures, as the table and the JSON show them.

  The median resists the odd step slowed by other jobs; the mean includes
  what happens every N steps (summaries, epoch reshuffles) at its rate.
  Ratios are the ceiling's time over the row's: above 1 is faster.
  """
  batch_size: int
  ms_per_step: float
  examples_per_sec: float
  ratio_to_ceiling: float
  mean_ms_per_step: float
  mean_examples_per_sec: float
  mean_ratio_to_ceiling: float
  timed_steps: int
  peak_rss_mb: float
  step_seconds: list[float]
  op_seconds: dict[str, float] = dataclasses.field(default_factory=dict)
  profiled_steps: int = 0


def ceiling_key(key: Key) -> Key:
  """The key of the row that `key` is compared with."""
  return key[:-1] + (CEILING,)


def summarize(results: Mapping[Key, Result],
              batch_size: Callable[[Key], int]) -> dict[Key, Figures]:
  """Each row's Figures, keyed and ordered as `results`.

  Args:
    results: each row's Result; every group needs its CEILING row.
    batch_size: the examples per step of a row, given its key.
  """
  figures = {}
  for key, result in results.items():
    ceiling = results[ceiling_key(key)].step_seconds
    median = float(np.median(result.step_seconds))
    mean = float(np.mean(result.step_seconds))
    examples = batch_size(key)
    figures[key] = Figures(
        batch_size=examples,
        ms_per_step=1000 * median,
        examples_per_sec=examples / median,
        ratio_to_ceiling=float(np.median(ceiling)) / median,
        mean_ms_per_step=1000 * mean,
        mean_examples_per_sec=examples / mean,
        mean_ratio_to_ceiling=float(np.mean(ceiling)) / mean,
        timed_steps=len(result.step_seconds),
        peak_rss_mb=result.peak_rss_mb,
        step_seconds=list(result.step_seconds),
        op_seconds=dict(result.op_seconds),
        profiled_steps=result.profiled_steps)
  return figures


def format_table(figures: Mapping[Key, Figures],
                 key_headers: Sequence[str] = ('mode',)) -> str:
  """A text table: a header line, then one line per row.

  Args:
    figures: from summarize().
    key_headers: a header for each item of the keys, e.g. ('model',
      'mode'); these columns are left-aligned, the figures right-aligned.
  """
  rows = [tuple(key_headers) + tuple(header for header, _ in COLUMNS)]
  rows += [key + tuple(show(f) for _, show in COLUMNS)
           for key, f in figures.items()]
  widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
  return '\n'.join(
      '  '.join(cell.ljust(width) if i < len(key_headers)
                else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(row, widths)))
      for row in rows)


def format_profiles(figures: Mapping[Key, Figures], top: int = 12) -> str:
  """Each profiled row's op time per step by op type, with its share of the
  row's summed op time (rows without traced steps are left out), under a
  heading line."""
  blocks = ['Op time per step by op type (or by op, where a mode profiles '
            'its ops by name), and its share of the row\'s summed op time:']
  for key, figure in figures.items():
    if figure.profiled_steps:
      blocks.append('%s (%d traced steps; step %.2f ms):\n%s' % (
          ' '.join(key), figure.profiled_steps, figure.ms_per_step,
          '\n'.join(tracing.format_profile(
              figure.op_seconds, figure.profiled_steps, top))))
  return '\n\n'.join(blocks)


def format_settings(settings: Mapping[str, Any]) -> str:
  """The settings as one 'Settings: name=value, ...' line."""
  return 'Settings: ' + ', '.join('%s=%s' % kv for kv in settings.items())


def write_json(path: str, settings: Mapping[str, Any], section: str,
               figures: Mapping[Key, Figures]) -> None:
  """Writes {'settings': ..., section: figures} to path.

  Keys of several items nest: {'deep': {'feed': {...}}}.
  """
  nested = {}
  for key, figure in figures.items():
    group = nested
    for name in key[:-1]:
      group = group.setdefault(name, {})
    group[key[-1]] = dataclasses.asdict(figure)
  with open(path, 'w') as f:
    json.dump({'settings': dict(settings), section: nested}, f, indent=2)


def read_results(path: str, section: str) -> dict[Key, Result]:
  """The {key: Result} of a file that write_json() wrote."""
  with open(path) as f:
    nested = json.load(f)[section]
  results = {}

  def collect(group: dict, prefix: Key) -> None:
    for name, value in group.items():
      if 'step_seconds' in value:
        results[prefix + (name,)] = Result(
            value['step_seconds'], value['peak_rss_mb'],
            value.get('op_seconds', {}), value.get('profiled_steps', 0))
      else:
        collect(value, prefix + (name,))

  collect(nested, ())
  return results

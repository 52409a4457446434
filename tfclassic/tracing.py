"""Where a step's time goes: Chrome traces and op time summed by op type.

A traced step runs with RunOptions(trace_level=FULL_TRACE), and TensorFlow
returns the start and end of every op it ran in RunMetadata.step_stats.
From those:

  chrome_trace  the trace as Chrome trace JSON (timeline-<step>.json), for
                Perfetto (ui.perfetto.dev) or chrome://tracing;
  op_seconds    the op time of each op type (or of each op), summed:
                where the step goes.

TraceHook traces chosen global steps of a MonitoredSession (the training
binaries' --trace_steps); the benchmark harness uses op_seconds for its
--profile. A step that is not traced runs exactly as without the hook.
"""
import os
from typing import Any, Callable, Collection, Mapping

import tensorflow as tf
from tensorflow.python.client import timeline

tf1 = tf.compat.v1

# How a traced step is run.
FULL_TRACE = tf1.RunOptions(trace_level=tf1.RunOptions.FULL_TRACE)
# The files TraceHook writes, by global step.
TRACE_FILE = 'timeline-%d.json'


def op_type(node_stats: Any) -> str:
  """The op type of a traced node, as it ran (oneDNN's rewrites included):
  its timeline label reads 'name = Type(inputs)'."""
  label = node_stats.timeline_label
  if ' = ' in label:
    return label.split(' = ', 1)[1].split('(', 1)[0]
  return node_stats.node_name.split(':', 1)[0]


def op_name_and_type(node_stats: Any) -> str:
  """'name (Type)' of a traced node: a key of op_seconds for profiles of
  named ops rather than op types."""
  return '%s (%s)' % (node_stats.node_name.split(':', 1)[0],
                      op_type(node_stats))


def op_seconds(step_stats: Any,
               key: Callable[[Any], str] = op_type) -> dict[str, float]:
  """The op time of each op type (or other key of a node) in a traced step,
  summed over its ops and devices, in seconds (ops that ran at once on
  several cores all count). A GPU's 'stream:all' device repeats its
  streams' kernels: left out."""
  seconds: dict[str, float] = {}
  for device in step_stats.dev_stats:
    if device.device.endswith('/stream:all'):
      continue
    for node in device.node_stats:
      if node.node_name == '_SOURCE':
        continue
      kind = key(node)
      seconds[kind] = seconds.get(kind, 0.0) + node.all_end_rel_micros / 1e6
  return seconds


def add_op_seconds(total: dict[str, float],
                   more: Mapping[str, float]) -> None:
  """Adds `more` into `total`, op type by op type."""
  for kind, seconds in more.items():
    total[kind] = total.get(kind, 0.0) + seconds


def chrome_trace(step_stats: Any) -> str:
  """The traced step as Chrome trace JSON (a {"traceEvents": [...]} object),
  with the data flow between ops drawn as arrows."""
  return timeline.Timeline(step_stats).generate_chrome_trace_format(
      show_dataflow=True, show_memory=False)


def run_traced(run: Callable[..., Any]) -> Any:
  """Calls run(options=..., run_metadata=...) as a traced step (a
  Session.run with its fetches bound); returns the step's step_stats."""
  metadata = tf1.RunMetadata()
  run(options=FULL_TRACE, run_metadata=metadata)
  return metadata.step_stats


def trace_file_writer(output_dir: str, log_prefix: str = ''
                      ) -> Callable[[int, Any], None]:
  """What TraceHook calls for --trace_steps: writes the step's Chrome trace
  to output_dir/timeline-<step>.json and says so."""

  def write(step: int, step_stats: Any) -> None:
    path = os.path.join(output_dir, TRACE_FILE % step)
    with tf.io.gfile.GFile(path + '.tmp', 'w') as f:
      f.write(chrome_trace(step_stats))
    tf.io.gfile.rename(path + '.tmp', path, overwrite=True)
    print('%sWrote the trace of step %d to %s (open it in ui.perfetto.dev '
          'or chrome://tracing).' % (log_prefix, step, path), flush=True)
  return write


class TraceHook(tf1.train.SessionRunHook):
  """Traces the runs whose global step, before the run, is in `steps`.

  The step numbers are the log line's: the run logged as `step N` is
  traced for N. In one process they are exact; in a cluster, where other
  workers move the global step too, a worker traces the first of its runs
  at or past each step.
  """

  def __init__(self, steps: Collection[int],
               on_trace: Callable[[int, Any], None]):
    self._pending = sorted(set(steps))
    self._on_trace = on_trace

  def begin(self):
    self._global_step = tf1.train.get_global_step()
    self._step = None
    self._tracing = False

  def after_create_session(self, session, coord):
    self._step = session.run(self._global_step)
    self._pending = [s for s in self._pending if s >= self._step]

  def before_run(self, run_context):
    self._tracing = bool(self._pending) and self._step >= self._pending[0]
    return tf1.train.SessionRunArgs(
        self._global_step, options=FULL_TRACE if self._tracing else None)

  def after_run(self, run_context, run_values):
    step = self._step
    # The fetch is the global step before or after this run's increment.
    self._step = max(self._step + 1, run_values.results)
    if self._tracing:
      self._pending = [s for s in self._pending if s > step]
      self._on_trace(step, run_values.run_metadata.step_stats)


def format_profile(op_seconds_: Mapping[str, float], steps: int,
                   top: int = 12) -> list[str]:
  """Lines of the `top` op types (or other keys of op_seconds) by op time
  per step, with their share of the summed op time, and one line for the
  rest."""
  total = sum(op_seconds_.values())
  if not total or not steps:
    return ['  (no op was traced)']
  ranked = sorted(op_seconds_.items(), key=lambda kv: -kv[1])
  width = max([34] + [len(kind) for kind, _ in ranked[:top]])
  lines = ['  %-*s %9.2f ms %5.1f%%' % (width, kind, 1000 * s / steps,
                                         100 * s / total)
           for kind, s in ranked[:top]]
  rest = sum(s for _, s in ranked[top:])
  if rest:
    lines.append('  %-*s %9.2f ms %5.1f%%' % (
        width, '(%d others)' % (len(ranked) - top), 1000 * rest / steps,
        100 * rest / total))
  lines.append('  %-*s %9.2f ms' % (width, 'op time per step, summed',
                                    1000 * total / steps))
  return lines


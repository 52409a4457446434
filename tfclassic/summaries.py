"""Summaries whose TensorBoard tag is exactly the one asked for.

tf.compat.v1.summary.scalar derives its tag from a unique op name, so a
summary named after its tensor ('total_loss') shows in TensorBoard as
'total_loss_1', and each tower of a multi-tower model adds its own prefix.
"""
import contextlib
import os
import re
import socket
import threading
import time
from typing import Iterator, Mapping, Optional

import tensorflow as tf

from tfclassic import errors
from tfclassic import histograms

tf1 = tf.compat.v1


def strip_scope(name: str, scope_prefix: str) -> str:
  """`name` without scopes `<scope_prefix>_<N>/`, e.g. tower_0/conv1 -> conv1.

  One tag then serves every tower, and matches the single-device model's.
  """
  return re.sub('%s_[0-9]*/' % re.escape(scope_prefix), '', name)


def scalar_summary(tag: str, value: tf.Tensor) -> tf.Tensor:
  """Adds a scalar summary tagged exactly `tag` to the SUMMARIES collection."""
  summary = tf.raw_ops.ScalarSummary(tags=tag, values=value,
                                     name='scalar_summary')
  tf1.add_to_collection(tf1.GraphKeys.SUMMARIES, summary)
  return summary


def histogram_summary(tag: str, values: tf.Tensor) -> tf.Tensor:
  """Adds a histogram summary tagged exactly `tag` (see scalar_summary),
  the same as HistogramSummary's but computed many times faster
  (tfclassic.histograms)."""
  summary = histograms.histogram_summary(tag, values)
  tf1.add_to_collection(tf1.GraphKeys.SUMMARIES, summary)
  return summary


def scalars_proto(values: Mapping[str, float]) -> tf1.Summary:
  """A Summary protocol buffer of Python scalars, for values computed
  outside the graph (precision, accuracy)."""
  summary = tf1.Summary()
  for tag, value in values.items():
    summary.value.add(tag=tag, simple_value=float(value))
  return summary


# The thread of tf.compat.v1.summary.FileWriter that writes the event file.
_WRITER_THREAD = 'EventLoggerThread'


@contextlib.contextmanager
def writer_errors_raised_once() -> Iterator[None]:
  """Within it, a FileWriter's failure to write (a full disk, say) is not
  also logged and printed as a thread's traceback: the writer raises the
  same error again where it is next flushed or given an event, which is
  where the program reports it."""
  previous = threading.excepthook

  def hook(args):
    if args.thread is None or args.thread.name != _WRITER_THREAD:
      previous(args)

  threading.excepthook = hook
  try:
    with errors.without_tf_log_lines('EventFileWriter writer thread error'):
      yield
  finally:
    threading.excepthook = previous


def wait_for_a_new_event_file_name(log_dir: str) -> None:
  """Returns once an event file opened in log_dir cannot take the name of
  one already there (at most a second).

  Event files are named after the second they are opened in and the host,
  and opening one truncates a file of that name: a second writer opened on
  log_dir within the same second as the last (a quickly resumed run, a
  second evaluation, a user's loop) would erase what the first wrote.
  """
  host = socket.gethostname()
  while os.path.exists(os.path.join(
      log_dir, 'events.out.tfevents.%010d.%s' % (int(time.time()), host))):
    time.sleep(0.05)


def file_writer(log_dir: str, graph: Optional[tf.Graph] = None
                ) -> tf1.summary.FileWriter:
  """tf.compat.v1.summary.FileWriter(log_dir, graph) on an event file of its
  own (see wait_for_a_new_event_file_name)."""
  if os.path.isdir(log_dir):
    wait_for_a_new_event_file_name(log_dir)
  return tf1.summary.FileWriter(log_dir, graph)


def write_scalars(log_dir: str, step: int, values: Mapping[str, float]
                  ) -> None:
  """Appends `values` at `step` to an event file in log_dir, from any
  context (FileWriter itself refuses to run eagerly)."""
  with tf.Graph().as_default():
    writer = file_writer(log_dir)
    try:
      writer.add_summary(scalars_proto(values), step)
    finally:
      writer.close()

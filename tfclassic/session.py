"""The Session config every binary runs with.

Soft placement lets graphs written for /gpu:N run on machines with fewer
GPUs (or none); bf16 turns on oneDNN's bfloat16 rewrite of the graph.
"""
import contextlib
import functools
import sys
from typing import Iterator, Optional

import tensorflow as tf
from tensorflow.core.protobuf import rewriter_config_pb2

tf1 = tf.compat.v1

# CPU flags (as /proc/cpuinfo names them) of native bfloat16 arithmetic.
BF16_CPU_FLAGS = ('avx512_bf16', 'amx_bf16')

# How long stopping queue runners waits for their threads.
QUEUE_STOP_SECS = 10


def session_config(log_device_placement: bool = False,
                   intra_op_threads: int = 0,
                   inter_op_threads: int = 0,
                   bf16: bool = False) -> tf1.ConfigProto:
  """A ConfigProto with soft placement and the given threads.

  Args:
    log_device_placement: log the device each op runs on.
    intra_op_threads: threads one op may use (0: one per core).
    inter_op_threads: ops run at the same time (0: one per core; -1: each op
      in the calling thread, which suits tiny models).
    bf16: let oneDNN run the graph in bfloat16 where it is safe (grappler's
      auto mixed precision); variables stay float32. Warns once where the
      CPU only emulates bfloat16.
  """
  config = tf1.ConfigProto(
      allow_soft_placement=True,
      log_device_placement=log_device_placement,
      intra_op_parallelism_threads=intra_op_threads,
      inter_op_parallelism_threads=inter_op_threads)
  if bf16:
    if cpu_has_bf16() is False:
      _warn_bf16_emulated()
    rewrites = config.graph_options.rewrite_options
    rewrites.auto_mixed_precision_onednn_bfloat16 = (
        rewriter_config_pb2.RewriterConfig.ON)
  return config


@contextlib.contextmanager
def queue_runners(sess: tf1.Session) -> Iterator[None]:
  """Runs the graph's queue runners for the duration, then stops them.

  Local variables (the epoch counters of one-pass inputs) are initialized
  first. A reader thread that does not stop fails the run within
  QUEUE_STOP_SECS instead of TensorFlow's default two minutes.
  """
  sess.run(tf1.local_variables_initializer())
  coord = tf1.train.Coordinator()
  threads = tf1.train.start_queue_runners(sess, coord)
  try:
    yield
  finally:
    coord.request_stop()
    coord.join(threads, stop_grace_period_secs=QUEUE_STOP_SECS)


def cpu_has_bf16(cpuinfo: str = '/proc/cpuinfo') -> Optional[bool]:
  """Whether the CPU computes bfloat16 natively (AVX512-BF16 or AMX).

  Args:
    cpuinfo: Linux's CPU description file.

  Returns:
    None where the file cannot be read (not Linux).
  """
  try:
    with open(cpuinfo) as f:
      words = set(f.read().split())
  except OSError:
    return None
  return any(flag in words for flag in BF16_CPU_FLAGS)


@functools.cache
def _warn_bf16_emulated() -> None:
  print('Warning: bfloat16 on a CPU without AVX512-BF16 or AMX: oneDNN '
        'emulates it here, which is many times slower than fp32. Use '
        '--precision=fp32.', file=sys.stderr, flush=True)

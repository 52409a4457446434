"""What every cifar10 binary shares: the data flags, Session config, exits.

Training binaries add their own flags and loop in cifar10.training; eval,
predict and export add cifar10.serving.
"""
import contextlib
import functools
import sys
from typing import Iterator, Optional

import tensorflow as tf
from absl import flags
from tensorflow.core.protobuf import rewriter_config_pb2

from cifar10 import input as cifar10_input
from cifar10 import model

tf1 = tf.compat.v1

flags.DEFINE_string('data_dir', '/tmp/cifar10_data',
                    'Folder with the CIFAR-10 binary files (or their '
                    'cifar-10-batches-bin/ folder); downloaded there if '
                    'missing.')
flags.DEFINE_string('data_url', cifar10_input.DATA_URL,
                    'Where to download cifar-10-binary.tar.gz from when '
                    '--data_dir has no data.')
flags.DEFINE_integer('batch_size', 128, 'Examples per batch (per tower).')
flags.DEFINE_boolean('use_fp16', False, 'Run the model in float16.')
flags.DEFINE_boolean('log_device_placement', False,
                     'Log the device each op runs on.')
flags.DEFINE_enum('lrn', 'banded', list(model.LRN_IMPLEMENTATIONS),
                  'How the two local response normalization layers are '
                  'computed; the same function and gradient either way. '
                  'banded: sums over the depth window as a matrix product '
                  '(cifar10/lrn.py), ~1.3x faster training on CPU. stock: '
                  'tf.nn.lrn.')
flags.DEFINE_enum('precision', 'fp32', ['fp32', 'bf16'],
                  'bf16: let oneDNN run the model in bfloat16 where it is '
                  'safe (grappler\'s auto mixed precision), for CPUs with '
                  'AVX512-BF16 or AMX (elsewhere it is emulated and many '
                  'times slower: a warning says so); variables, their '
                  'moving averages and checkpoints stay float32. Not with '
                  '--use_fp16.')
flags.DEFINE_integer('intra_op_threads', 0,
                     'Threads one op may use (0: one per core).')
flags.DEFINE_integer('inter_op_threads', 0,
                     'Ops run at the same time (0: one per core).')

FLAGS = flags.FLAGS

# CPU flags (as /proc/cpuinfo names them) of native bfloat16 arithmetic.
BF16_CPU_FLAGS = ('avx512_bf16', 'amx_bf16')


class UserError(Exception):
  """A problem the user can fix; the message says how."""


def session_config() -> tf1.ConfigProto:
  """The Session config of every binary, from the flags.

  Soft placement lets /gpu:N graphs run on machines with fewer GPUs.
  --precision=bf16 turns on oneDNN's bfloat16 rewrite of the graph.

  Raises:
    UserError: for --precision=bf16 with --use_fp16.
  """
  config = tf1.ConfigProto(
      allow_soft_placement=True,
      log_device_placement=FLAGS.log_device_placement,
      intra_op_parallelism_threads=FLAGS.intra_op_threads,
      inter_op_parallelism_threads=FLAGS.inter_op_threads)
  if FLAGS.precision == 'bf16':
    if FLAGS.use_fp16:
      raise UserError('--precision=bf16 and --use_fp16 exclude each other: '
                      'bf16 keeps float32 variables and computes in '
                      'bfloat16; drop one of them.')
    if cpu_has_bf16() is False:
      _warn_bf16_emulated()
    rewrites = config.graph_options.rewrite_options
    rewrites.auto_mixed_precision_onednn_bfloat16 = (
        rewriter_config_pb2.RewriterConfig.ON)
  return config


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
  # Measured on a 2-core AVX2 AMD EPYC: a training step ran 19x slower.
  print('Warning: --precision=bf16 on a CPU without AVX512-BF16 or AMX: '
        'oneDNN emulates bfloat16 here, which is many times slower than '
        'fp32. Use --precision=fp32.', file=sys.stderr, flush=True)


def num_classes() -> int:
  """Classes in --data_dir: one per line of batches.meta.txt, else 10."""
  return len(cifar10_input.read_class_names(FLAGS.data_dir))


def model_input(images: tf.Tensor) -> tf.Tensor:
  """Prepares the model for a binary's input: call it before inference().

  Applies --lrn to the model and casts images to the model's dtype (float16
  with --use_fp16).
  """
  model.set_lrn_implementation(FLAGS.lrn)
  return tf.cast(images, tf.float16) if FLAGS.use_fp16 else images


@contextlib.contextmanager
def exit_on_user_error() -> Iterator[None]:
  """Ends the program with one message, not a traceback, for fixable errors."""
  try:
    yield
  except (cifar10_input.DataError, UserError) as e:
    sys.exit('Error: %s' % e)

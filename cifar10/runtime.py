"""What every cifar10 binary shares: the data flags, Session config, exits.

Training binaries add their own flags and loop in cifar10.training; eval,
predict and export use only this.
"""
import contextlib
import sys
from typing import Iterator

import tensorflow as tf
from absl import flags

from cifar10 import input as cifar10_input

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

FLAGS = flags.FLAGS


class UserError(Exception):
  """A problem the user can fix; the message says how."""


def session_config() -> tf1.ConfigProto:
  """Soft placement lets /gpu:N graphs run on machines with fewer GPUs."""
  return tf1.ConfigProto(allow_soft_placement=True,
                         log_device_placement=FLAGS.log_device_placement)


def num_classes() -> int:
  """Classes in --data_dir: one per line of batches.meta.txt, else 10."""
  return len(cifar10_input.read_class_names(FLAGS.data_dir))


def model_input(images: tf.Tensor) -> tf.Tensor:
  """Casts images to the model's dtype (float16 with --use_fp16)."""
  return tf.cast(images, tf.float16) if FLAGS.use_fp16 else images


@contextlib.contextmanager
def exit_on_user_error() -> Iterator[None]:
  """Ends the program with one message, not a traceback, for fixable errors."""
  try:
    yield
  except (cifar10_input.DataError, UserError) as e:
    sys.exit('Error: %s' % e)

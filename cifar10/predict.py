"""Classifies your own images with a trained model: `python -m cifar10.predict`.

  python -m cifar10.predict cat.jpg ship.png --checkpoint_dir=/tmp/cifar10_train
  python -m cifar10.predict --record=test_batch.bin:7

Prints one line per image: its top --top_k classes with their probabilities.
Images (PNG, JPEG, GIF, BMP or WebP, any size) are resized to 32x32 like the
records, then preprocessed as evaluation does (central 24x24 crop,
standardization) and scored with the moving-average weights. Class names and
their number come from --data_dir's batches.meta.txt. An image that cannot be
read is reported on stderr, the others are still classified, and the exit
code is 1.

The graph comes from cifar10.serving, as cifar10.export's does, so an
exported model and this binary give the same probabilities.
"""
import os
import re
import sys
from typing import Sequence

import numpy as np
import tensorflow as tf
from absl import app, flags

from cifar10 import input as cifar10_input
from cifar10 import runtime
from cifar10 import serving

tf1 = tf.compat.v1

flags.DEFINE_integer('top_k', 3, 'How many of the most probable classes to '
                     'print per image.')
flags.DEFINE_multi_string('record', [],
                          'FILE:INDEX: also classify record INDEX (from 0) '
                          'of the CIFAR-10 binary FILE (a path, or a file '
                          'name in --data_dir). Repeat for more records.')

flags.adopt_module_key_flags(runtime)
flags.adopt_module_key_flags(serving)

FLAGS = flags.FLAGS

def read_record(spec: str, data_dir: str,
                num_classes: int) -> tuple[np.ndarray, int]:
  """The image and label of a record given as FILE:INDEX.

  Args:
    spec: "FILE:INDEX"; FILE is a path, or a file name in data_dir's batches.
    data_dir: as --data_dir.
    num_classes: labels must be below this.

  Returns:
    (uint8 [32, 32, 3], label).

  Raises:
    ValueError: spec is not FILE:INDEX.
    IndexError: no such record.
    cifar10_input.DataError: the file is missing or not CIFAR-10 records.
  """
  filename, _, index = spec.rpartition(':')
  if not filename or not re.fullmatch('-?[0-9]+', index):
    raise ValueError('expected FILE:INDEX, e.g. test_batch.bin:0')
  if not os.path.exists(filename):
    in_data_dir = os.path.join(cifar10_input.find_batches_dir(data_dir),
                               filename)
    filename = in_data_dir if os.path.exists(in_data_dir) else filename
  return cifar10_input.Cifar10Reader([filename], num_classes)[int(index)]


def format_prediction(name: str, probabilities: np.ndarray,
                      class_names: Sequence[str], top_k: int) -> str:
  """"NAME: class p, class p, ..." with the top_k classes, most probable
  first."""
  top = np.argsort(-probabilities, kind='stable')[:top_k]
  return '%s: %s' % (name, ', '.join(
      '%s %.4f' % (class_names[c], probabilities[c]) for c in top))


def predict(image_paths: Sequence[str], records: Sequence[str]) -> int:
  """Prints the top classes of each image and record, as the flags ask.

  Args:
    image_paths: image files.
    records: "FILE:INDEX" record specs.

  Returns:
    The number of images and records that could not be read (each reported
    on stderr).

  Raises:
    runtime.UserError: nothing to classify, or no usable checkpoint.
  """
  if not image_paths and not records:
    raise runtime.UserError('Nothing to classify: give image files, or '
                            '--record=FILE:INDEX for a record of a .bin file.')
  class_names = cifar10_input.read_class_names(FLAGS.data_dir)
  names, images, failures = [], [], 0

  def fail(name: str, why: str) -> None:
    nonlocal failures
    failures += 1
    print('Error: %s: %s' % (name, why), file=sys.stderr, flush=True)

  with serving.Classifier(FLAGS.checkpoint_dir, len(class_names)) as classifier:
    for path in image_paths:
      try:
        with open(path, 'rb') as f:
          images.append(classifier.decode(f.read()))
        names.append(path)
      except OSError as e:
        fail(path, e.strerror or str(e))
      except tf.errors.InvalidArgumentError as e:
        fail(path, 'cannot decode the image: %s' % serving.op_error_reason(e))
    for spec in records:
      try:
        image, label = read_record(spec, FLAGS.data_dir, len(class_names))
      except (ValueError, IndexError, cifar10_input.DataError) as e:
        fail(spec, str(e))
        continue
      images.append(image)
      names.append('%s (label %s)' % (spec, class_names[label]))
    if images:
      probabilities = classifier.probabilities(np.stack(images),
                                               FLAGS.batch_size)
      for name, row in zip(names, probabilities):
        print(format_prediction(name, row, class_names, FLAGS.top_k))
  return failures


def main(argv: list[str]) -> int:
  with runtime.exit_on_user_error():
    return 1 if predict(argv[1:], FLAGS.record) else 0


if __name__ == '__main__':
  app.run(main)

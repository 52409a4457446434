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
import sys
from typing import Sequence

import numpy as np
import tensorflow as tf
from absl import app, flags

from cifar10 import data
from cifar10 import flags as cifar10_flags
from cifar10 import serving
from tfclassic import checkpoints
from tfclassic import errors
from tfclassic import flags as shared_flags

# More than any class count: --top_k above the count prints every class.
MAX_TOP_K = 1000

cifar10_flags.define_data_flags(download=False)
cifar10_flags.define_model_flags()
shared_flags.define_session_flags()
cifar10_flags.define_checkpoint_flag()
flags.DEFINE_integer('top_k', 3, 'How many of the most probable classes to '
                     'print per image (all of them, if there are fewer).',
                     lower_bound=1, upper_bound=MAX_TOP_K)
flags.DEFINE_multi_string('record', [],
                          'FILE:INDEX: also classify record INDEX (from 0) '
                          'of the CIFAR-10 binary FILE (a path, or a file '
                          'name in --data_dir). Repeat for more records.')
flags.adopt_module_key_flags(cifar10_flags)
flags.adopt_module_key_flags(shared_flags)

FLAGS = flags.FLAGS


def predict(image_paths: Sequence[str], records: Sequence[str]) -> int:
  """Prints the top classes of each image and record, as the flags ask.

  Args:
    image_paths: image files.
    records: "FILE:INDEX" record specs.

  Returns:
    The number of images and records that could not be read (each reported
    on stderr).

  Raises:
    errors.UserError: nothing to classify, or no usable checkpoint.
  """
  if not image_paths and not records:
    raise errors.UserError('Nothing to classify: give image files, or '
                           '--record=FILE:INDEX for a record of a .bin file.')
  names, images, failures = [], [], 0

  def fail(name: str, why: str) -> None:
    nonlocal failures
    failures += 1
    print('Error: %s: %s' % (name, why), file=sys.stderr, flush=True)

  with serving.Classifier(
      FLAGS.checkpoint_dir, FLAGS.data_dir, cifar10_flags.model_options(),
      cifar10_flags.session_config_from_flags()) as classifier:
    class_names = classifier.class_names
    for path in image_paths:
      try:
        with open(path, 'rb') as f:
          images.append(classifier.decode(f.read()))
        names.append(path)
      except OSError as e:
        fail(path, e.strerror or str(e))
      except tf.errors.InvalidArgumentError as e:
        fail(path, 'cannot decode the image: %s'
             % checkpoints.op_error_reason(e))
    for spec in records:
      try:
        image, label = data.read_record(spec, FLAGS.data_dir,
                                        len(class_names))
      except (ValueError, IndexError, errors.DataError) as e:
        fail(spec, str(e))
        continue
      images.append(image)
      names.append('%s (label %s)' % (spec, class_names[label]))
    if images:
      probabilities = classifier.probabilities(np.stack(images),
                                               FLAGS.batch_size)
      for name, row in zip(names, probabilities):
        print(serving.format_prediction(name, row, class_names, FLAGS.top_k))
  return failures


def main(argv: list[str]) -> int:
  with errors.exit_on_error():
    return 1 if predict(argv[1:], FLAGS.record) else 0


if __name__ == '__main__':
  app.run(main)

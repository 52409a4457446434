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

The graph builders here are shared with cifar10.export, so an exported model
and this binary give the same probabilities.
"""
import os
import re
import sys
from typing import Sequence

import numpy as np
import tensorflow as tf
from absl import app, flags

from cifar10 import input as cifar10_input
from cifar10 import model
from cifar10 import runtime

tf1 = tf.compat.v1

flags.DEFINE_string('checkpoint_dir', '/tmp/cifar10_train',
                    'The train_dir whose latest checkpoint is used.')
flags.DEFINE_integer('top_k', 3, 'How many of the most probable classes to '
                     'print per image.')
flags.DEFINE_multi_string('record', [],
                          'FILE:INDEX: also classify record INDEX (from 0) '
                          'of the CIFAR-10 binary FILE (a path, or a file '
                          'name in --data_dir). Repeat for more records.')

flags.adopt_module_key_flags(runtime)

FLAGS = flags.FLAGS

# The shape of one record's image, which the exported model takes too.
RECORD_SHAPE = [cifar10_input.ORIGINAL_SIZE, cifar10_input.ORIGINAL_SIZE,
                cifar10_input.DEPTH]


def resize_image(image: tf.Tensor) -> tf.Tensor:
  """Resizes an image of any size to the records' 32x32 (aspect not kept).

  Bilinear with antialiasing, so large photos are averaged rather than
  sampled. The result is rounded back to uint8, so predict, the exported
  model (which takes uint8) and scripts/images_to_cifar10.py all see the same
  pixels. A 32x32 image comes back unchanged.

  Args:
    image: uint8 [height, width, 3].

  Returns:
    uint8 [32, 32, 3].
  """
  resized = tf.image.resize(image, RECORD_SHAPE[:2], antialias=True)
  return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)


def decode_image(contents: tf.Tensor) -> tf.Tensor:
  """Decodes an image file's bytes and resizes it to 32x32.

  Args:
    contents: string scalar, a PNG, JPEG, GIF (first frame), BMP or WebP.
      Grey images become RGB; an alpha channel is dropped.

  Returns:
    uint8 [32, 32, 3].
  """
  image = tf.io.decode_image(contents, channels=cifar10_input.DEPTH,
                             expand_animations=False)
  return resize_image(image)


def class_probabilities(images: tf.Tensor, num_classes: int) -> tf.Tensor:
  """The model's class probabilities for 32x32 images, preprocessing included.

  Builds the model's variables: call it once in a fresh graph, then
  restore_average_weights().

  Args:
    images: uint8 [N, 32, 32, 3], e.g. records or decode_image() results.
    num_classes: the model's number of classes.

  Returns:
    float32 [N, num_classes].
  """
  with tf1.name_scope('preprocess'):
    preprocessed = tf.map_fn(cifar10_input.eval_image,
                             tf.cast(images, tf.float32))
  logits = model.inference(runtime.model_input(preprocessed), num_classes)
  return tf.nn.softmax(tf.cast(logits, tf.float32))


def op_error_reason(error: tf.errors.OpError) -> str:
  """The reason a graph op failed, e.g. "Invalid PNG data, size 200".

  It is the message's last unindented line: the lines before it place the op
  in the graph and the program, those after it are indented.
  """
  return [line for line in error.message.splitlines()
          if line and not line[0].isspace()][-1]


def restore_average_weights(sess: tf1.Session, checkpoint_dir: str,
                            num_classes: int) -> str:
  """Restores the latest checkpoint's moving averages into the model weights.

  Args:
    sess: a session of the graph class_probabilities() was built in.
    checkpoint_dir: a train_dir.
    num_classes: the graph's number of classes, to say so if the checkpoint
      has another.

  Returns:
    The checkpoint's path.

  Raises:
    runtime.UserError: no checkpoint, or one that cannot be restored.
  """
  checkpoint = tf1.train.latest_checkpoint(checkpoint_dir)
  if checkpoint is None:
    raise runtime.UserError(
        'No checkpoint found in %s. Train first (python -m cifar10.train '
        '--train_dir=%s) or point --checkpoint_dir at a train_dir.'
        % (checkpoint_dir, checkpoint_dir))
  saver = tf1.train.Saver(model.variables_to_restore())
  try:
    saved_shapes = tf.train.load_checkpoint(
        checkpoint).get_variable_to_shape_map()
    saved_classes = saved_shapes.get('softmax_linear/biases', [num_classes])
    if saved_classes[0] != num_classes:
      raise runtime.UserError(
          '%s has %d classes, but --data_dir=%s names %d: pass the --data_dir '
          'the model was trained on (its batches.meta.txt gives the classes).'
          % (checkpoint, saved_classes[0], FLAGS.data_dir, num_classes))
    saver.restore(sess, checkpoint)
  except (tf.errors.DataLossError, tf.errors.OutOfRangeError,
          IndexError) as e:
    raise runtime.UserError('%s is corrupt or truncated: %s'
                            % (checkpoint, e)) from e
  except (tf.errors.NotFoundError, tf.errors.InvalidArgumentError) as e:
    raise runtime.UserError(
        '%s does not match this model (was it written by another model or '
        '--use_fp16 setting?): %s' % (checkpoint, op_error_reason(e))) from e
  return checkpoint


class Classifier:
  """A checkpoint's model in its own graph and session, fed from numpy."""

  def __init__(self, checkpoint_dir: str, num_classes: int):
    """Builds the graph and restores the moving-average weights.

    Raises:
      runtime.UserError: see restore_average_weights().
    """
    self._graph = tf.Graph()
    with self._graph.as_default():
      self._contents = tf1.placeholder(tf.string, [])
      self._decoded = decode_image(self._contents)
      self._images = tf1.placeholder(tf.uint8, [None] + RECORD_SHAPE)
      self._probabilities = class_probabilities(self._images, num_classes)
      self._sess = tf1.Session(config=runtime.session_config())
      try:
        self.checkpoint = restore_average_weights(self._sess, checkpoint_dir,
                                                  num_classes)
      except runtime.UserError:
        self._sess.close()
        raise

  def __enter__(self) -> 'Classifier':
    return self

  def __exit__(self, *unused_exc) -> None:
    self._sess.close()

  def decode(self, contents: bytes) -> np.ndarray:
    """An image file's bytes as uint8 [32, 32, 3]; see decode_image().

    Raises:
      tf.errors.InvalidArgumentError: not an image TensorFlow can decode.
    """
    return self._sess.run(self._decoded, {self._contents: contents})

  def probabilities(self, images: np.ndarray,
                    batch_size: int = 128) -> np.ndarray:
    """Class probabilities [N, num_classes] of uint8 images [N, 32, 32, 3]."""
    return np.concatenate(
        [self._sess.run(self._probabilities,
                        {self._images: images[i:i + batch_size]})
         for i in range(0, len(images), batch_size)])


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

  with Classifier(FLAGS.checkpoint_dir, len(class_names)) as classifier:
    for path in image_paths:
      try:
        with open(path, 'rb') as f:
          images.append(classifier.decode(f.read()))
        names.append(path)
      except OSError as e:
        fail(path, e.strerror or str(e))
      except tf.errors.InvalidArgumentError as e:
        fail(path, 'cannot decode the image: %s' % op_error_reason(e))
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

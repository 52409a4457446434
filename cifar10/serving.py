"""A trained model as a function of images: restore, preprocess, classify.

What cifar10.eval, cifar10.predict and cifar10.export share: the
--checkpoint_dir flag, restoring a checkpoint's moving-average weights with
clear errors, and the graph from uint8 32x32 images to class probabilities
(the same preprocessing as evaluation), so that predict and an exported model
give the same probabilities.
"""
import numpy as np
import tensorflow as tf
from absl import flags

from cifar10 import input as cifar10_input
from cifar10 import model
from cifar10 import runtime

tf1 = tf.compat.v1

flags.DEFINE_string('checkpoint_dir', '/tmp/cifar10_train',
                    'The train_dir whose checkpoints are used.')

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


def latest_checkpoint(checkpoint_dir: str) -> str:
  """The newest checkpoint in checkpoint_dir.

  Raises:
    runtime.UserError: there is none.
  """
  checkpoint = tf1.train.latest_checkpoint(checkpoint_dir)
  if checkpoint is None:
    raise runtime.UserError(
        'No checkpoint found in %s. Train first (python -m cifar10.train '
        '--train_dir=%s) or point --checkpoint_dir at a train_dir.'
        % (checkpoint_dir, checkpoint_dir))
  return checkpoint


def restore(saver: tf1.train.Saver, sess: tf1.Session, checkpoint: str,
            num_classes: int) -> None:
  """Restores a checkpoint, explaining in one message why it cannot be.

  Args:
    saver: made with model.variables_to_restore().
    sess: a session of the saver's graph.
    checkpoint: the checkpoint's path.
    num_classes: the graph's number of classes, to say so if the checkpoint
      has another.

  Raises:
    runtime.UserError: the checkpoint is corrupt or of another model.
  """
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


def restore_average_weights(sess: tf1.Session, checkpoint_dir: str,
                            num_classes: int) -> str:
  """Restores the latest checkpoint's moving averages into the model weights.

  Args:
    sess: a session of the graph class_probabilities() was built in.
    checkpoint_dir: a train_dir.
    num_classes: the graph's number of classes.

  Returns:
    The checkpoint's path.

  Raises:
    runtime.UserError: no checkpoint, or one that cannot be restored.
  """
  checkpoint = latest_checkpoint(checkpoint_dir)
  restore(tf1.train.Saver(model.variables_to_restore()), sess, checkpoint,
          num_classes)
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

"""A trained model as a function of images: restore, preprocess, classify.

What cifar10.eval, cifar10.predict and cifar10.export share: restoring a
checkpoint's moving-average weights with clear errors, and the graph from
uint8 32x32 images to class probabilities (the same preprocessing as
evaluation), so that predict and an exported model give the same
probabilities.
"""
from typing import Optional, Sequence

import numpy as np
import tensorflow as tf

from cifar10 import data
from cifar10 import model
from cifar10 import preprocessing
from cifar10 import records
from tfclassic import checkpoints
from tfclassic import errors
from tfclassic import session

tf1 = tf.compat.v1

# The shape of one record's image, which the exported model takes too.
RECORD_SHAPE = [records.ORIGINAL_SIZE, records.ORIGINAL_SIZE, records.DEPTH]
# The variable whose size is the number of classes.
CLASSES_VARIABLE = 'softmax_linear/biases'
# The command named when there is no checkpoint.
TRAIN_COMMAND = 'python -m cifar10.train'


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
  image = tf.io.decode_image(contents, channels=records.DEPTH,
                             expand_animations=False)
  return resize_image(image)


def class_probabilities(images: tf.Tensor, num_classes: int,
                        options: model.ModelOptions = model.ModelOptions()
                        ) -> tf.Tensor:
  """The model's class probabilities for 32x32 images, preprocessing included.

  Builds the model's variables: call it once in a fresh graph, then
  restore_average_weights().

  Args:
    images: uint8 [N, 32, 32, 3], e.g. records or decode_image() results.
    num_classes: the model's number of classes.
    options: how the model is computed.

  Returns:
    float32 [N, num_classes].
  """
  with tf1.name_scope('preprocess'):
    preprocessed = tf.map_fn(preprocessing.eval_image,
                             tf.cast(images, tf.float32))
  logits = model.configured_inference(preprocessed, num_classes, options)
  return tf.nn.softmax(tf.cast(logits, tf.float32))


def check_num_classes(checkpoint: str, num_classes: int,
                      data_dir: str) -> None:
  """Refuses a checkpoint of another number of classes than data_dir names,
  saying which --data_dir to pass.

  Raises:
    errors.UserError: the numbers differ, or the checkpoint cannot be
      read (checkpoints.CheckpointGone: its files are gone).
  """
  saved = checkpoints.variable_shapes(checkpoint)
  saved_classes = saved.get(CLASSES_VARIABLE, [num_classes])[0]
  if saved_classes != num_classes:
    raise errors.UserError(
        '%s has %d classes, but --data_dir=%s names %d: pass the --data_dir '
        'the model was trained on (its batches.meta.txt gives the classes).'
        % (checkpoint, saved_classes, data_dir, num_classes))


def average_weights_restorer(moving_average: bool = True
                             ) -> checkpoints.Restorer:
  """Restores checkpoints' moving averages into the model weights (or, with
  moving_average=False, the raw weights as training left them): build it
  after the model, in its graph."""
  return checkpoints.Restorer(model.variables_to_restore() if moving_average
                              else None)


def restore_average_weights(sess: tf1.Session,
                            restorer: checkpoints.Restorer, checkpoint: str,
                            num_classes: int, data_dir: str) -> None:
  """Restores a checkpoint's moving averages, explaining in one message why
  it cannot be.

  Args:
    sess: a session of the restorer's graph.
    restorer: from average_weights_restorer().
    checkpoint: the checkpoint's path.
    num_classes: the graph's number of classes.
    data_dir: where they come from, named if the checkpoint has another.

  Raises:
    errors.UserError: the checkpoint is corrupt, truncated, of another
      number of classes or of another model (checkpoints.CheckpointGone:
      its files are gone).
  """
  check_num_classes(checkpoint, num_classes, data_dir)
  restorer.restore(sess, checkpoint)


def format_prediction(name: str, probabilities: np.ndarray,
                      class_names: Sequence[str], top_k: int) -> str:
  """"NAME: class p, class p, ..." with the top_k classes, most probable
  first."""
  top = np.argsort(-probabilities, kind='stable')[:top_k]
  return '%s: %s' % (name, ', '.join(
      '%s %.4f' % (class_names[c], probabilities[c]) for c in top))


class Classifier:
  """A checkpoint's model in its own graph and session, fed from numpy.

  Attributes:
    checkpoint: the checkpoint restored.
    class_names: the classes, from data_dir.
  """

  def __init__(self, checkpoint_dir: str, data_dir: str,
               options: model.ModelOptions = model.ModelOptions(),
               session_config: Optional[tf1.ConfigProto] = None):
    """Builds the graph and restores the latest checkpoint's moving averages.

    Args:
      checkpoint_dir: a train_dir.
      data_dir: its batches.meta.txt gives the classes and their number.
      options: how the model is computed.
      session_config: of the Session; default tfclassic's.

    Raises:
      errors.UserError: no checkpoint, or one that cannot be restored.
    """
    self.class_names = data.read_class_names(data_dir)
    self._graph = tf.Graph()
    with self._graph.as_default():
      self._contents = tf1.placeholder(tf.string, [])
      self._decoded = decode_image(self._contents)
      self._images = tf1.placeholder(tf.uint8, [None] + RECORD_SHAPE)
      self._probabilities = class_probabilities(
          self._images, len(self.class_names), options)
      restorer = average_weights_restorer()
      self.checkpoint = checkpoints.latest_checkpoint(
          checkpoint_dir, TRAIN_COMMAND)
      self._sess = tf1.Session(
          config=session_config or session.session_config())
      try:
        restore_average_weights(self._sess, restorer, self.checkpoint,
                                len(self.class_names), data_dir)
      except errors.UserError:
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
                    batch_size: int = model.BATCH_SIZE) -> np.ndarray:
    """Class probabilities [N, num_classes] of uint8 images [N, 32, 32, 3]."""
    return np.concatenate(
        [self._sess.run(self._probabilities,
                        {self._images: images[i:i + batch_size]})
         for i in range(0, len(images), batch_size)])

"""The tutorial's image preprocessing: training distortions, the eval crop."""
from typing import Optional

import tensorflow as tf

from cifar10.records import DEPTH, ORIGINAL_SIZE

# The training images are cropped to 24x24, which (as in the tutorial) keeps
# most of each image and makes the model cheaper.
IMAGE_SIZE = 24

# Distortions of the training images, as in the tutorial.
MAX_BRIGHTNESS_DELTA = 63
CONTRAST_RANGE = (0.2, 1.8)


def distort_image(image: tf.Tensor) -> tf.Tensor:
  """The tutorial's random training distortions of one float image.

  Args:
    image: float32 [32, 32, 3] with values in [0, 255].

  Returns:
    float32 [IMAGE_SIZE, IMAGE_SIZE, 3], standardized to zero mean and unit
    variance.
  """
  image = tf.image.random_crop(image, [IMAGE_SIZE, IMAGE_SIZE, DEPTH])
  image = tf.image.random_flip_left_right(image)
  # Brightness and contrast do not commute; the tutorial applies them in this
  # order and notes that randomizing the order would be better.
  image = tf.image.random_brightness(image, max_delta=MAX_BRIGHTNESS_DELTA)
  image = tf.image.random_contrast(image, *CONTRAST_RANGE)
  return tf.image.per_image_standardization(image)


def _uniform(shape, minval, maxval, dtype: tf.DType, seed: Optional[tf.Tensor],
             draw: int) -> tf.Tensor:
  """tf.random.uniform, or, given a seed, its stateless counterpart: the
  same values for the same seed, whatever ran before (draw tells the draws
  of one seed apart)."""
  if seed is None:
    return tf.random.uniform(shape, minval, maxval, dtype)
  return tf.random.stateless_uniform(
      shape, tf.random.experimental.stateless_fold_in(seed, draw), minval,
      maxval, dtype)


def distort_images(images: tf.Tensor,
                   seed: Optional[tf.Tensor] = None) -> tf.Tensor:
  """distort_image() applied to each image of a batch, as whole-batch ops.

  Each image draws its own crop offset, flip, brightness delta and contrast
  factor from the same distributions as distort_image() (the tf.image random
  ops draw offsets uniform in [0, 8], flip with probability 1/2, delta uniform
  in [-63, 63), factor uniform in [0.2, 1.8)). Crop and flip are one gather of
  rows and one of (possibly reversed) columns, exact copies of pixels.

  Args:
    images: [N, 32, 32, 3], uint8 or float in [0, 255].
    seed: int [2], e.g. (--seed, global step), to draw the distortions from
      it alone (stateless ops) rather than from the graph's random state,
      which restarts with the process: a resumed run then distorts each
      step's batch as an uninterrupted run would.

  Returns:
    float32 [N, IMAGE_SIZE, IMAGE_SIZE, 3], each image standardized.
  """
  count = tf.shape(images)[0]
  positions = tf.range(IMAGE_SIZE)
  offset_y, offset_x = tf.unstack(_uniform(
      [2, count, 1], 0, ORIGINAL_SIZE - IMAGE_SIZE + 1, tf.int32, seed, 0))
  flip = _uniform([count, 1], 0, 1, tf.float32, seed, 1) < 0.5
  rows = offset_y + positions
  columns = offset_x + tf.where(flip, IMAGE_SIZE - 1 - positions, positions)
  images = tf.gather(images, rows, axis=1, batch_dims=1)
  images = tf.cast(tf.gather(images, columns, axis=2, batch_dims=1),
                   tf.float32)
  # Standardization removes a brightness shift again (and contrast keeps each
  # channel's mean), so the brightness delta only matters through rounding;
  # it is kept because the tutorial draws it.
  delta = _uniform([count, 1, 1, 1], -MAX_BRIGHTNESS_DELTA,
                   MAX_BRIGHTNESS_DELTA, tf.float32, seed, 2)
  images += delta
  factor = _uniform([count, 1, 1, 1], *CONTRAST_RANGE, tf.float32, seed, 3)
  means = tf.reduce_mean(images, axis=[1, 2], keepdims=True)
  images = (images - means) * factor + means
  return tf.image.per_image_standardization(images)


def eval_image(image: tf.Tensor) -> tf.Tensor:
  """Central crop to IMAGE_SIZE and standardization, as used for evaluation.

  Args:
    image: float32 [32, 32, 3], or a batch [N, 32, 32, 3].

  Returns:
    float32 [IMAGE_SIZE, IMAGE_SIZE, 3] (or [N, ...]).
  """
  image = tf.image.resize_with_crop_or_pad(image, IMAGE_SIZE, IMAGE_SIZE)
  return tf.image.per_image_standardization(image)

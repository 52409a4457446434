"""The tutorial's network as a user would write it today: a Keras model
trained with model.fit on a tf.data pipeline, for cifar10.benchmark's
`keras` and `keras_xla` rows.

Same layers, initializers, weight decay, learning-rate schedule and weight
moving averages as cifar10.model, and the tutorial's per-image distortions
(cifar10.preprocessing.distort_image) in the tf.data map. It runs eagerly
(tf.function), so it cannot share a TF1 graph: the benchmark runs it
outside one.
"""
import time

import tensorflow as tf

from cifar10 import model
from cifar10 import preprocessing
from cifar10 import records

# Examples a tf.data shuffle buffer holds: as many as the tutorial's queue
# holds before training starts (40% of an epoch would take minutes to fill).
SHUFFLE_BUFFER = 10000


def train_dataset(filenames: list[str], batch_size: int) -> tf.data.Dataset:
  """Distorted training batches from the binary files, repeated forever."""

  def parse(record):
    values = tf.io.decode_raw(record, tf.uint8)
    label = tf.cast(values[0], tf.int32)
    image = tf.transpose(tf.reshape(
        values[records.LABEL_BYTES:],
        [records.DEPTH, records.ORIGINAL_SIZE, records.ORIGINAL_SIZE]),
        [1, 2, 0])
    return preprocessing.distort_image(tf.cast(image, tf.float32)), label

  return (tf.data.FixedLengthRecordDataset(filenames, records.RECORD_BYTES)
          .repeat().shuffle(SHUFFLE_BUFFER)
          .map(parse, num_parallel_calls=tf.data.AUTOTUNE)
          .batch(batch_size, drop_remainder=True)
          .prefetch(tf.data.AUTOTUNE))


def _local_response_normalization(x):
  return tf.nn.lrn(x, model.LRN_DEPTH_RADIUS, bias=model.LRN_BIAS,
                   alpha=model.LRN_ALPHA, beta=model.LRN_BETA)


def build_model(num_classes: int, batch_size: int,
                jit_compile: bool = False) -> tf.keras.Model:
  """cifar10.model.inference as a compiled Keras model, with model.train's
  optimizer (SGD, the decaying learning rate, weight moving averages)."""
  layers = tf.keras.layers
  init = tf.keras.initializers.TruncatedNormal
  # The tutorial's decay is wd * tf.nn.l2_loss(w) = wd * sum(w**2) / 2.
  decay = tf.keras.regularizers.L2(model.WEIGHT_DECAY / 2)
  network = tf.keras.Sequential([
      tf.keras.Input((model.IMAGE_SIZE, model.IMAGE_SIZE, records.DEPTH)),
      layers.Conv2D(64, 5, padding='same', activation='relu',
                    kernel_initializer=init(stddev=5e-2), name='conv1'),
      layers.MaxPool2D(3, 2, padding='same', name='pool1'),
      layers.Lambda(_local_response_normalization, name='norm1'),
      layers.Conv2D(64, 5, padding='same', activation='relu',
                    kernel_initializer=init(stddev=5e-2),
                    bias_initializer=tf.keras.initializers.Constant(0.1),
                    name='conv2'),
      layers.Lambda(_local_response_normalization, name='norm2'),
      layers.MaxPool2D(3, 2, padding='same', name='pool2'),
      layers.Flatten(),
      layers.Dense(384, activation='relu', kernel_initializer=init(
          stddev=0.04), bias_initializer=tf.keras.initializers.Constant(0.1),
                   kernel_regularizer=decay, name='local3'),
      layers.Dense(192, activation='relu', kernel_initializer=init(
          stddev=0.04), bias_initializer=tf.keras.initializers.Constant(0.1),
                   kernel_regularizer=decay, name='local4'),
      layers.Dense(num_classes, kernel_initializer=init(stddev=1 / 192.0),
                   name='softmax_linear'),
  ])
  steps_per_decay = int(model.NUM_EXAMPLES_PER_EPOCH_FOR_TRAIN / batch_size
                        * model.NUM_EPOCHS_PER_DECAY)
  network.compile(
      optimizer=tf.keras.optimizers.SGD(
          tf.keras.optimizers.schedules.ExponentialDecay(
              model.INITIAL_LEARNING_RATE, steps_per_decay,
              model.LEARNING_RATE_DECAY_FACTOR, staircase=True),
          use_ema=True, ema_momentum=model.MOVING_AVERAGE_DECAY),
      loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
      jit_compile=jit_compile)
  return network


class _BatchTimer(tf.keras.callbacks.Callback):
  """The seconds between the ends of consecutive training batches."""

  def __init__(self):
    super().__init__()
    self.step_seconds = []
    self._last = None

  def on_train_batch_end(self, batch, logs=None):
    now = time.perf_counter()
    if self._last is not None:
      self.step_seconds.append(now - self._last)
    self._last = now


def time_fit(filenames: list[str], num_classes: int, batch_size: int,
             warmup: int, steps: int, jit_compile: bool = False
             ) -> list[float]:
  """Trains a fresh Keras model with model.fit for warmup + steps batches;
  returns the seconds of the last `steps`."""
  network = build_model(num_classes, batch_size, jit_compile)
  timer = _BatchTimer()
  network.fit(train_dataset(filenames, batch_size), epochs=1,
              steps_per_epoch=warmup + steps + 1, callbacks=[timer],
              # The dataset shuffles; fit's own flag would only warn.
              shuffle=False, verbose=0)
  return timer.step_seconds[-steps:]

"""The input pipelines: the training queue, the eval queue and the feed.

Everything here builds graph ops on the CPU; no Session is run.
"""
import dataclasses
from typing import Callable, Optional

import tensorflow as tf

from cifar10 import data
from cifar10 import preprocessing
from cifar10 import records
from cifar10.preprocessing import IMAGE_SIZE
from cifar10.records import DEPTH, NUM_CLASSES, ORIGINAL_SIZE
from tfclassic import determinism

tf1 = tf.compat.v1

# The tutorial's queues: 40% of an epoch waits in the shuffling queue, so that
# each batch mixes examples from all five files.
MIN_FRACTION_OF_EXAMPLES_IN_QUEUE = 0.4

# Records per reader op in the batched pipelines.
RECORDS_PER_READ = 128


def distorted_inputs(data_dir: str, batch_size: int,
                     num_threads: int = 2,
                     min_fraction_in_queue: float =
                     MIN_FRACTION_OF_EXAMPLES_IN_QUEUE,
                     num_classes: int = NUM_CLASSES,
                     batched: bool = True,
                     seed: Optional[int] = None,
                     deterministic: bool = False,
                     start_step: int = 0
                     ) -> tuple[tf.Tensor, tf.Tensor]:
  """Shuffled, distorted training batches from the training files.

  The tutorial's pipeline: a filename queue, FixedLengthRecordReader threads
  and a shuffling queue holding min_fraction_in_queue of an epoch. With
  `batched` (the default), the threads read many records per op and queue
  them undistorted as uint8; each dequeued batch is then distorted at once by
  distort_images(), with the same per-image randomness. That leaves the
  reader threads far less work per example, so the input keeps up with the
  model on few cores, and the queue holds 3 KB per example instead of 7.
  batched=False distorts each example in the reader threads, as the tutorial
  did.

  Args:
    data_dir: folder holding the .bin files (or their cifar-10-batches-bin).
    batch_size: examples per batch.
    num_threads: threads reading (and, unbatched, distorting) examples.
    min_fraction_in_queue: fraction of an epoch kept in the shuffling queue;
      the tutorial's 0.4 takes a while to fill, lower it for quick runs.
    num_classes: labels must be below this.
    batched: distort whole batches after the queue, rather than each example
      before it.
    seed: of the file order and the shuffling (the distortions follow the
      graph's seed); None: a new order every run.
    deterministic: with a seed, the same batches in every run: one reader
      thread, and distortions drawn from (seed, global step) by stateless
      ops. The shuffling queue gives way to a first-in first-out one: a
      RandomShuffleQueue takes each example of a batch as soon as it holds
      more than min_after_dequeue, so what it picks from depends on how far
      the reader has run ahead. Batches then follow the files' record order
      (CIFAR-10's files are in random order), the files in a new seeded
      order each epoch.
    start_step: with `deterministic`, the global step a resumed run starts
      at: the reader passes over the records of the steps before it, so the
      run reads what an uninterrupted one would.

  Returns:
    images: float32 [batch_size, IMAGE_SIZE, IMAGE_SIZE, 3].
    labels: int32 [batch_size].

  Raises:
    DataError: if the files are missing or malformed.
  """
  if deterministic and (seed is None or not batched):
    raise ValueError('deterministic input takes a seed and batched=True')
  filenames = data.data_files(data_dir)
  data.check_data_files(filenames, num_classes)
  min_queue_examples = int(records.NUM_EXAMPLES_PER_EPOCH_FOR_TRAIN *
                           min_fraction_in_queue)

  # Keeping the input on the CPU leaves the accelerators to the model.
  with tf.device('/cpu:0'), tf1.name_scope('data_augmentation'):
    filename_queue = tf1.train.string_input_producer(filenames, seed=seed)
    if batched:
      labels, examples = records.read_cifar10_batch(filename_queue,
                                                    RECORDS_PER_READ)
    else:
      record = records.read_cifar10(filename_queue)
      examples = preprocessing.distort_image(
          tf.cast(record.uint8image, tf.float32))
      examples.set_shape([IMAGE_SIZE, IMAGE_SIZE, DEPTH])
      labels = tf.reshape(record.label, [])
    print('Filling queue with %d CIFAR images before starting to train. '
          'This will take a few minutes.' % min_queue_examples)
    if deterministic:
      if start_step:
        print('Reading past the %d records of the %d steps done before '
              '(--deterministic resumes where the run stopped).'
              % (start_step * batch_size, start_step))
      labels, examples = determinism.skip_first(start_step * batch_size,
                                                labels, examples)
      images, labels = tf1.train.batch(
          [examples, labels], batch_size=batch_size, num_threads=1,
          capacity=min_queue_examples + 3 * batch_size, enqueue_many=True)
    else:
      images, labels = tf1.train.shuffle_batch(
          [examples, labels], batch_size=batch_size, num_threads=num_threads,
          capacity=min_queue_examples + 3 * batch_size,
          min_after_dequeue=min_queue_examples, enqueue_many=batched,
          seed=seed)
    if batched:
      images = preprocessing.distort_images(
          images, determinism.step_seed(seed) if deterministic else None)
  tf1.summary.image('images', images)
  return images, labels


def distorted_feed_inputs(batched: bool = True,
                          seed: Optional[tf.Tensor] = None
                          ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
  """Placeholders for batches fed from numpy, distorted as distorted_inputs.

  For the per-example feed_dict style (any batch size, including 1), e.g.
  with batches from Cifar10Reader.

  Args:
    batched: distort with distort_images() rather than distort_image() in a
      tf.map_fn loop (the same distribution, in a few whole-batch ops).
    seed: int [2], with batched: the distortions' stateless seed (see
      preprocessing.distort_images).

  Returns:
    image_input: uint8 placeholder [N, 32, 32, 3] to feed.
    labels: int32 placeholder [N] to feed.
    images: float32 [N, IMAGE_SIZE, IMAGE_SIZE, 3], distorted per image.
  """
  with tf.device('/cpu:0'), tf1.name_scope('data_augmentation'):
    image_input = tf1.placeholder(
        tf.uint8, [None, ORIGINAL_SIZE, ORIGINAL_SIZE, DEPTH], 'image_input')
    labels = tf1.placeholder(tf.int32, [None], 'labels')
    if batched:
      images = preprocessing.distort_images(image_input, seed)
    else:
      images = tf.map_fn(preprocessing.distort_image,
                         tf.cast(image_input, tf.float32))
  tf1.summary.image('images', images)
  return image_input, labels, images


def inputs(eval_data: bool, data_dir: str, batch_size: int,
           num_threads: int = 1, num_classes: int = NUM_CLASSES
           ) -> tuple[tf.Tensor, tf.Tensor]:
  """Evaluation batches that cover the chosen files exactly once, after
  checking them (see eval_batches).

  Args:
    eval_data: True for the test file, False for the training files.
    data_dir: folder holding the .bin files (or their cifar-10-batches-bin).
    batch_size: examples per batch.
    num_threads: reader threads (see eval_batches).
    num_classes: labels must be below this.

  Returns:
    images: float32 [<=batch_size, IMAGE_SIZE, IMAGE_SIZE, 3].
    labels: int32 [<=batch_size].

  Raises:
    DataError: if the files are missing or malformed.
  """
  filenames = data.data_files(data_dir, eval_data)
  data.check_data_files(filenames, num_classes)
  return eval_batches(filenames, batch_size, num_threads)


def eval_batches(filenames: list[str], batch_size: int, num_threads: int = 1
                 ) -> tuple[tf.Tensor, tf.Tensor]:
  """Evaluation batches that cover the files exactly once.

  The tutorial cycled its eval files forever and scored whole batches, so
  10,000 test images were scored as 10,112. Here the files are read for one
  epoch and the last batch may be smaller; the input ends with
  OutOfRangeError. The epoch counter is a local variable: initialize local
  variables (a MonitoredSession or Scaffold does it) before running. Records
  are read, cropped and standardized many at a time.

  Args:
    filenames: the record files, checked (data.check_data_files).
    batch_size: examples per batch.
    num_threads: reader threads. With one, batches follow the files' order,
      so the first N examples are always the same N; with more, each record
      is still read once, but in no fixed order.

  Returns:
    images: float32 [<=batch_size, IMAGE_SIZE, IMAGE_SIZE, 3].
    labels: int32 [<=batch_size].
  """
  with tf.device('/cpu:0'), tf1.name_scope('input'):
    filename_queue = tf1.train.string_input_producer(
        filenames, num_epochs=1, shuffle=False)
    labels, examples = records.read_cifar10_batch(filename_queue, batch_size)
    # Preprocessed by the reader thread, ahead of the model's step.
    examples = preprocessing.eval_image(tf.cast(examples, tf.float32))
    images, labels = tf1.train.batch(
        [examples, labels], batch_size=batch_size, num_threads=num_threads,
        capacity=(num_threads + 3) * batch_size, enqueue_many=True,
        allow_smaller_final_batch=True)
  tf1.summary.image('images', images)
  return images, labels


@dataclasses.dataclass(frozen=True)
class TrainInput:
  """What training reads and how: distorted_inputs()'s arguments, as a
  binary's flags give them.

  Attributes:
    data_dir: folder holding the .bin files (or their cifar-10-batches-bin).
    batch_size: examples per batch (per tower).
    num_classes: labels must be below this.
    num_threads: threads reading examples into the shuffling queue.
    min_fraction_in_queue: fraction of an epoch kept in the shuffling queue.
    batched: distort whole batches after the queue (see distorted_inputs).
    seed: of the order examples are read in; the training graphs also seed
      the graph with it. None: a new order every run.
    deterministic: the same batches in every run of the seed, and after a
      resume the batches an uninterrupted run would read (see
      distorted_inputs, and feed()).
    start_step: the global step training starts from (resumes at): with
      `deterministic`, both inputs take up the order of examples there.
  """
  data_dir: str
  batch_size: int
  num_classes: int = NUM_CLASSES
  num_threads: int = 2
  min_fraction_in_queue: float = MIN_FRACTION_OF_EXAMPLES_IN_QUEUE
  batched: bool = True
  seed: Optional[int] = None
  deterministic: bool = False
  start_step: int = 0

  def queue(self, batch_size: Optional[int] = None
            ) -> tuple[tf.Tensor, tf.Tensor]:
    """distorted_inputs() of batch_size (default: self.batch_size)."""
    return distorted_inputs(self.data_dir, batch_size or self.batch_size,
                            self.num_threads, self.min_fraction_in_queue,
                            self.num_classes, self.batched, self.seed,
                            self.deterministic, self.start_step)

  def feed(self) -> tuple[tf.Tensor, tf.Tensor, Callable[[], dict]]:
    """Batches read with numpy (Cifar10Reader) into distorted_feed_inputs().

    Returns:
      images: float32 [batch_size, IMAGE_SIZE, IMAGE_SIZE, 3], distorted.
      labels: int32 [batch_size].
      feed_fn: the feed_dict of the next batch, for each step.

    Raises:
      DataError: if the files are missing or malformed.
    """
    reader = records.Cifar10Reader(data.data_files(self.data_dir),
                                   self.num_classes)
    image_input, labels, images = distorted_feed_inputs(
        self.batched, determinism.step_seed(self.seed) if self.deterministic else None)
    batches = reader.batches(self.batch_size, self.seed,
                             self.start_step if self.deterministic else 0)

    def feed_fn() -> dict:
      batch_images, batch_labels = next(batches)
      return {image_input: batch_images, labels: batch_labels}
    return images, labels, feed_fn

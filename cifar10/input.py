"""Reads the CIFAR-10 binary files: TF queues for training and eval, numpy too.

The binary version of CIFAR-10 stores each example as one fixed-length record:
a label byte followed by the 32x32 image as three colour planes (R, G, B),
each row-major. Training uses `data_batch_1.bin` .. `data_batch_5.bin`
(10,000 records each), evaluation `test_batch.bin`.

Everything here builds graph ops or reads files; no Session is run.
"""
import hashlib
import os
import sys
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Iterator, Optional, Sequence

import numpy as np
import tensorflow as tf

tf1 = tf.compat.v1

# The training images are cropped to 24x24, which (as in the tutorial) keeps
# most of each image and makes the model cheaper.
IMAGE_SIZE = 24

NUM_CLASSES = 10
NUM_EXAMPLES_PER_EPOCH_FOR_TRAIN = 50000
NUM_EXAMPLES_PER_EPOCH_FOR_EVAL = 10000

ORIGINAL_SIZE = 32
DEPTH = 3
LABEL_BYTES = 1
IMAGE_BYTES = ORIGINAL_SIZE * ORIGINAL_SIZE * DEPTH
RECORD_BYTES = LABEL_BYTES + IMAGE_BYTES

TRAIN_FILES = tuple('data_batch_%d.bin' % i for i in range(1, 6))
TEST_FILES = ('test_batch.bin',)
BATCHES_DIR = 'cifar-10-batches-bin'
META_FILE = 'batches.meta.txt'

DATA_URL = 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz'
DATA_MD5 = 'c32a1d4ab5d03f1284b67883e8d87530'

# Distortions of the training images, as in the tutorial.
MAX_BRIGHTNESS_DELTA = 63
CONTRAST_RANGE = (0.2, 1.8)

# The tutorial's queues: 40% of an epoch waits in the shuffling queue, so that
# each batch mixes examples from all five files.
MIN_FRACTION_OF_EXAMPLES_IN_QUEUE = 0.4


class DataError(Exception):
  """The data files are missing, incomplete or not CIFAR-10 records."""


@dataclass
class CIFAR10Record:
  """One example as read from a record file.

  Attributes:
    key: "<file>:<index>", the record's file and its index in that file.
    label: int32 tensor of shape [1], the class.
    uint8image: uint8 tensor [height, width, depth].
  """
  key: tf.Tensor
  label: tf.Tensor
  uint8image: tf.Tensor
  height: int = ORIGINAL_SIZE
  width: int = ORIGINAL_SIZE
  depth: int = DEPTH


def read_cifar10(filename_queue: tf1.QueueBase) -> CIFAR10Record:
  """Reads the next record from the files in `filename_queue`.

  Args:
    filename_queue: a queue of file names, e.g. from
      tf.compat.v1.train.string_input_producer.

  Returns:
    A CIFAR10Record.
  """
  reader = tf1.FixedLengthRecordReader(record_bytes=RECORD_BYTES)
  key, value = reader.read(filename_queue)
  record = tf.io.decode_raw(value, tf.uint8)
  label = tf.cast(tf.strided_slice(record, [0], [LABEL_BYTES]), tf.int32)
  planes = tf.reshape(
      tf.strided_slice(record, [LABEL_BYTES], [RECORD_BYTES]),
      [DEPTH, ORIGINAL_SIZE, ORIGINAL_SIZE])
  return CIFAR10Record(key=key, label=label,
                       uint8image=tf.transpose(planes, [1, 2, 0]))


def read_cifar10_batch(filename_queue: tf1.QueueBase,
                       count: int) -> tuple[tf.Tensor, tf.Tensor]:
  """Reads up to `count` consecutive records with one reader op.

  One read of many records costs the queue-runner thread a handful of op
  launches instead of a handful per record (read_cifar10), which at 3,000
  examples/sec is CPU time taken from the model.

  Args:
    filename_queue: a queue of file names.
    count: records per read; fewer at the end of a file.

  Returns:
    labels: int32 [n].
    images: uint8 [n, 32, 32, 3].
  """
  reader = tf1.FixedLengthRecordReader(record_bytes=RECORD_BYTES)
  _, values = reader.read_up_to(filename_queue, count)
  records = tf.io.decode_raw(values, tf.uint8)
  labels = tf.cast(records[:, 0], tf.int32)
  planes = tf.reshape(records[:, LABEL_BYTES:],
                      [-1, DEPTH, ORIGINAL_SIZE, ORIGINAL_SIZE])
  return labels, tf.transpose(planes, [0, 2, 3, 1])


def find_batches_dir(data_dir: str) -> str:
  """Where the .bin files are: `data_dir/cifar-10-batches-bin`, or data_dir.

  The tutorial keeps the extracted folder inside data_dir; users who point
  --data_dir at that folder itself are understood too, also when it holds
  only batches.meta.txt (a model's class names shipped without its data).
  """
  if any(os.path.isfile(os.path.join(data_dir, name))
         for name in (TRAIN_FILES[0], TEST_FILES[0], META_FILE)):
    return data_dir
  return os.path.join(data_dir, BATCHES_DIR)


def data_files(data_dir: str, eval_data: bool = False) -> list[str]:
  """The record files for training (eval_data False) or testing."""
  names = TEST_FILES if eval_data else TRAIN_FILES
  batches_dir = find_batches_dir(data_dir)
  return [os.path.join(batches_dir, name) for name in names]


def check_data_files(filenames: Sequence[str],
                     num_classes: int = NUM_CLASSES) -> int:
  """Checks that the files hold whole CIFAR-10 records with valid labels.

  The TF readers would otherwise fail late and far from the cause (a bad file
  shows up as "RandomShuffleQueue ... insufficient elements", or a hang).

  Args:
    filenames: the record files.
    num_classes: labels must be below this.

  Returns:
    The total number of records in the files.

  Raises:
    DataError: naming the first bad file and what is wrong with it.
  """
  total = 0
  for filename in filenames:
    if not os.path.isfile(filename):
      raise DataError('%s: no such file.' % filename)
    size = os.path.getsize(filename)
    if size == 0 or size % RECORD_BYTES:
      raise DataError(
          '%s: %d bytes is not a whole number of %d-byte CIFAR-10 records '
          '(the file is truncated or not in the binary format).'
          % (filename, size, RECORD_BYTES))
    labels = np.memmap(filename, np.uint8, 'r').reshape(-1, RECORD_BYTES)[:, 0]
    bad = np.flatnonzero(labels >= num_classes)
    if bad.size:
      raise DataError(
          '%s: record %d has label %d, but labels must be below %d '
          '(%d bad records in this file).'
          % (filename, bad[0], labels[bad[0]], num_classes, bad.size))
    total += size // RECORD_BYTES
  return total


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


def distort_images(images: tf.Tensor) -> tf.Tensor:
  """distort_image() applied to each image of a batch, as whole-batch ops.

  Each image draws its own crop offset, flip, brightness delta and contrast
  factor from the same distributions as distort_image() (the tf.image random
  ops draw offsets uniform in [0, 8], flip with probability 1/2, delta uniform
  in [-63, 63), factor uniform in [0.2, 1.8)). Crop and flip are one gather of
  rows and one of (possibly reversed) columns, exact copies of pixels.

  Args:
    images: [N, 32, 32, 3], uint8 or float in [0, 255].

  Returns:
    float32 [N, IMAGE_SIZE, IMAGE_SIZE, 3], each image standardized.
  """
  count = tf.shape(images)[0]
  positions = tf.range(IMAGE_SIZE)
  offset_y, offset_x = tf.unstack(tf.random.uniform(
      [2, count, 1], maxval=ORIGINAL_SIZE - IMAGE_SIZE + 1, dtype=tf.int32))
  flip = tf.random.uniform([count, 1]) < 0.5
  rows = offset_y + positions
  columns = offset_x + tf.where(flip, IMAGE_SIZE - 1 - positions, positions)
  images = tf.gather(images, rows, axis=1, batch_dims=1)
  images = tf.cast(tf.gather(images, columns, axis=2, batch_dims=1),
                   tf.float32)
  # Standardization removes a brightness shift again (and contrast keeps each
  # channel's mean), so the brightness delta only matters through rounding;
  # it is kept because the tutorial draws it.
  delta = tf.random.uniform([count, 1, 1, 1], -MAX_BRIGHTNESS_DELTA,
                            MAX_BRIGHTNESS_DELTA)
  images += delta
  factor = tf.random.uniform([count, 1, 1, 1], *CONTRAST_RANGE)
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


# Records per reader op in the batched pipelines.
RECORDS_PER_READ = 128


def distorted_inputs(data_dir: str, batch_size: int,
                     num_threads: int = 2,
                     min_fraction_in_queue: float =
                     MIN_FRACTION_OF_EXAMPLES_IN_QUEUE,
                     num_classes: int = NUM_CLASSES,
                     batched: bool = True
                     ) -> tuple[tf.Tensor, tf.Tensor]:
  """Shuffled, distorted training batches from the training files.

  The tutorial's pipeline: a filename queue, FixedLengthRecordReader threads
  and a shuffling queue holding min_fraction_in_queue of an epoch. With
  `batched` (the default), the threads read many records per op and queue
  them undistorted as uint8; each dequeued batch is then distorted at once by
  distort_images(), with the same per-image randomness. Measured on 2 cores
  (README, Performance): the input alone 9.5 -> 0.7 ms per batch of 128, a
  training step on it 48.2 -> 42.2 ms; and the queue holds 3 KB per example
  instead of 7. batched=False distorts each example in the reader threads,
  as the tutorial did.

  Args:
    data_dir: folder holding the .bin files (or their cifar-10-batches-bin).
    batch_size: examples per batch.
    num_threads: threads reading (and, unbatched, distorting) examples.
    min_fraction_in_queue: fraction of an epoch kept in the shuffling queue;
      the tutorial's 0.4 takes a while to fill, lower it for quick runs.
    num_classes: labels must be below this.
    batched: distort whole batches after the queue, rather than each example
      before it.

  Returns:
    images: float32 [batch_size, IMAGE_SIZE, IMAGE_SIZE, 3].
    labels: int32 [batch_size].

  Raises:
    DataError: if the files are missing or malformed.
  """
  filenames = data_files(data_dir)
  check_data_files(filenames, num_classes)
  min_queue_examples = int(NUM_EXAMPLES_PER_EPOCH_FOR_TRAIN *
                           min_fraction_in_queue)
  # Keeping the input on the CPU leaves the accelerators to the model.
  with tf.device('/cpu:0'), tf1.name_scope('data_augmentation'):
    filename_queue = tf1.train.string_input_producer(filenames)
    if batched:
      labels, examples = read_cifar10_batch(filename_queue, RECORDS_PER_READ)
    else:
      record = read_cifar10(filename_queue)
      examples = distort_image(tf.cast(record.uint8image, tf.float32))
      examples.set_shape([IMAGE_SIZE, IMAGE_SIZE, DEPTH])
      labels = tf.reshape(record.label, [])
    print('Filling queue with %d CIFAR images before starting to train. '
          'This will take a few minutes.' % min_queue_examples)
    images, labels = tf1.train.shuffle_batch(
        [examples, labels], batch_size=batch_size, num_threads=num_threads,
        capacity=min_queue_examples + 3 * batch_size,
        min_after_dequeue=min_queue_examples, enqueue_many=batched)
    if batched:
      images = distort_images(images)
  tf1.summary.image('images', images)
  return images, labels


def distorted_feed_inputs(batched: bool = True
                          ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
  """Placeholders for batches fed from numpy, distorted as distorted_inputs.

  For the per-example feed_dict style (any batch size, including 1), e.g.
  with batches from Cifar10Reader.

  Args:
    batched: distort with distort_images() rather than distort_image() in a
      tf.map_fn loop (the same distribution, several times faster).

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
      images = distort_images(image_input)
    else:
      images = tf.map_fn(distort_image, tf.cast(image_input, tf.float32))
  tf1.summary.image('images', images)
  return image_input, labels, images


def inputs(eval_data: bool, data_dir: str, batch_size: int,
           num_threads: int = 1, num_classes: int = NUM_CLASSES
           ) -> tuple[tf.Tensor, tf.Tensor, int]:
  """Evaluation batches that cover the chosen files exactly once.

  The tutorial cycled its eval files forever and scored whole batches, so
  10,000 test images were scored as 10,112. Here the files are read for one
  epoch and the last batch may be smaller; the input ends with
  OutOfRangeError. The epoch counter is a local variable: initialize local
  variables (a MonitoredSession or Scaffold does it) before running. Records
  are read, cropped and standardized many at a time.

  Args:
    eval_data: True for the test file, False for the training files.
    data_dir: folder holding the .bin files (or their cifar-10-batches-bin).
    batch_size: examples per batch.
    num_threads: reader threads. With one, batches follow the files' order,
      so the first N examples are always the same N; with more, each record
      is still read once, but in no fixed order.
    num_classes: labels must be below this.

  Returns:
    images: float32 [<=batch_size, IMAGE_SIZE, IMAGE_SIZE, 3].
    labels: int32 [<=batch_size].
    num_records: how many records the files hold.

  Raises:
    DataError: if the files are missing or malformed.
  """
  filenames = data_files(data_dir, eval_data)
  num_records = check_data_files(filenames, num_classes)
  with tf.device('/cpu:0'), tf1.name_scope('input'):
    filename_queue = tf1.train.string_input_producer(
        filenames, num_epochs=1, shuffle=False)
    labels, examples = read_cifar10_batch(filename_queue, batch_size)
    # Preprocessed by the reader thread, ahead of the model's step.
    examples = eval_image(tf.cast(examples, tf.float32))
    images, labels = tf1.train.batch(
        [examples, labels], batch_size=batch_size, num_threads=num_threads,
        capacity=(num_threads + 3) * batch_size, enqueue_many=True,
        allow_smaller_final_batch=True)
  tf1.summary.image('images', images)
  return images, labels, num_records


class Cifar10Reader:
  """Random access to the records of CIFAR-10 binary files, in numpy.

  The files are memory-mapped, so opening all five training files costs
  nothing until records are read.

  Attributes:
    filenames: the record files, in order.
  """

  def __init__(self, filenames: Sequence[str],
               num_classes: int = NUM_CLASSES):
    """Opens the files after checking them.

    Raises:
      DataError: if a file is missing or malformed.
    """
    check_data_files(filenames, num_classes)
    self.filenames = list(filenames)
    self._records = [np.memmap(f, np.uint8, 'r').reshape(-1, RECORD_BYTES)
                     for f in self.filenames]
    self._offsets = np.cumsum([0] + [len(r) for r in self._records])

  def __len__(self) -> int:
    return int(self._offsets[-1])

  def _locate(self, index: int) -> tuple[int, int]:
    if not -len(self) <= index < len(self):
      raise IndexError('record %d out of range: %d records in %s'
                       % (index, len(self), ', '.join(self.filenames)))
    index %= len(self)
    file_index = int(np.searchsorted(self._offsets, index, side='right')) - 1
    return file_index, index - int(self._offsets[file_index])

  def key(self, index: int) -> str:
    """The record's key as the TF reader gives it: "<file>:<index>"."""
    file_index, record = self._locate(index)
    return '%s:%d' % (self.filenames[file_index], record)

  def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
    """Returns (uint8 image [32, 32, 3], label) of record `index`."""
    file_index, record = self._locate(index)
    raw = self._records[file_index][record]
    image = raw[LABEL_BYTES:].reshape(DEPTH, ORIGINAL_SIZE, ORIGINAL_SIZE)
    return image.transpose(1, 2, 0).copy(), int(raw[0])

  def batch(self, indices: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Returns uint8 images [N, 32, 32, 3] and int32 labels [N].

    Records are gathered with one fancy index per file and transposed once:
    a batch of 128 took 7.6 ms record by record, a share of each --input=feed
    step.
    """
    indices = np.asarray(indices, np.int64).reshape(-1)
    bad = indices[(indices < -len(self)) | (indices >= len(self))]
    if bad.size:
      self._locate(int(bad[0]))  # raises IndexError naming the record
    indices %= len(self)
    files = np.searchsorted(self._offsets, indices, side='right') - 1
    raw = np.empty((len(indices), RECORD_BYTES), np.uint8)
    for file_index in np.unique(files):
      take = files == file_index
      raw[take] = self._records[file_index][
          indices[take] - self._offsets[file_index]]
    planes = raw[:, LABEL_BYTES:].reshape(-1, DEPTH, ORIGINAL_SIZE,
                                          ORIGINAL_SIZE)
    return (np.ascontiguousarray(planes.transpose(0, 2, 3, 1)),
            raw[:, 0].astype(np.int32))

  def batches(self, batch_size: int, seed: Optional[int] = None
              ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Endless random batches, each epoch a new permutation of the records.

    A batch crossing an epoch boundary takes the old epoch's tail and the new
    epoch's head, so every record is seen once per epoch.
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(self))
    position = 0
    while True:
      take = []
      while len(take) < batch_size:
        if position == len(order):
          order, position = rng.permutation(len(self)), 0
        count = min(batch_size - len(take), len(order) - position)
        take.extend(order[position:position + count])
        position += count
      yield self.batch(take)


def read_class_names(data_dir: str) -> list[str]:
  """Class names from batches.meta.txt, one per line; numbers if absent.

  The number of names is the number of classes: datasets of your own (see
  scripts/images_to_cifar10.py) may have other than 10.
  """
  path = os.path.join(find_batches_dir(data_dir), META_FILE)
  if not os.path.isfile(path):
    return [str(i) for i in range(NUM_CLASSES)]
  with open(path) as f:
    return [line.strip() for line in f if line.strip()]


def _md5(path: str) -> str:
  digest = hashlib.md5()
  with open(path, 'rb') as f:
    for chunk in iter(lambda: f.read(1 << 20), b''):
      digest.update(chunk)
  return digest.hexdigest()


def _download(url: str, path: str, md5: str) -> None:
  """Downloads url to path, atomically: a failed download leaves no file."""
  partial = path + '.part'
  try:
    with urllib.request.urlopen(url, timeout=60) as response, \
        open(partial, 'wb') as out:
      total = int(response.headers.get('Content-Length') or 0)
      done = 0
      for chunk in iter(lambda: response.read(1 << 20), b''):
        out.write(chunk)
        done += len(chunk)
        if total:
          sys.stdout.write('\r>> Downloading %s %.1f%%'
                           % (os.path.basename(path), 100.0 * done / total))
          sys.stdout.flush()
    if total:
      sys.stdout.write('\n')
    actual = _md5(partial)
    if actual != md5:
      raise DataError('%s: checksum %s, expected %s (corrupt download).'
                      % (url, actual, md5))
    os.replace(partial, path)
  finally:
    if os.path.exists(partial):
      os.remove(partial)
  print('Successfully downloaded', os.path.basename(path),
        os.path.getsize(path), 'bytes.')


def _safe_members(tar: tarfile.TarFile, dest: str) -> list[tarfile.TarInfo]:
  """The archive's members, refusing any that would land outside dest."""
  dest = os.path.realpath(dest)
  members = []
  for member in tar.getmembers():
    target = os.path.realpath(os.path.join(dest, member.name))
    if os.path.isabs(member.name) or os.path.commonpath([dest, target]) != dest:
      raise DataError('archive member %r would be written outside %s.'
                      % (member.name, dest))
    if member.issym() or member.islnk():
      link = os.path.realpath(os.path.join(os.path.dirname(target),
                                           member.linkname)
                              if member.issym() else
                              os.path.join(dest, member.linkname))
      if os.path.commonpath([dest, link]) != dest:
        raise DataError('archive member %r links outside %s.'
                        % (member.name, dest))
    if not (member.isfile() or member.isdir() or member.issym() or
            member.islnk()):
      raise DataError('archive member %r is not a file or folder.'
                      % member.name)
    members.append(member)
  return members


def maybe_download_and_extract(data_dir: str, url: str = DATA_URL,
                               md5: str = DATA_MD5) -> str:
  """Makes sure the CIFAR-10 binary files are in data_dir.

  Work already done is skipped: files in place mean no network at all, and a
  verified archive is not downloaded again.

  Args:
    data_dir: where the data lives (or should).
    url: the archive cifar-10-binary.tar.gz.
    md5: its checksum.

  Returns:
    The folder holding the .bin files.

  Raises:
    DataError: with one paragraph on what is missing and how to provide it,
      if the files are absent and cannot be fetched.
  """
  expected = list(TRAIN_FILES + TEST_FILES)
  batches_dir = find_batches_dir(data_dir)
  if all(os.path.isfile(os.path.join(batches_dir, f)) for f in expected):
    return batches_dir
  os.makedirs(data_dir, exist_ok=True)
  archive = os.path.join(data_dir, os.path.basename(url))
  try:
    if not (os.path.isfile(archive) and _md5(archive) == md5):
      _download(url, archive, md5)
    with tarfile.open(archive) as tar:
      tar.extractall(data_dir, members=_safe_members(tar, data_dir))
  except (OSError, urllib.error.URLError, tarfile.TarError, DataError) as e:
    raise DataError(
        'The CIFAR-10 data is not in %s: expected the binary version\'s files '
        '%s in %s (or directly in --data_dir). Fetching %s failed: %s. '
        'Download cifar-10-binary.tar.gz on a machine with internet access '
        'and extract it into --data_dir (it creates %s/), or pass '
        '--data_dir=FOLDER where the .bin files already are.'
        % (data_dir, ', '.join(expected), os.path.join(data_dir, BATCHES_DIR),
           url, e, BATCHES_DIR)) from e
  batches_dir = find_batches_dir(data_dir)
  missing = [f for f in expected
             if not os.path.isfile(os.path.join(batches_dir, f))]
  if missing:
    raise DataError('%s did not provide %s in %s.'
                    % (archive, ', '.join(missing), batches_dir))
  return batches_dir

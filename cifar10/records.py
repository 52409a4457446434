"""The CIFAR-10 binary record layout, the one module encoding and decoding it.

The binary version of CIFAR-10 stores each example as one fixed-length record:
a label byte followed by the 32x32 image as three colour planes (R, G, B),
each row-major. Training uses `data_batch_1.bin` .. `data_batch_5.bin`
(10,000 records each), evaluation `test_batch.bin`.

Records are encoded and decoded in numpy (for the converter, the numpy reader
and the tests) and in TF graph ops (for the readers of the input queues).
"""
import os
from dataclasses import dataclass
from typing import Iterator, Optional, Sequence

import numpy as np
import tensorflow as tf

from tfclassic import paths
from tfclassic.errors import DataError

tf1 = tf.compat.v1

ORIGINAL_SIZE = 32
DEPTH = 3
LABEL_BYTES = 1
IMAGE_BYTES = ORIGINAL_SIZE * ORIGINAL_SIZE * DEPTH
RECORD_BYTES = LABEL_BYTES + IMAGE_BYTES

NUM_CLASSES = 10
NUM_EXAMPLES_PER_EPOCH_FOR_TRAIN = 50000
NUM_EXAMPLES_PER_EPOCH_FOR_EVAL = 10000

TRAIN_FILES = tuple('data_batch_%d.bin' % i for i in range(1, 6))
TEST_FILES = ('test_batch.bin',)
BATCHES_DIR = 'cifar-10-batches-bin'
META_FILE = 'batches.meta.txt'

# The largest label a record can hold.
MAX_LABEL = 255


def encode(images: np.ndarray, labels: Sequence[int]) -> np.ndarray:
  """Records of images and their labels.

  Args:
    images: uint8 [N, 32, 32, 3].
    labels: N ints in 0..255.

  Returns:
    uint8 [N, RECORD_BYTES], one record per row.

  Raises:
    ValueError: if the shapes do not match or a label does not fit a byte.
  """
  images = np.asarray(images)
  labels = np.asarray(labels).reshape(-1)
  if images.shape[1:] != (ORIGINAL_SIZE, ORIGINAL_SIZE, DEPTH):
    raise ValueError('images of shape %s, expected [N, %d, %d, %d]'
                     % (images.shape, ORIGINAL_SIZE, ORIGINAL_SIZE, DEPTH))
  if len(labels) != len(images):
    raise ValueError('%d labels for %d images' % (len(labels), len(images)))
  if labels.size and not 0 <= labels.min() <= labels.max() <= MAX_LABEL:
    raise ValueError('labels must be in 0..%d, got %d..%d'
                     % (MAX_LABEL, labels.min(), labels.max()))
  records = np.empty((len(images), RECORD_BYTES), np.uint8)
  records[:, :LABEL_BYTES] = labels[:, None]
  records[:, LABEL_BYTES:] = images.transpose(0, 3, 1, 2).reshape(
      len(images), IMAGE_BYTES)
  return records


def decode(records: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Images and labels of records [N, RECORD_BYTES].

  Returns:
    images: uint8 [N, 32, 32, 3], a contiguous copy.
    labels: int32 [N].
  """
  planes = records[:, LABEL_BYTES:].reshape(-1, DEPTH, ORIGINAL_SIZE,
                                            ORIGINAL_SIZE)
  return (np.ascontiguousarray(planes.transpose(0, 2, 3, 1)),
          decode_labels(records))


def decode_labels(records: np.ndarray) -> np.ndarray:
  """The int32 labels [N] of records [N, RECORD_BYTES], without the images."""
  return records[:, 0].astype(np.int32)


def write_records(path: str, images: np.ndarray,
                  labels: Sequence[int]) -> None:
  """Writes images and labels to path as a CIFAR-10 binary file."""
  encode(images, labels).tofile(os.fspath(path))


def map_records(filename: str, num_classes: int = NUM_CLASSES) -> np.ndarray:
  """A record file's records [N, RECORD_BYTES], memory-mapped.

  The file is checked first to hold whole records with labels below
  num_classes (see cifar10.data.check_data_files for why).

  Args:
    filename: the record file.
    num_classes: labels must be below this.

  Raises:
    DataError: naming the file and what is wrong with it.
  """
  problem = paths.input_file_problem(filename)
  if problem:
    raise DataError(paths.describe('The data file', filename, problem))
  size = os.path.getsize(filename)
  if size == 0 or size % RECORD_BYTES:
    raise DataError(
        '%s: %d bytes is not a whole number of %d-byte CIFAR-10 records '
        '(the file is truncated or not in the binary format).'
        % (filename, size, RECORD_BYTES))
  records = np.memmap(filename, np.uint8, 'r').reshape(-1, RECORD_BYTES)
  labels = decode_labels(records)
  bad = np.flatnonzero(labels >= num_classes)
  if bad.size:
    raise DataError(
        '%s: record %d has label %d, but labels must be below %d '
        '(%d bad records in this file).'
        % (filename, bad[0], labels[bad[0]], num_classes, bad.size))
  return records


def _decode_tf(values: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
  """Graph ops decoding string records [n]: int32 labels [n], uint8 images
  [n, 32, 32, 3]."""
  records = tf.io.decode_raw(values, tf.uint8)
  labels = tf.cast(records[:, 0], tf.int32)
  planes = tf.reshape(records[:, LABEL_BYTES:],
                      [-1, DEPTH, ORIGINAL_SIZE, ORIGINAL_SIZE])
  return labels, tf.transpose(planes, [0, 2, 3, 1])


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
  label, images = _decode_tf(tf.reshape(value, [1]))
  return CIFAR10Record(key=key, label=label, uint8image=images[0])


def read_cifar10_batch(filename_queue: tf1.QueueBase,
                       count: int) -> tuple[tf.Tensor, tf.Tensor]:
  """Reads up to `count` consecutive records with one reader op.

  One read of many records costs the queue-runner thread a handful of op
  launches instead of a handful per record (read_cifar10): CPU time the
  model would otherwise lose.

  Args:
    filename_queue: a queue of file names.
    count: records per read; fewer at the end of a file.

  Returns:
    labels: int32 [n].
    images: uint8 [n, 32, 32, 3].
  """
  reader = tf1.FixedLengthRecordReader(record_bytes=RECORD_BYTES)
  _, values = reader.read_up_to(filename_queue, count)
  return _decode_tf(values)


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
    self.filenames = list(filenames)
    self._records = [map_records(f, num_classes) for f in self.filenames]
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
    images, labels = decode(self._records[file_index][record:record + 1])
    return images[0], int(labels[0])

  def batch(self, indices: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Returns uint8 images [N, 32, 32, 3] and int32 labels [N].

    Records are gathered with one fancy index per file and decoded at once,
    rather than record by record, which would cost each --input=feed step a
    noticeable share of its time.
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
    return decode(raw)

  def batches(self, batch_size: int, seed: Optional[int] = None,
              skip: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Endless random batches, each epoch a new permutation of the records.

    A batch crossing an epoch boundary takes the old epoch's tail and the new
    epoch's head, so every record is seen once per epoch.

    Args:
      batch_size: records per batch.
      seed: of the permutations; None: new ones every run.
      skip: batches to pass over first, without reading them: with a seed,
        the batches then go on as after `skip` batches of a run from the
        start (a resumed training run reads what it would have read).
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(self))
    position = 0
    # Only whole epochs draw permutations: passing over them costs one
    # permutation each, nothing read.
    skipped = skip * batch_size
    while skipped >= len(order) - position:
      skipped -= len(order) - position
      order, position = rng.permutation(len(self)), 0
    position += skipped
    while True:
      take = []
      while len(take) < batch_size:
        if position == len(order):
          order, position = rng.permutation(len(self)), 0
        count = min(batch_size - len(take), len(order) - position)
        take.extend(order[position:position + count])
        position += count
      yield self.batch(take)

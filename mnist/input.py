"""MNIST input: IDX file checks, queue pipelines, in-memory DataSets, download.

Two ways to feed a model, as in the TF 1 tutorials:
  * `read_data_sets` loads the files into numpy `DataSet`s whose `next_batch`
    feeds placeholders (Beginners, Experts, Mechanics 101).
  * `train_inputs` / `eval_inputs` stream the gzipped files through
    FixedLengthRecordReader and queues (the reader-based pipelines).
"""

import collections
import gzip
import os
import zlib
from typing import Dict, List, Mapping, NamedTuple, Optional, Tuple

import numpy as np
import tensorflow as tf

from tfclassic import determinism
from tfclassic import download
from tfclassic import paths
from tfclassic.errors import DataError, UserError

# Mirror used by the TF tutorials' input_data.py.
SOURCE_URL = 'https://storage.googleapis.com/cvdf-datasets/mnist/'

TRAIN_IMAGES = 'train-images-idx3-ubyte.gz'
TRAIN_LABELS = 'train-labels-idx1-ubyte.gz'
TEST_IMAGES = 't10k-images-idx3-ubyte.gz'
TEST_LABELS = 't10k-labels-idx1-ubyte.gz'

# MD5 of the *uncompressed* files: mirrors re-gzip the data, so the gzip
# bytes may differ while the IDX content is the original.
CHECKSUMS = {
    TRAIN_IMAGES: '6bbc9ace898e44ae57da46a324031adb',
    TRAIN_LABELS: 'a25bea736e30d166cdddb491f175f624',
    TEST_IMAGES: '2646ac647ad5339dbf082846283269ea',
    TEST_LABELS: '27ae3e4e09519cfbb04c329615203637',
}

IMAGE_MAGIC = 2051
LABEL_MAGIC = 2049
IMAGE_HEADER_BYTES = 16
LABEL_HEADER_BYTES = 8
IMAGE_SIZE = 28
IMAGE_PIXELS = IMAGE_SIZE * IMAGE_SIZE
NUM_CLASSES = 10
VALIDATION_SIZE = 5000
# The examples in the original files.
NUM_TRAIN_EXAMPLES = 60000
NUM_TEST_EXAMPLES = 10000

# Examples kept in the training shuffle queue; 10k mixes well within RAM.
MIN_AFTER_DEQUEUE = 10000
# Records per reader op: read one at a time, the reader, not the model, set
# the pace of the small models (docs/performance.md).
READ_RECORDS = 1000


class IdxError(DataError):
  """An IDX file is malformed, truncated or inconsistent with its partner."""


class DataUnavailableError(DataError):
  """MNIST files are missing and could not be downloaded."""


class IdxInfo(NamedTuple):
  """Header of a checked IDX file."""
  path: str
  count: int
  record_shape: Tuple[int, ...]


def _read_gzip(path: str) -> bytes:
  try:
    with gzip.open(path, 'rb') as f:
      return f.read()
  except FileNotFoundError:
    raise IdxError(f'{path}: file not found') from None
  except EOFError:
    raise IdxError(f'{path}: gzip stream ends early; the file is '
                   'incomplete (interrupted download?)') from None
  except (OSError, zlib.error) as e:
    raise IdxError(f'{path}: not a readable gzip file ({e})') from None


def _parse_idx(data: bytes, path: str, magic: int) -> Tuple[IdxInfo, bytes]:
  """Checks an uncompressed IDX buffer and splits header from payload."""
  ndim = 3 if magic == IMAGE_MAGIC else 1
  header_bytes = 4 + 4 * ndim
  if len(data) < header_bytes:
    raise IdxError(f'{path}: {len(data)} bytes is too short for an IDX '
                   f'header of {header_bytes} bytes; the file is incomplete')
  found = int.from_bytes(data[0:4], 'big')
  if found != magic:
    raise IdxError(f'{path}: bad magic number {found}, expected {magic} '
                   f'({"images" if magic == IMAGE_MAGIC else "labels"} '
                   'file)')
  dims = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big')
               for i in range(ndim))
  count, record_shape = dims[0], dims[1:]
  if magic == IMAGE_MAGIC and record_shape != (IMAGE_SIZE, IMAGE_SIZE):
    raise IdxError(f'{path}: images are {record_shape[0]}x{record_shape[1]}'
                   f', expected {IMAGE_SIZE}x{IMAGE_SIZE}')
  payload = data[header_bytes:]
  expected = count * int(np.prod(record_shape, dtype=np.int64))
  if len(payload) < expected:
    raise IdxError(f'{path}: header promises {count} records '
                   f'({expected} bytes) but only {len(payload)} bytes '
                   'follow; the file is incomplete')
  if len(payload) > expected:
    raise IdxError(f'{path}: {len(payload) - expected} unexpected bytes '
                   f'after the {count} records the header declares')
  return IdxInfo(path, count, record_shape), payload


def read_images(path: str) -> np.ndarray:
  """Reads a gzipped IDX image file.

  Args:
    path: path of e.g. `train-images-idx3-ubyte.gz`.

  Returns:
    uint8 array [count, 28, 28].

  Raises:
    IdxError: naming the file, if it is not a complete IDX image file.
  """
  info, payload = _parse_idx(_read_gzip(path), path, IMAGE_MAGIC)
  return np.frombuffer(payload, np.uint8).reshape(
      (info.count,) + info.record_shape)


def read_labels(path: str) -> np.ndarray:
  """Reads a gzipped IDX label file.

  Args:
    path: path of e.g. `train-labels-idx1-ubyte.gz`.

  Returns:
    uint8 array [count] with values in 0..9.

  Raises:
    IdxError: naming the file, if it is not a complete IDX label file.
  """
  _, payload = _parse_idx(_read_gzip(path), path, LABEL_MAGIC)
  labels = np.frombuffer(payload, np.uint8)
  if labels.size and labels.max() >= NUM_CLASSES:
    raise IdxError(f'{path}: label {labels.max()} is out of range '
                   f'0..{NUM_CLASSES - 1}')
  return labels


def _check_pair(images: str, labels: str, n_images: int, n_labels: int):
  if n_images != n_labels:
    raise IdxError(f'{images} holds {n_images} images but {labels} holds '
                   f'{n_labels} labels; they must match')


def check_files(images_path: str, labels_path: str) -> int:
  """Validates an image/label file pair without keeping the data.

  Args:
    images_path: gzipped IDX image file.
    labels_path: gzipped IDX label file.

  Returns:
    The number of examples.

  Raises:
    IdxError: naming the file at fault.
  """
  info, _ = _parse_idx(_read_gzip(images_path), images_path, IMAGE_MAGIC)
  n_labels = read_labels(labels_path).size
  _check_pair(images_path, labels_path, info.count, n_labels)
  return info.count


def dense_to_one_hot(labels: np.ndarray,
                     num_classes: int = NUM_CLASSES) -> np.ndarray:
  """Converts class indices [n] to one-hot float32 rows [n, num_classes]."""
  one_hot = np.zeros((labels.size, num_classes), np.float32)
  one_hot[np.arange(labels.size), labels.ravel()] = 1.0
  return one_hot


class DataSet:
  """In-memory examples served in minibatches, as in TF's input_data.py.

  Images are float32 [n, 784] scaled to [0, 1].
  """

  def __init__(self, images: np.ndarray, labels: np.ndarray,
               seed: Optional[int] = None):
    """Args:
      images: uint8 [n, 28, 28] (or already flat [n, 784]).
      labels: [n] class indices or [n, 10] one-hot.
      seed: seeds this DataSet's own shuffling generator.
    """
    if len(images) != len(labels):
      raise ValueError(f'{len(images)} images but {len(labels)} labels')
    self._images = (images.reshape(len(images), IMAGE_PIXELS)
                    .astype(np.float32) / 255.0)
    self._labels = labels
    self._num_examples = len(images)
    # Shuffling permutes this index, not the images: copying all 55000
    # images at each epoch start would cost more than many softmax steps.
    self._order = np.arange(self._num_examples)
    self._epochs_completed = 0
    self._index_in_epoch = 0
    self._rng = np.random.RandomState(seed)

  @property
  def images(self) -> np.ndarray:
    """All images, in file order."""
    return self._images

  @property
  def labels(self) -> np.ndarray:
    """All labels, in file order."""
    return self._labels

  @property
  def num_examples(self) -> int:
    return self._num_examples

  @property
  def epochs_completed(self) -> int:
    return self._epochs_completed

  def _shuffle(self):
    self._order = self._order[self._rng.permutation(self._num_examples)]

  def _gather(self, order: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    return self._images[order], self._labels[order]

  def next_batch(self, batch_size: int,
                 shuffle: bool = True) -> Tuple[np.ndarray, np.ndarray]:
    """Returns the next `batch_size` examples.

    The order is reshuffled at the start of every epoch; a batch that
    crosses the end of an epoch is the old epoch's tail followed by the
    new epoch's head, so every example is seen once per epoch.

    Args:
      batch_size: examples per batch, at most `num_examples`.
      shuffle: whether to shuffle at each epoch start.

    Returns:
      (images [batch_size, 784], labels [batch_size] or [batch_size, 10]),
      copies.

    Raises:
      UserError: batch_size is not in 1..num_examples.
    """
    return self._gather(self._next_indices(batch_size, shuffle))

  def skip_batches(self, count: int, batch_size: int,
                   shuffle: bool = True) -> None:
    """Passes over `count` batches as next_batch would serve them, without
    gathering them: with a seed, the batches after it are those of a run
    that served the skipped ones (a resumed run reads what it would have).

    Raises:
      UserError: batch_size is not in 1..num_examples.
    """
    for _ in range(count):
      self._next_indices(batch_size, shuffle)

  def _next_indices(self, batch_size: int, shuffle: bool) -> np.ndarray:
    if not 0 < batch_size <= self._num_examples:
      raise UserError(f'batch_size {batch_size} must be in 1..'
                      f'{self._num_examples}, the number of examples')
    start = self._index_in_epoch
    if self._epochs_completed == 0 and start == 0 and shuffle:
      self._shuffle()
    if start + batch_size <= self._num_examples:
      self._index_in_epoch += batch_size
      return self._order[start:self._index_in_epoch]
    self._epochs_completed += 1
    tail = self._order[start:]
    if shuffle:
      self._shuffle()
    self._index_in_epoch = batch_size - len(tail)
    return np.concatenate([tail, self._order[:self._index_in_epoch]])


Datasets = collections.namedtuple('Datasets', ['train', 'validation', 'test'])


def read_data_sets(data_dir: str, one_hot: bool = False,
                   validation_size: int = VALIDATION_SIZE,
                   seed: Optional[int] = None) -> Datasets:
  """Loads the four MNIST files from `data_dir` into DataSets.

  Args:
    data_dir: directory holding the four gzipped IDX files.
    one_hot: labels as one-hot [n, 10] float32 rows instead of indices.
    validation_size: first training examples held out for validation.
    seed: base seed for the DataSets' shuffling (None: nondeterministic).

  Returns:
    Datasets(train, validation, test).

  Raises:
    IdxError: a file is malformed, naming it.
    UserError: validation_size out of range.
  """
  def load(images_name, labels_name):
    images_path = os.path.join(data_dir, images_name)
    labels_path = os.path.join(data_dir, labels_name)
    images, labels = read_images(images_path), read_labels(labels_path)
    _check_pair(images_path, labels_path, len(images), len(labels))
    return images, dense_to_one_hot(labels) if one_hot else labels

  train_images, train_labels = load(TRAIN_IMAGES, TRAIN_LABELS)
  test_images, test_labels = load(TEST_IMAGES, TEST_LABELS)
  if not 0 <= validation_size <= len(train_images):
    raise UserError(f'validation_size {validation_size} must be in 0..'
                    f'{len(train_images)}, the number of training examples')

  def sub_seed(offset):
    return None if seed is None else seed + offset

  return Datasets(
      train=DataSet(train_images[validation_size:],
                    train_labels[validation_size:], sub_seed(0)),
      validation=DataSet(train_images[:validation_size],
                         train_labels[:validation_size], sub_seed(1)),
      test=DataSet(test_images, test_labels, sub_seed(2)))


def _read_examples(images_path: str, labels_path: str,
                   num_epochs: Optional[int]) -> Tuple[tf.Tensor, tf.Tensor]:
  """Reads up to READ_RECORDS (image, label) pairs per run.

  Returns:
    uint8 images [n, 784] and int32 labels [n].
  """
  image_files = tf.compat.v1.train.string_input_producer(
      [images_path], num_epochs=num_epochs, shuffle=False, name='images')
  label_files = tf.compat.v1.train.string_input_producer(
      [labels_path], num_epochs=num_epochs, shuffle=False, name='labels')
  image_reader = tf.compat.v1.FixedLengthRecordReader(
      record_bytes=IMAGE_PIXELS, header_bytes=IMAGE_HEADER_BYTES,
      encoding='GZIP')
  label_reader = tf.compat.v1.FixedLengthRecordReader(
      record_bytes=1, header_bytes=LABEL_HEADER_BYTES, encoding='GZIP')
  # Both readers return the same number of records: the files hold as many,
  # and read_up_to only stops short at the end of the last epoch.
  _, image_bytes = image_reader.read_up_to(image_files, READ_RECORDS)
  _, label_bytes = label_reader.read_up_to(label_files, READ_RECORDS)
  images = tf.reshape(tf.io.decode_raw(image_bytes, tf.uint8),
                      [-1, IMAGE_PIXELS])
  labels = tf.cast(tf.reshape(tf.io.decode_raw(label_bytes, tf.uint8), [-1]),
                   tf.int32)
  return images, labels


def _scale(images: tf.Tensor) -> tf.Tensor:
  """uint8 pixels to float32 in [0, 1], as DataSet scales them."""
  return tf.cast(images, tf.float32) / 255.0


def train_inputs(data_dir: str, batch_size: int,
                 seed: Optional[int] = None,
                 deterministic: bool = False,
                 start_step: int = 0) -> Tuple[tf.Tensor, tf.Tensor]:
  """Shuffled, endlessly repeating training batches from the queue readers.

  Reads all 60000 training examples (no validation hold-out). Queue runners
  must be started in the session.

  Args:
    data_dir: directory holding the training IDX files.
    batch_size: examples per batch.
    seed: shuffle seed.
    deterministic: the same batches in every run: a first-in first-out
      queue in the files' order instead of the shuffling queue, whose picks
      depend on how far the reader has run ahead (see
      cifar10.inputs.distorted_inputs).
    start_step: with `deterministic`, the global step a resumed run starts
      at: the examples of the steps before it are passed over.

  Returns:
    images float32 [batch_size, 784] in [0, 1], labels int32 [batch_size].
  """
  images_path = os.path.join(data_dir, TRAIN_IMAGES)
  labels_path = os.path.join(data_dir, TRAIN_LABELS)
  num_examples = check_files(images_path, labels_path)
  images, labels = _read_examples(images_path, labels_path, num_epochs=None)
  # Holding more than one copy of the file would not mix it any better.
  min_after_dequeue = min(MIN_AFTER_DEQUEUE, num_examples)
  # One enqueue thread: the two readers advance together only when a single
  # thread runs both reads, otherwise images and labels could pair wrongly.
  # The queue holds uint8 pixels: a quarter of the memory of floats, and
  # less to copy per batch. Room for a whole read on top keeps the reader
  # from waiting for the batches to drain.
  capacity = min_after_dequeue + READ_RECORDS + 3 * batch_size
  if deterministic:
    images, labels = determinism.skip_first(start_step * batch_size, images,
                                            labels)
    images, labels = tf.compat.v1.train.batch(
        [images, labels], batch_size=batch_size, num_threads=1,
        capacity=capacity, enqueue_many=True)
    return _scale(images), labels
  images, labels = tf.compat.v1.train.shuffle_batch(
      [images, labels], batch_size=batch_size, num_threads=1,
      capacity=capacity,
      min_after_dequeue=min_after_dequeue, seed=seed, enqueue_many=True)
  return _scale(images), labels


def eval_inputs(data_dir: str,
                batch_size: int) -> Tuple[tf.Tensor, tf.Tensor]:
  """One in-order pass over the test set, in batches (the last may be short).

  Needs local variables initialised (epoch counter) and queue runners
  started; running the batch raises OutOfRangeError after the last example.

  Args:
    data_dir: directory holding the t10k IDX files.
    batch_size: examples per batch.

  Returns:
    images float32 [<=batch_size, 784] in [0, 1], labels int32 [<=batch_size].
  """
  images_path = os.path.join(data_dir, TEST_IMAGES)
  labels_path = os.path.join(data_dir, TEST_LABELS)
  check_files(images_path, labels_path)
  images, labels = _read_examples(images_path, labels_path, num_epochs=1)
  images, labels = tf.compat.v1.train.batch(
      [images, labels], batch_size=batch_size, num_threads=1,
      capacity=3 * batch_size, enqueue_many=True,
      allow_smaller_final_batch=True)
  return _scale(images), labels


def maybe_download(data_dir: str, source_url: str = SOURCE_URL,
                   checksums: Mapping[str, str] = CHECKSUMS) -> List[str]:
  """Downloads whichever of the MNIST files are not yet in `data_dir`.

  Files already present are left alone. Each download goes to a temporary
  name and is renamed only after its checksum matches, so an interrupted or
  corrupt transfer never leaves a file under the final name.

  Args:
    data_dir: where the files live (created if needed).
    source_url: base URL the file names are appended to.
    checksums: file name -> MD5 of its uncompressed content.

  Returns:
    Paths of all files, in `checksums` order.

  Raises:
    DataUnavailableError: some files are missing and could not be fetched;
      the message says which, where, and how to provide them.
  """
  for name in checksums:
    path = os.path.join(data_dir, name)
    if os.path.lexists(path):
      problem = paths.input_file_problem(path)
      if problem:
        raise DataError(paths.describe('The data file', path, problem))
  missing = {name: md5 for name, md5 in checksums.items()
             if not os.path.exists(os.path.join(data_dir, name))}
  if missing:
    download.make_data_dir(data_dir)
  base = source_url if source_url.endswith('/') else source_url + '/'
  failures: Dict[str, str] = {}
  for name, md5 in missing.items():
    dest = os.path.join(data_dir, name)
    try:
      download.download(base + name, dest, md5, gunzip_md5=True)
    except (OSError, DataError) as e:
      failures[name] = str(getattr(e, 'reason', e)) or type(e).__name__
  if failures:
    reasons = set(failures.values())
    details = (reasons.pop() if len(reasons) == 1 else
               '; '.join(f'{n}: {r}' for n, r in failures.items()))
    which = ('them' if len(failures) == len(checksums) else
             ', '.join(failures))
    raise DataUnavailableError(
        f'MNIST data is missing from {os.path.abspath(data_dir)}: expected '
        f'{", ".join(checksums)} there, and downloading {which} from {base} '
        f'failed ({details}). Copy the four gzipped IDX files into a '
        'directory and pass it with --data_dir=DIR (or set '
        'MNIST_DATA_DIR=DIR), or rerun with network access or another '
        'mirror via --source_url.')
  return [os.path.join(data_dir, n) for n in checksums]

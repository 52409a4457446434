"""mnist.input: IDX checks, DataSet batching, queue readers, download."""

import gzip
import hashlib
import os
import pathlib
from typing import Dict, NamedTuple

import numpy as np
import pytest
import tensorflow as tf

from conftest import LoopbackServer, closed_port_url, run_module
from mnist import input as mnist_input
from tfclassic import errors


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
  """Serialises uint8 `array` as an IDX file: magic, dims, then data."""
  header = magic.to_bytes(4, 'big') + b''.join(
      d.to_bytes(4, 'big') for d in array.shape)
  return header + np.asarray(array, np.uint8).tobytes()


def write_gz(path, data: bytes):
  with gzip.open(path, 'wb') as f:
    f.write(data)


def numbered_examples(count: int):
  """Image i is filled with value i and labelled i % 10, so pairs are
  checkable after shuffling."""
  images = np.repeat(np.arange(count, dtype=np.uint8), 28 * 28).reshape(
      count, 28, 28)
  return images, (np.arange(count) % 10).astype(np.uint8)


def write_mnist(data_dir: pathlib.Path, n_train: int, n_test: int):
  data_dir.mkdir(parents=True, exist_ok=True)
  for images_name, labels_name, count in [
          (mnist_input.TRAIN_IMAGES, mnist_input.TRAIN_LABELS, n_train),
          (mnist_input.TEST_IMAGES, mnist_input.TEST_LABELS, n_test)]:
    images, labels = numbered_examples(count)
    write_gz(data_dir / images_name, idx_bytes(images, 2051))
    write_gz(data_dir / labels_name, idx_bytes(labels, 2049))
  return data_dir


# --- IDX parsing ------------------------------------------------------------

def test_reads_images_and_labels_written_by_the_test(tmp_path):
  rng = np.random.RandomState(0)
  images = rng.randint(0, 256, (7, 28, 28)).astype(np.uint8)
  labels = rng.randint(0, 10, 7).astype(np.uint8)
  write_gz(tmp_path / 'i.gz', idx_bytes(images, 2051))
  write_gz(tmp_path / 'l.gz', idx_bytes(labels, 2049))
  np.testing.assert_array_equal(
      mnist_input.read_images(str(tmp_path / 'i.gz')), images)
  np.testing.assert_array_equal(
      mnist_input.read_labels(str(tmp_path / 'l.gz')), labels)
  assert mnist_input.check_files(str(tmp_path / 'i.gz'),
                                 str(tmp_path / 'l.gz')) == 7


def test_bad_magic_names_the_file(tmp_path):
  path = tmp_path / 'train-images-idx3-ubyte.gz'
  write_gz(path, idx_bytes(np.zeros((2, 28, 28)), 2049))
  with pytest.raises(mnist_input.IdxError,
                     match=r'train-images-idx3-ubyte\.gz: bad magic '
                           r'number 2049, expected 2051'):
    mnist_input.read_images(str(path))
  labels = tmp_path / 'labels.gz'
  write_gz(labels, idx_bytes(np.zeros(3), 2051))
  with pytest.raises(mnist_input.IdxError, match='labels.gz: bad magic'):
    mnist_input.read_labels(str(labels))


def test_truncated_records_are_reported(tmp_path):
  path = tmp_path / 'images.gz'
  write_gz(path, idx_bytes(np.zeros((3, 28, 28)), 2051)[:-100])
  with pytest.raises(mnist_input.IdxError,
                     match=r'images\.gz: header promises 3 records '
                           r'\(2352 bytes\) but only 2252 bytes follow'):
    mnist_input.read_images(str(path))


def test_truncated_gzip_stream_is_reported(tmp_path):
  whole = tmp_path / 'whole.gz'
  write_gz(whole, idx_bytes(
      np.random.RandomState(1).randint(0, 256, (50, 28, 28)), 2051))
  cut = tmp_path / 'cut.gz'
  cut.write_bytes(whole.read_bytes()[:-500])
  with pytest.raises(mnist_input.IdxError,
                     match=r'cut\.gz: gzip stream ends early'):
    mnist_input.read_images(str(cut))


def test_short_header_trailing_bytes_and_not_gzip(tmp_path):
  short = tmp_path / 'short.gz'
  write_gz(short, (2051).to_bytes(4, 'big') + b'\0\0')
  with pytest.raises(mnist_input.IdxError, match=r'short\.gz: 6 bytes'):
    mnist_input.read_images(str(short))
  extra = tmp_path / 'extra.gz'
  write_gz(extra, idx_bytes(np.zeros(4), 2049) + b'xy')
  with pytest.raises(mnist_input.IdxError,
                     match=r'extra\.gz: 2 unexpected bytes'):
    mnist_input.read_labels(str(extra))
  corrupt = tmp_path / 'corrupt.gz'
  whole = bytearray(gzip.compress(idx_bytes(np.arange(200) % 10, 2049)))
  whole[20:30] = b'\xff' * 10
  corrupt.write_bytes(bytes(whole))
  with pytest.raises(mnist_input.IdxError, match=r'corrupt\.gz: not a'):
    mnist_input.read_labels(str(corrupt))
  plain = tmp_path / 'plain.gz'
  plain.write_bytes(idx_bytes(np.zeros(4), 2049))
  with pytest.raises(mnist_input.IdxError, match=r'plain\.gz: not a'):
    mnist_input.read_labels(str(plain))
  with pytest.raises(mnist_input.IdxError, match=r'absent\.gz: file not'):
    mnist_input.read_labels(str(tmp_path / 'absent.gz'))


def test_wrong_image_size_and_label_range(tmp_path):
  small = tmp_path / 'small.gz'
  write_gz(small, idx_bytes(np.zeros((2, 8, 8)), 2051))
  with pytest.raises(mnist_input.IdxError, match=r'small\.gz: images are '
                                                r'8x8, expected 28x28'):
    mnist_input.read_images(str(small))
  labels = tmp_path / 'labels.gz'
  write_gz(labels, idx_bytes(np.array([1, 12]), 2049))
  with pytest.raises(mnist_input.IdxError, match='label 12 is out of'):
    mnist_input.read_labels(str(labels))


def test_image_and_label_counts_must_agree(tmp_path):
  write_mnist(tmp_path, n_train=30, n_test=5)
  write_gz(tmp_path / mnist_input.TEST_LABELS,
           idx_bytes(np.zeros(4), 2049))
  with pytest.raises(mnist_input.IdxError,
                     match=r't10k-images-idx3-ubyte\.gz holds 5 images but '
                           r'.*t10k-labels-idx1-ubyte\.gz holds 4 labels'):
    mnist_input.read_data_sets(str(tmp_path))


# --- DataSet and read_data_sets -------------------------------------------

def test_read_data_sets_splits_and_scales(tmp_path):
  write_mnist(tmp_path, n_train=30, n_test=12)
  data = mnist_input.read_data_sets(str(tmp_path), validation_size=10)
  assert (data.train.num_examples, data.validation.num_examples,
          data.test.num_examples) == (20, 10, 12)
  assert data.train.images.shape == (20, 784)
  assert data.train.images.dtype == np.float32
  # Validation is the head of the training file: image i holds value i.
  np.testing.assert_allclose(data.validation.images[:, 0],
                             np.arange(10) / 255.0, rtol=1e-6)
  np.testing.assert_allclose(data.train.images[:, 5],
                             np.arange(10, 30) / 255.0, rtol=1e-6)
  np.testing.assert_array_equal(data.test.labels, np.arange(12) % 10)
  one_hot = mnist_input.read_data_sets(str(tmp_path), one_hot=True,
                                       validation_size=0)
  assert one_hot.train.labels.shape == (30, 10)
  np.testing.assert_array_equal(one_hot.train.labels.argmax(1),
                                np.arange(30) % 10)
  assert one_hot.train.labels.sum() == 30
  with pytest.raises(errors.UserError, match='validation_size 31'):
    mnist_input.read_data_sets(str(tmp_path), validation_size=31)


def make_dataset(count: int, seed=None) -> mnist_input.DataSet:
  images = np.repeat(np.arange(count, dtype=np.uint8), 784).reshape(
      count, 28, 28)
  return mnist_input.DataSet(images, np.arange(count), seed=seed)


def test_next_batch_without_shuffle_wraps_tail_onto_head():
  data = make_dataset(10)
  batches = [data.next_batch(4, shuffle=False)[1] for _ in range(4)]
  assert [b.tolist() for b in batches] == [
      [0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 0, 1], [2, 3, 4, 5]]
  assert data.epochs_completed == 1
  images, labels = data.next_batch(4, shuffle=False)
  np.testing.assert_allclose(images[:, 100] * 255, labels, atol=1e-4)


def test_next_batch_shuffles_each_epoch_and_sees_every_example_once():
  data = make_dataset(10, seed=3)
  stream = np.concatenate([data.next_batch(3)[1] for _ in range(10)])
  # 30 examples = exactly 3 epochs; the batch at index 3 (items 9..11)
  # straddles the first epoch boundary.
  epochs = stream.reshape(3, 10)
  for epoch in epochs:
    assert sorted(epoch.tolist()) == list(range(10))
  assert not np.array_equal(epochs[0], epochs[1])
  assert not np.array_equal(epochs[0], np.arange(10))
  # As in TF, an epoch counts as completed when a batch first needs the
  # next one, so the exact end of epoch 3 is not yet counted.
  assert data.epochs_completed == 2
  # Images stay paired with their labels through the shuffles.
  images, labels = data.next_batch(10)
  np.testing.assert_allclose(images[:, 0] * 255, labels, atol=1e-4)


def test_next_batch_seed_is_local_and_reproducible():
  state = np.random.get_state()
  first = [make_dataset(10, seed=7).next_batch(5)[1].tolist()
           for _ in range(2)]
  assert first[0] == first[1]
  assert first[0] != make_dataset(10, seed=8).next_batch(5)[1].tolist()
  after = np.random.get_state()
  assert state[0] == after[0] and np.array_equal(state[1], after[1])


def test_next_batch_rejects_oversized_batches():
  with pytest.raises(errors.UserError, match='batch_size 11'):
    make_dataset(10).next_batch(11)


# --- queue pipelines --------------------------------------------------------

def run_queue(batch_op, runs=None):
  """Evaluates `batch_op` until OutOfRange or `runs` times."""
  batches = []
  with tf.compat.v1.Session() as sess:
    sess.run(tf.compat.v1.local_variables_initializer())
    coord = tf.compat.v1.train.Coordinator()
    threads = tf.compat.v1.train.start_queue_runners(sess, coord)
    try:
      while runs is None or len(batches) < runs:
        batches.append(sess.run(batch_op))
    except tf.errors.OutOfRangeError:
      pass
    finally:
      coord.request_stop()
      coord.join(threads)
  return batches


def test_eval_inputs_reads_the_test_files_once_in_order(tmp_path):
  write_mnist(tmp_path, n_train=5, n_test=25)
  with tf.Graph().as_default():
    batches = run_queue(mnist_input.eval_inputs(str(tmp_path), 10))
  assert [len(labels) for _, labels in batches] == [10, 10, 5]
  images = np.concatenate([b[0] for b in batches])
  labels = np.concatenate([b[1] for b in batches])
  assert images.shape == (25, 784) and images.dtype == np.float32
  np.testing.assert_allclose(images, np.repeat(
      np.arange(25)[:, None] / 255.0, 784, axis=1), rtol=1e-6)
  np.testing.assert_array_equal(labels, np.arange(25) % 10)


def test_train_inputs_shuffle_and_keep_pairs(tmp_path):
  write_mnist(tmp_path, n_train=40, n_test=5)
  with tf.Graph().as_default():
    batches = run_queue(mnist_input.train_inputs(str(tmp_path), 16,
                                                 seed=1), runs=6)
  images = np.concatenate([b[0] for b in batches])
  labels = np.concatenate([b[1] for b in batches])
  assert images.shape == (96, 784) and labels.dtype == np.int32
  index = np.rint(images[:, 0] * 255).astype(int)
  assert np.all(index < 40)
  np.testing.assert_array_equal(labels, index % 10)
  assert not np.array_equal(index[:16], np.arange(16))
  assert images.min() >= 0.0 and images.max() <= 1.0


def test_queue_inputs_check_headers_first(tmp_path):
  write_mnist(tmp_path, n_train=5, n_test=5)
  write_gz(tmp_path / mnist_input.TEST_IMAGES,
           idx_bytes(np.zeros((5, 28, 28)), 2049))
  with tf.Graph().as_default():
    with pytest.raises(mnist_input.IdxError, match='t10k-images'):
      mnist_input.eval_inputs(str(tmp_path), 5)


# --- maybe_download against a loopback HTTP server -----------------------

class Mirror(NamedTuple):
  """A loopback server serving a tiny MNIST from root."""
  server: LoopbackServer
  root: pathlib.Path
  checksums: Dict[str, str]


@pytest.fixture
def mirror(tmp_path, loopback_server) -> Mirror:
  root = tmp_path / 'mirror'
  write_mnist(root, n_train=12, n_test=6)
  for name in mnist_input.CHECKSUMS:
    loopback_server.files['/' + name] = (root / name).read_bytes()
  return Mirror(loopback_server, root, {
      name: hashlib.md5(gzip.open(root / name).read()).hexdigest()
      for name in mnist_input.CHECKSUMS})


def test_download_fetches_verifies_and_skips_done_work(tmp_path, mirror):
  data_dir = tmp_path / 'data'
  paths = mnist_input.maybe_download(str(data_dir), mirror.server.url,
                                     mirror.checksums)
  assert [os.path.basename(p) for p in paths] == list(mirror.checksums)
  for name in mirror.checksums:
    assert (data_dir / name).read_bytes() == (
        mirror.root / name).read_bytes()
  assert sorted(os.listdir(data_dir)) == sorted(mirror.checksums)
  assert len(mirror.server.requests) == 4
  mnist_input.maybe_download(str(data_dir), mirror.server.url,
                             mirror.checksums)
  assert len(mirror.server.requests) == 4
  (data_dir / mnist_input.TEST_LABELS).unlink()
  mnist_input.maybe_download(str(data_dir), mirror.server.url,
                             mirror.checksums)
  assert mirror.server.requests[4:] == ['/' + mnist_input.TEST_LABELS]
  assert mnist_input.read_data_sets(str(data_dir), validation_size=2) \
      .train.num_examples == 10


def test_download_rejects_bad_checksum_without_leaving_a_file(tmp_path,
                                                              mirror):
  checksums = dict(mirror.checksums)
  checksums[mnist_input.TRAIN_LABELS] = '0' * 32
  data_dir = tmp_path / 'data'
  with pytest.raises(mnist_input.DataUnavailableError,
                     match=r'train-labels-idx1-ubyte\.gz: .*checksum'):
    mnist_input.maybe_download(str(data_dir), mirror.server.url, checksums)
  assert sorted(os.listdir(data_dir)) == sorted(
      n for n in checksums if n != mnist_input.TRAIN_LABELS)


def test_interrupted_download_leaves_no_half_file(tmp_path, mirror):
  mirror.server.cut.update(mirror.server.files)
  data_dir = tmp_path / 'data'
  with pytest.raises(mnist_input.DataUnavailableError) as error:
    mnist_input.maybe_download(str(data_dir), mirror.server.url,
                               mirror.checksums)
  assert os.listdir(data_dir) == []
  for name in mirror.checksums:
    assert name in str(error.value)


def test_offline_error_is_one_clear_paragraph(tmp_path):
  data_dir = tmp_path / 'nothing'
  url = closed_port_url()
  with pytest.raises(mnist_input.DataUnavailableError) as error:
    mnist_input.maybe_download(str(data_dir), url)
  message = str(error.value)
  assert '\n' not in message
  assert str(data_dir) in message and url in message
  assert '--data_dir' in message
  for name in mnist_input.CHECKSUMS:
    assert name in message
  assert os.listdir(data_dir) == []


def test_train_binary_exits_cleanly_when_offline(tmp_path):
  result = run_module('mnist.train', f'--data_dir={tmp_path}',
                      f'--source_url={closed_port_url()}',
                      f'--train_dir={tmp_path / "train"}', '--seed=0',
                      timeout=120, check=False)
  assert result.returncode == 1
  assert 'Traceback' not in result.stderr
  assert 'MNIST data is missing' in result.stderr
  assert '--data_dir' in result.stderr and str(tmp_path) in result.stderr

"""cifar10.records, .data, .preprocessing, .inputs: readers, queues,
preprocessing, data checks and download."""
import hashlib
import io
import os
import tarfile
import time

import numpy as np
import pytest
import tensorflow as tf

from cifar10 import data as cifar10_data
from cifar10 import inputs
from cifar10 import preprocessing
from cifar10 import records
from conftest import (closed_port_url, learnable_examples, run_module,
                      write_dataset, write_records)
from numpy_model import eval_preprocess, standardize
from tfclassic import errors

tf1 = tf.compat.v1


# More runs than any one-epoch input of these tests gives.
MAX_RUNS = 10000


def _run_queue(fetches, runs=None):
  """Runs fetches with queue runners; returns the results of each run.

  Args:
    fetches: what to run.
    runs: run exactly this many times; the input ending sooner
      (OutOfRangeError) fails the test. None: run until the input ends, which
      it must within MAX_RUNS.
  """
  results = []
  with tf1.Session() as sess:
    sess.run([tf1.global_variables_initializer(),
              tf1.local_variables_initializer()])
    coord = tf1.train.Coordinator()
    threads = tf1.train.start_queue_runners(sess, coord)
    try:
      while len(results) < (runs or MAX_RUNS):
        try:
          results.append(sess.run(fetches))
        except tf.errors.OutOfRangeError:
          assert runs is None, 'the input ended after %d of %d runs' % (
              len(results), runs)
          return results
      assert runs is not None, 'the input did not end'
      return results
    finally:
      coord.request_stop()
      coord.join(threads)


@pytest.mark.usefixtures('tf_behaviour')
def test_read_cifar10_returns_written_records_then_out_of_range(tmp_path):
  files = []
  written = []
  for i, count in enumerate([3, 5]):
    images, labels = learnable_examples(count, seed=i)
    path = tmp_path / ('f%d.bin' % i)
    write_records(path, images, labels)
    files.append(str(path))
    written += [('%s:%d' % (path, j), labels[j], images[j])
                for j in range(count)]
  with tf.Graph().as_default():
    queue = tf1.train.string_input_producer(files, num_epochs=1, shuffle=False)
    record = records.read_cifar10(queue)
    assert record.label.dtype == tf.int32
    assert record.uint8image.dtype == tf.uint8
    assert (record.height, record.width, record.depth) == (32, 32, 3)
    got = _run_queue([record.key, record.label, record.uint8image])
  assert len(got) == len(written)
  for (key, label, image), (want_key, want_label, want_image) in zip(
      got, written):
    assert key.decode() == want_key
    assert label.shape == (1,) and label[0] == want_label
    np.testing.assert_array_equal(image, want_image)


def test_tf_reader_and_numpy_reader_agree(cifar_data):
  files = cifar10_data.data_files(str(cifar_data))
  reader = records.Cifar10Reader(files)
  assert len(reader) == 200
  with tf.Graph().as_default():
    queue = tf1.train.string_input_producer(files, num_epochs=1, shuffle=False)
    record = records.read_cifar10(queue)
    got = _run_queue([record.key, record.label, record.uint8image])
  assert len(got) == len(reader)
  for index, (key, label, image) in enumerate(got):
    want_image, want_label = reader[index]
    assert key.decode() == reader.key(index)
    assert label[0] == want_label
    np.testing.assert_array_equal(image, want_image)


@pytest.mark.usefixtures('tf_behaviour')
def test_reader_batches_cover_every_record_once_per_epoch(tmp_path):
  path = tmp_path / 'data.bin'
  images, labels = learnable_examples(10, seed=3)
  images[:, 0, 0, 0] = np.arange(10)  # a pixel that names the record
  write_records(path, images, labels)
  reader = records.Cifar10Reader([str(path)])
  batches = reader.batches(4, seed=0)
  seen = np.concatenate([next(batches)[0][:, 0, 0, 0] for _ in range(5)])
  # 20 examples = two epochs; the third batch joins epoch 1's tail to 2's head.
  assert sorted(seen[:10]) == list(range(10))
  assert sorted(seen[10:]) == list(range(10))
  with pytest.raises(IndexError, match='out of range'):
    reader[10]


@pytest.mark.usefixtures('tf_behaviour')
def test_distorted_inputs_shapes_and_ranges(cifar_data):
  with tf.Graph().as_default():
    images, labels = inputs.distorted_inputs(
        str(cifar_data), batch_size=8, min_fraction_in_queue=0.001)
    assert images.shape.as_list() == [8, 24, 24, 3]
    assert images.dtype == tf.float32 and labels.dtype == tf.int32
    assert images.device == labels.device == '/device:CPU:0'
    summaries = [t.name for t in tf1.get_collection(tf1.GraphKeys.SUMMARIES)]
    assert 'images:0' in summaries
    assert any('shuffle_batch/fraction_over_50_of_24_full' in name
               for name in summaries)
    (batch, batch_labels), = _run_queue([images, labels], runs=1)
  assert batch_labels.shape == (8,)
  assert set(batch_labels) <= {0, 1, 2, 3}
  np.testing.assert_allclose(batch.mean(axis=(1, 2, 3)), 0, atol=1e-4)
  np.testing.assert_allclose(batch.std(axis=(1, 2, 3)), 1, atol=1e-3)


def test_distortions_crop_flip_and_keep_content():
  """With brightness/contrast factored out by standardization, each distorted
  image equals a standardized 24x24 crop of the original, maybe mirrored."""
  rng = np.random.default_rng(0)
  original = rng.integers(0, 256, (32, 32, 3)).astype(np.float32)
  with tf.Graph().as_default(), tf1.Session() as sess:
    distorted = preprocessing.distort_image(tf.constant(original))
    samples = [sess.run(distorted) for _ in range(30)]
  flips = 0
  for sample in samples:
    matches = []
    for y in range(9):
      for x in range(9):
        crop = original[y:y + 24, x:x + 24]
        for flipped, candidate in ((0, crop), (1, crop[:, ::-1])):
          # Contrast scales each channel about its mean, so compare channels
          # by correlation.
          corr = min(np.corrcoef(sample[..., c].ravel(),
                                 candidate[..., c].ravel())[0, 1]
                     for c in range(3))
          if corr > 0.999:
            matches.append(flipped)
    assert len(matches) == 1
    flips += matches[0]
  assert 0 < flips < 30


@pytest.mark.usefixtures('tf_behaviour')
def test_eval_inputs_are_the_numpy_centre_crop_exactly_once(tmp_path):
  images, labels = learnable_examples(21, seed=7)
  write_dataset(tmp_path)
  write_records(tmp_path / 'cifar-10-batches-bin' / 'test_batch.bin',
                images, labels)
  with tf.Graph().as_default():
    batch_images, batch_labels = inputs.inputs(True, str(tmp_path),
                                               batch_size=8)
    got = _run_queue([batch_images, batch_labels])
  assert [len(b) for b, _ in got] == [8, 8, 5]
  np.testing.assert_array_equal(np.concatenate([l for _, l in got]), labels)
  np.testing.assert_allclose(np.concatenate([b for b, _ in got]),
                             eval_preprocess(images), atol=1e-4)


@pytest.mark.usefixtures('tf_behaviour')
def test_feed_inputs_take_any_batch_size():
  with tf.Graph().as_default(), tf1.Session() as sess:
    image_input, labels, images = inputs.distorted_feed_inputs()
    for n in (1, 3):
      out = sess.run(images, {image_input: np.zeros((n, 32, 32, 3), np.uint8)
                              + np.arange(32, dtype=np.uint8)[:, None, None],
                              labels: np.zeros(n, np.int32)})
      assert out.shape == (n, 24, 24, 3)
      np.testing.assert_allclose(out.std(axis=(1, 2, 3)), 1, atol=1e-3)


def test_standardize_reference_matches_tf():
  image = np.random.default_rng(1).integers(0, 256, (24, 24, 3))
  with tf.Graph().as_default(), tf1.Session() as sess:
    tf_value = sess.run(tf.image.per_image_standardization(
        tf.constant(image, tf.float32)))
  np.testing.assert_allclose(tf_value, standardize(image), atol=1e-5)


# Bad data: a clear error naming the file, in seconds.

@pytest.mark.parametrize('damage, message', [
    ('missing', 'data_batch_3.bin does not exist'),
    ('truncated', 'data_batch_3.bin: 6145 bytes is not a whole number of '
                  '3073-byte CIFAR-10 records'),
    ('label', 'data_batch_3.bin: record 1 has label 12, but labels must be '
              'below 10'),
])
def test_bad_data_is_reported_by_file(tmp_path, damage, message):
  write_dataset(tmp_path, per_file=2)
  bad = tmp_path / 'cifar-10-batches-bin' / 'data_batch_3.bin'
  if damage == 'missing':
    bad.unlink()
  elif damage == 'truncated':
    bad.write_bytes(bad.read_bytes()[:-1])
  else:
    data = bytearray(bad.read_bytes())
    data[3073] = 12
    bad.write_bytes(bytes(data))
  with pytest.raises(errors.DataError, match=message):
    cifar10_data.check_data_files(cifar10_data.data_files(str(tmp_path)))
  # The same through the training binary, as a user meets it.
  start = time.time()
  result = run_module('cifar10.train', '--data_dir=%s' % tmp_path,
                      '--train_dir=%s' % (tmp_path / 'train'),
                      '--data_url=' + closed_port_url(), check=False)
  assert result.returncode == 1
  if damage == 'missing':
    assert 'The CIFAR-10 data is not in' in result.stderr
  else:
    assert 'Error: ' + str(bad) in result.stderr
  assert 'Traceback' not in result.stderr
  assert time.time() - start < 60


# Download: a real HTTP server on loopback.

def _tarball(members: dict, links: dict | None = None) -> bytes:
  buffer = io.BytesIO()
  with tarfile.open(fileobj=buffer, mode='w:gz') as tar:
    for name, data in members.items():
      info = tarfile.TarInfo(name)
      info.size = len(data)
      tar.addfile(info, io.BytesIO(data))
    for name, target in (links or {}).items():
      info = tarfile.TarInfo(name)
      info.type = tarfile.SYMTYPE
      info.linkname = target
      tar.addfile(info)
  return buffer.getvalue()


def _official_like_tarball() -> bytes:
  images, labels = learnable_examples(4, seed=5)
  data = np.empty((4, 3073), np.uint8)
  data[:, 0] = labels
  data[:, 1:] = images.transpose(0, 3, 1, 2).reshape(4, -1)
  members = {'cifar-10-batches-bin/%s' % name: data.tobytes()
             for name in records.TRAIN_FILES + records.TEST_FILES}
  members['cifar-10-batches-bin/batches.meta.txt'] = b'airplane\n'
  return _tarball(members)


def test_download_verifies_extracts_and_skips_done_work(tmp_path,
                                                       loopback_server):
  archive = _official_like_tarball()
  loopback_server.files['/cifar-10-binary.tar.gz'] = archive
  url = loopback_server.url + '/cifar-10-binary.tar.gz'
  md5 = hashlib.md5(archive).hexdigest()
  batches = cifar10_data.maybe_download_and_extract(str(tmp_path), url, md5)
  assert batches == str(tmp_path / 'cifar-10-batches-bin')
  assert cifar10_data.check_data_files(
      cifar10_data.data_files(str(tmp_path))) == 20
  assert not list(tmp_path.glob('*.part'))
  assert (tmp_path / 'cifar-10-binary.tar.gz').read_bytes() == archive
  cifar10_data.maybe_download_and_extract(str(tmp_path), url, md5)
  assert loopback_server.requests == ['/cifar-10-binary.tar.gz']
  # A verified archive is extracted again without downloading it again.
  (tmp_path / 'cifar-10-batches-bin' / 'test_batch.bin').unlink()
  cifar10_data.maybe_download_and_extract(str(tmp_path), url, md5)
  assert loopback_server.requests == ['/cifar-10-binary.tar.gz']
  assert (tmp_path / 'cifar-10-batches-bin' / 'test_batch.bin').exists()


def test_download_with_wrong_checksum_leaves_no_file(tmp_path,
                                                    loopback_server):
  loopback_server.files['/cifar-10-binary.tar.gz'] = _official_like_tarball()
  with pytest.raises(errors.DataError, match='checksum'):
    cifar10_data.maybe_download_and_extract(
        str(tmp_path), loopback_server.url + '/cifar-10-binary.tar.gz',
        '0' * 32)
  assert os.listdir(tmp_path) == []


def test_offline_gives_one_clear_paragraph(tmp_path, loopback_server):
  with pytest.raises(errors.DataError) as error:
    cifar10_data.maybe_download_and_extract(
        str(tmp_path), loopback_server.url + '/missing.tar.gz', '0' * 32)
  message = str(error.value)
  assert 'data_batch_1.bin' in message and 'test_batch.bin' in message
  assert str(tmp_path / 'cifar-10-batches-bin') in message
  assert '--data_dir' in message and '404' in message
  assert '\n' not in message
  assert os.listdir(tmp_path) == []


@pytest.mark.parametrize('members, links', [
    ({'../evil.bin': b'x'}, None),
    ({'/tmp/evil.bin': b'x'}, None),
    ({}, {'cifar-10-batches-bin/link': '../../outside'}),
])
def test_archive_members_leaving_data_dir_are_refused(
    tmp_path, loopback_server, members, links):
  archive = _tarball(members, links)
  loopback_server.files['/a.tar.gz'] = archive
  data_dir = tmp_path / 'data'
  with pytest.raises(errors.DataError, match='outside'):
    cifar10_data.maybe_download_and_extract(
        str(data_dir), loopback_server.url + '/a.tar.gz',
        hashlib.md5(archive).hexdigest())
  assert sorted(p.name for p in tmp_path.rglob('*')) == ['a.tar.gz', 'data']


def test_files_in_place_need_no_network(cifar_data):
  batches = cifar10_data.maybe_download_and_extract(
      str(cifar_data), closed_port_url(), '0' * 32)
  assert batches == str(cifar_data / 'cifar-10-batches-bin')
  # --data_dir may also name the folder of .bin files itself.
  assert cifar10_data.maybe_download_and_extract(
      batches, closed_port_url(), '0' * 32) == batches


def test_class_names_from_meta_file(cifar_data, tmp_path):
  assert cifar10_data.read_class_names(str(cifar_data))[:2] == [
      'airplane', 'automobile']
  assert cifar10_data.read_class_names(str(tmp_path))[:2] == ['0', '1']


# Batched distortions: the same distribution as distort_image, per image.

def _match_crops(sources, distorted):
  """For each distorted image, the (offset_y, offset_x, flipped) of its
  source's 24x24 crop that it is a standardized, contrast-scaled copy of,
  and the contrast factor that scaled it.

  Contrast scales each channel's deviations from its mean by a factor, which
  standardization then divides, with the channel means, by one std. So the
  channels correlate perfectly with the crop's, and the factor is the ratio
  of the deviations' scale to the channel means' scale.
  """
  matches = []
  for source, image in zip(sources.astype(np.float64), distorted):
    candidates = [(y, x, flip) for y in range(9) for x in range(9)
                  for flip in (0, 1)]
    crops = np.stack([source[y:y + 24, x:x + 24][:, ::-1 if flip else 1]
                      for y, x, flip in candidates])            # [162,24,24,3]
    centred = crops - crops.mean(axis=(1, 2), keepdims=True)
    centred /= np.linalg.norm(centred, axis=(1, 2), keepdims=True)
    out = image - image.mean(axis=(0, 1))
    out /= np.linalg.norm(out, axis=(0, 1))
    correlation = np.einsum('khwc,hwc->kc', centred, out).min(axis=1)
    best = int(np.argmax(correlation))
    assert correlation[best] > 0.999
    assert np.sort(correlation)[-2] < 0.99  # one crop fits, not several
    crop = crops[best]
    deviation_scale = image.std(axis=(0, 1)) / crop.std(axis=(0, 1))
    crop_means = crop.mean(axis=(0, 1))
    means = image.mean(axis=(0, 1))
    mean_scale = np.polyfit(crop_means - crop_means.mean(), means, 1)[0]
    matches.append(candidates[best] +
                   (float(np.mean(deviation_scale) / mean_scale),))
  return matches


def _distinct_sources(count, seed):
  """uint8 [count, 32, 32, 3]: noise with well separated channel means."""
  rng = np.random.default_rng(seed)
  noise = rng.normal(0, 30, (count, 32, 32, 3))
  return np.clip(noise + [70, 128, 186], 0, 255).astype(np.uint8)


def test_batched_distortions_crop_flip_and_scale_each_image_independently():
  sources = _distinct_sources(128, seed=5)
  with tf.Graph().as_default(), tf1.Session() as sess:
    distorted = preprocessing.distort_images(tf.constant(sources))
    batches = [sess.run(distorted) for _ in range(2)]
  assert batches[0].shape == (128, 24, 24, 3)
  assert batches[0].dtype == np.float32
  for batch in batches:
    np.testing.assert_allclose(batch.mean(axis=(1, 2, 3)), 0, atol=1e-4)
    np.testing.assert_allclose(batch.std(axis=(1, 2, 3)), 1, atol=1e-3)
  matches = np.array(_match_crops(sources, batches[0]) +
                     _match_crops(sources, batches[1]))
  offsets_y, offsets_x, flips, factors = matches.T
  # Each image draws its own offsets, flip and factor: all 9 offsets occur,
  # about half the images are flipped, factors spread over [0.2, 1.8).
  assert set(offsets_y) == set(offsets_x) == set(range(9))
  assert 0.38 < flips.mean() < 0.62
  assert factors.min() > 0.2 - 1e-3 and factors.max() < 1.8 + 1e-3
  assert 0.9 < factors.mean() < 1.1
  assert 0.38 < factors.std() < 0.54  # uniform on [0.2, 1.8): 0.46
  # The same source image is distorted differently from batch to batch.
  assert np.mean(np.any(matches[:128] != matches[128:], axis=1)) > 0.9


def test_batched_and_per_example_distortions_agree_in_distribution():
  sources = _distinct_sources(1, seed=6)
  with tf.Graph().as_default(), tf1.Session() as sess:
    per_example = preprocessing.distort_image(
        tf.constant(sources[0], tf.float32))
    samples = np.stack([sess.run(per_example) for _ in range(200)])
  offsets_y, offsets_x, flips, factors = np.array(
      _match_crops(np.repeat(sources, 200, axis=0), samples)).T
  # The per-example distortions of the tutorial, measured the same way.
  assert set(offsets_y) == set(offsets_x) == set(range(9))
  assert 0.38 < flips.mean() < 0.62
  assert factors.min() > 0.2 - 1e-3 and factors.max() < 1.8 + 1e-3
  assert 0.9 < factors.mean() < 1.1


def _label_from_colour(image):
  """The class of a learnable_examples image from its standardized channel
  means: which channels are above the image mean (see CLASS_COLOURS)."""
  above = tuple(image.mean(axis=(0, 1)) > 0)
  return {(1, 0, 0): 0, (0, 1, 0): 1, (0, 0, 1): 2, (1, 1, 0): 3}[above]


@pytest.mark.parametrize('batched', [True, False])
@pytest.mark.usefixtures('tf_behaviour')
def test_distorted_inputs_keep_labels_with_their_images(cifar_data, batched):
  with tf.Graph().as_default():
    images, labels = inputs.distorted_inputs(
        str(cifar_data), batch_size=32, min_fraction_in_queue=0.001,
        batched=batched)
    assert images.shape.as_list() == [32, 24, 24, 3]
    assert labels.shape.as_list() == [32]
    got = _run_queue([images, labels], runs=3)
  assert len(got) == 3
  for batch, batch_labels in got:
    assert [_label_from_colour(image) for image in batch] == list(batch_labels)


def _fed_batches(cifar_data, seed):
  """Three distorted --input=feed batches of a fresh graph seeded with seed."""
  train_input = inputs.TrainInput(str(cifar_data), batch_size=16, seed=seed)
  with tf.Graph().as_default(), tf1.Session() as sess:
    tf1.set_random_seed(seed)
    images, labels, feed_fn = train_input.feed()
    return [sess.run([images, labels], feed_fn()) for _ in range(3)]


def test_a_seed_repeats_the_fed_examples_and_their_distortions(cifar_data):
  first, again, other = (_fed_batches(cifar_data, seed) for seed in (3, 3, 4))
  for (images, labels), (images_again, labels_again) in zip(first, again):
    np.testing.assert_array_equal(labels, labels_again)
    np.testing.assert_array_equal(images, images_again)
  assert not all(np.array_equal(a[0], b[0]) for a, b in zip(first, other))


def test_the_seed_reaches_the_queues_shuffles(cifar_data):
  """The queue's order also depends on its threads' timing, so a seed cannot
  repeat it exactly; it seeds both of its shuffles."""
  with tf.Graph().as_default() as graph:
    inputs.TrainInput(str(cifar_data), batch_size=16, seed=3).queue()
  shuffles = [op for op in graph.get_operations()
              if op.type in ('RandomShuffle', 'RandomShuffleQueueV2')]
  assert sorted(op.type for op in shuffles) == ['RandomShuffle',
                                               'RandomShuffleQueueV2']
  assert {op.get_attr('seed2') for op in shuffles} == {3}


def test_reader_batch_equals_record_by_record(tmp_path):
  write_dataset(tmp_path, per_file=7)
  reader = records.Cifar10Reader(cifar10_data.data_files(str(tmp_path)))
  indices = [34, 0, 8, -1, 20, 8, 13]  # across files, repeated, negative
  images, labels = reader.batch(indices)
  assert images.shape == (7, 32, 32, 3) and images.flags.c_contiguous
  assert labels.dtype == np.int32
  for image, label, index in zip(images, labels, indices):
    want_image, want_label = reader[index]
    np.testing.assert_array_equal(image, want_image)
    assert label == want_label
  with pytest.raises(IndexError, match='record 35 out of range'):
    reader.batch([1, 35])


def test_class_names_from_a_folder_holding_only_the_meta_file(tmp_path):
  (tmp_path / 'batches.meta.txt').write_text('cat\ndog\nbird\n')
  assert cifar10_data.read_class_names(str(tmp_path)) == ['cat', 'dog',
                                                           'bird']

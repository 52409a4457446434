"""cifar10.predict: the probabilities of the averaged weights, per image."""
import re

import numpy as np
import pytest
import tensorflow as tf

from cifar10 import data
from cifar10 import records
from cifar10 import serving
from conftest import learnable_examples, run_module
from numpy_model import probabilities as numpy_probabilities
from tfclassic import errors


@pytest.fixture(scope='module')
def train_dir(short_run):
  return short_run.train_dir


@pytest.fixture(scope='module')
def image_files(tmp_path_factory):
  """A 32x32 PNG, a 45x70 PNG (to be resized) and a file that is no image."""
  folder = tmp_path_factory.mktemp('images')
  small, _ = learnable_examples(1, seed=7)
  large = np.random.default_rng(3).integers(0, 256, (45, 70, 3), np.uint8)
  files = {'small': (folder / 'small.png', small[0]),
           'large': (folder / 'large.png', large)}
  for path, pixels in files.values():
    path.write_bytes(tf.io.encode_png(pixels).numpy())
  bad = folder / 'bad.png'
  bad.write_bytes(b'this is not a PNG')
  return files, bad


@pytest.fixture(scope='module')
def predicted(cifar_data, train_dir, image_files):
  """predict's output for the images, the bad file and record 3 of the test
  file, with all 10 classes printed."""
  files, bad = image_files
  result = run_module(
      'cifar10.predict', str(files['small'][0]), str(bad),
      str(files['large'][0]), '--record=test_batch.bin:3', '--top_k=10',
      '--data_dir=%s' % cifar_data, '--checkpoint_dir=%s' % train_dir,
      check=False)
  lines = {}
  for line in result.stdout.splitlines():
    name, classes = line.rsplit(': ', 1)
    lines[name] = dict((label, float(p)) for label, p in
                       (item.rsplit(' ', 1) for item in classes.split(', ')))
  return result, lines


def as_vector(printed, class_names):
  return np.array([printed[name] for name in class_names])


@pytest.mark.smoke
def test_images_and_records_get_the_numpy_models_probabilities(
    cifar_data, short_run, image_files, predicted):
  files, _ = image_files
  result, lines = predicted
  names = data.read_class_names(str(cifar_data))
  record, label = records.Cifar10Reader(
      data.data_files(str(cifar_data), eval_data=True))[3]
  large_resized = serving.resize_image(files['large'][1]).numpy()
  want = numpy_probabilities(
      short_run.checkpoint,
      np.stack([files['small'][1], large_resized, record]))
  assert list(lines) == [str(files['small'][0]), str(files['large'][0]),
                         'test_batch.bin:3 (label %s)' % names[label]]
  for printed, want_row in zip(lines.values(), want):
    # Printed with 4 decimals, most probable first.
    np.testing.assert_allclose(as_vector(printed, names), want_row,
                               atol=5.1e-5)
    assert list(printed.values()) == sorted(printed.values(), reverse=True)


def test_a_bad_image_is_reported_and_the_others_still_classified(
    image_files, predicted):
  _, bad = image_files
  result, lines = predicted
  assert result.returncode == 1
  # After the colon comes TensorFlow's reason, worded differently by each
  # release: only that there is one is checked.
  error, = result.stderr.strip().splitlines()
  assert re.fullmatch(re.escape('Error: %s: cannot decode the image: ' % bad)
                      + r'\S.*', error), error
  assert len(lines) == 3


@pytest.mark.usefixtures('tf_behaviour')
def test_classifier_matches_numpy_to_float_precision(cifar_data, train_dir,
                                                     short_run):
  images, _ = learnable_examples(5, seed=11)
  with serving.Classifier(str(train_dir), str(cifar_data)) as classifier:
    got = classifier.probabilities(images, batch_size=2)
    assert classifier.checkpoint == str(short_run.checkpoint)
    assert classifier.class_names == data.read_class_names(str(cifar_data))
  np.testing.assert_allclose(
      got, numpy_probabilities(short_run.checkpoint, images), atol=2e-6)


def test_resize_keeps_32x32_images_and_flat_colours():
  small, _ = learnable_examples(1, seed=5)
  assert np.array_equal(serving.resize_image(small[0]).numpy(), small[0])
  flat = np.broadcast_to(np.array([13, 200, 77], np.uint8), (45, 70, 3))
  resized = serving.resize_image(flat).numpy()
  assert resized.dtype == np.uint8 and resized.shape == (32, 32, 3)
  assert np.array_equal(resized, flat[:32, :32])


def test_top_k_lines_are_sorted_and_cut():
  line = serving.format_prediction(
      'x.png', np.array([0.1, 0.6, 0.3]), ['a', 'b', 'c'], top_k=2)
  assert line == 'x.png: b 0.6000, c 0.3000'


def test_missing_wrong_and_other_checkpoints_fail_clearly(
    cifar_data, train_dir, short_run, tmp_path):
  with pytest.raises(errors.UserError, match=re.escape(
      'No checkpoint found in %s. Train first' % tmp_path)):
    serving.Classifier(str(tmp_path), str(cifar_data))
  with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
    tf.compat.v1.get_variable('conv1/weights', [3])
    sess.run(tf.compat.v1.global_variables_initializer())
    tf.compat.v1.train.Saver().save(sess, str(tmp_path / 'model.ckpt'))
  with pytest.raises(errors.UserError, match=re.escape(
      '%s does not match this model (was it written by another model or '
      'setting?): it has no variable ' % (tmp_path / 'model.ckpt'))):
    serving.Classifier(str(tmp_path), str(cifar_data))
  three_classes = tmp_path / 'three'
  three_classes.mkdir()
  (three_classes / 'batches.meta.txt').write_text('cat\ndog\nbird\n')
  with pytest.raises(errors.UserError, match=re.escape(
      '%s has 10 classes, but --data_dir=%s names 3: pass the --data_dir the '
      'model was trained on' % (short_run.checkpoint, three_classes))):
    serving.Classifier(str(train_dir), str(three_classes))


def test_read_record_finds_files_in_data_dir_and_rejects_bad_specs(
    cifar_data):
  test_file = data.data_files(str(cifar_data), eval_data=True)
  want = records.Cifar10Reader(test_file)[-1]
  for spec in ('test_batch.bin:-1', '%s:59' % test_file[0]):
    image, label = data.read_record(spec, str(cifar_data), 10)
    assert np.array_equal(image, want[0]) and label == want[1]
  with pytest.raises(ValueError, match='expected FILE:INDEX'):
    data.read_record('test_batch.bin', str(cifar_data), 10)
  with pytest.raises(IndexError, match='record 60 out of range'):
    data.read_record('test_batch.bin:60', str(cifar_data), 10)


def test_help_lists_the_flags():
  result = run_module('cifar10.predict', '--help', check=False)
  for flag in ('checkpoint_dir', 'top_k', 'record', 'data_dir', 'batch_size',
               'use_fp16', 'lrn', 'precision'):
    assert re.search(r'--(\[no\])?%s: ' % flag, result.stdout), flag

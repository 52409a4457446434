"""cifar10.export: a SavedModel that serves predict's probabilities."""
import re

import numpy as np
import pytest
import tensorflow as tf

from cifar10 import data
from cifar10 import saved_model
from cifar10 import serving
from conftest import learnable_examples, run_module
from numpy_model import probabilities as numpy_probabilities
from tfclassic import errors

tf1 = tf.compat.v1


@pytest.fixture(scope='module')
def train_dir(short_run):
  return short_run.train_dir


@pytest.fixture(scope='module')
def exported(cifar_data, train_dir, tmp_path_factory):
  """The binary's export of train_dir, and its output."""
  export_dir = tmp_path_factory.mktemp('export') / '1'
  result = run_module('cifar10.export', '--data_dir=%s' % cifar_data,
                      '--checkpoint_dir=%s' % train_dir,
                      '--export_dir=%s' % export_dir)
  return export_dir, result


@pytest.fixture(scope='module')
def images_and_predictions(cifar_data, train_dir):
  """Images, with predict's probabilities for them."""
  images, _ = learnable_examples(6, seed=21)
  with serving.Classifier(str(train_dir), str(cifar_data)) as classifier:
    return images, classifier.probabilities(images)


def _tensor_info(info):
  """(dtype, shape) of a signature's TensorInfo; -1 for any size."""
  return (tf.as_dtype(info.dtype),
          [d.size for d in info.tensor_shape.dim])


def test_the_signature_takes_images_and_returns_classes(exported):
  export_dir, _ = exported
  with tf.Graph().as_default(), tf1.Session() as sess:
    meta_graph = tf1.saved_model.loader.load(
        sess, [tf1.saved_model.tag_constants.SERVING], str(export_dir))
  signature = meta_graph.signature_def['serving_default']
  assert signature.method_name == 'tensorflow/serving/predict'
  assert {k: _tensor_info(v) for k, v in signature.inputs.items()} == {
      'images': (tf.uint8, [-1, 32, 32, 3])}
  assert {k: _tensor_info(v) for k, v in signature.outputs.items()} == {
      'classes': (tf.int64, [-1]), 'class_names': (tf.string, [-1]),
      'probabilities': (tf.float32, [-1, 10])}


@pytest.mark.smoke
def test_the_binary_says_what_it_exported(cifar_data, short_run, exported):
  export_dir, result = exported
  names = data.read_class_names(str(cifar_data))
  exported_line, signature_line = result.stdout.splitlines()
  assert exported_line == (
      'Exported the moving-average weights of %s (10 classes: %s) to %s.'
      % (short_run.checkpoint, ', '.join(names), export_dir))
  # The signature as the SavedModel holds it (see the test above).
  described = re.fullmatch(r'Signature serving_default: (.*) -> (.*)\.',
                           signature_line)
  assert described.group(1) == 'images uint8 [N, 32, 32, 3]'
  assert sorted(described.group(2).split(', ', 2)) == [
      'class_names string [N]', 'classes int64 [N]',
      'probabilities float32 [N, 10]']


@pytest.mark.smoke
def test_tf2_load_serves_predicts_probabilities(cifar_data, short_run,
                                                exported,
                                                images_and_predictions):
  export_dir, _ = exported
  images, want = images_and_predictions
  serve = tf.saved_model.load(str(export_dir)).signatures['serving_default']
  outputs = {k: v.numpy() for k, v in serve(images=tf.constant(images)).items()}
  np.testing.assert_allclose(outputs['probabilities'], want, atol=1e-6)
  np.testing.assert_allclose(outputs['probabilities'],
                             numpy_probabilities(short_run.checkpoint, images),
                             atol=2e-6)
  assert list(outputs['classes']) == list(want.argmax(1))
  names = data.read_class_names(str(cifar_data))
  assert [n.decode() for n in outputs['class_names']] == [
      names[c] for c in want.argmax(1)]


def test_compat_v1_loader_serves_predicts_probabilities(
    exported, images_and_predictions):
  export_dir, _ = exported
  images, want = images_and_predictions
  with tf.Graph().as_default(), tf1.Session() as sess:
    meta_graph = tf1.saved_model.loader.load(
        sess, [tf1.saved_model.tag_constants.SERVING], str(export_dir))
    signature = meta_graph.signature_def['serving_default']
    assert signature.inputs['images'].dtype == tf.uint8.as_datatype_enum
    probabilities, classes = sess.run(
        [signature.outputs['probabilities'].name,
         signature.outputs['classes'].name],
        {signature.inputs['images'].name: images})
  np.testing.assert_allclose(probabilities, want, atol=1e-6)
  assert list(classes) == list(want.argmax(1))


def test_refuses_to_overwrite_an_export(cifar_data, train_dir, exported):
  export_dir, _ = exported
  before = (export_dir / 'saved_model.pb').read_bytes()
  result = run_module('cifar10.export', '--data_dir=%s' % cifar_data,
                      '--checkpoint_dir=%s' % train_dir,
                      '--export_dir=%s' % export_dir, check=False)
  assert result.returncode == 1
  assert result.stderr.strip() == (
      'Error: %s already exists: pass --overwrite to replace it, or choose '
      'another --export_dir.' % export_dir)
  assert (export_dir / 'saved_model.pb').read_bytes() == before


def test_overwrite_replaces_the_export(cifar_data, train_dir, short_run,
                                      tmp_path):
  export_dir = tmp_path / 'model'
  export_dir.mkdir()
  (export_dir / 'old_file').write_text('from an earlier export')
  with pytest.raises(errors.UserError, match='already exists'):
    saved_model.export(str(train_dir), str(export_dir), str(cifar_data))
  assert saved_model.export(str(train_dir), str(export_dir), str(cifar_data),
                            overwrite=True) == str(short_run.checkpoint)
  assert sorted(p.name for p in export_dir.iterdir()) == [
      'saved_model.pb', 'variables']
  assert sorted(p.name for p in tmp_path.iterdir()) == ['model']


def test_help_lists_the_flags():
  result = run_module('cifar10.export', '--help', check=False)
  for flag in ('checkpoint_dir', 'export_dir', 'overwrite', 'data_dir',
               'use_fp16'):
    assert re.search(r'--(\[no\])?%s: ' % flag, result.stdout), flag


def test_a_full_disk_is_one_paragraph_and_leaves_nothing(
    cifar_data, train_dir, small_filesystem):
  small_filesystem.resize(1)
  export_dir = small_filesystem.path / 'model' / '1'
  result = run_module('cifar10.export', '--data_dir=%s' % cifar_data,
                      '--checkpoint_dir=%s' % train_dir,
                      '--export_dir=%s' % export_dir, check=False)
  assert result.returncode == 1
  assert result.stderr == (
      'Error: No space left on the device to write in %s. Free some space '
      'there (or choose another directory) and run again.\n' % (
          export_dir.parent))
  assert list(export_dir.parent.iterdir()) == []

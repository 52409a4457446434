"""cifar10.export: a SavedModel that serves predict's probabilities."""
import numpy as np
import pytest
import tensorflow as tf
from absl import flags

from cifar10 import export
from cifar10 import input as cifar10_input
from cifar10 import serving
from cifar10 import runtime
from conftest import learnable_examples, run_module
from test_cifar10_predict import numpy_probabilities, short_run

tf1 = tf.compat.v1


@pytest.fixture(scope='module')
def train_dir(cifar_data, tmp_path_factory):
  return short_run(cifar_data, tmp_path_factory)[0]


@pytest.fixture(scope='module')
def exported(cifar_data, train_dir, tmp_path_factory):
  """The binary's export of train_dir, and its output."""
  export_dir = tmp_path_factory.mktemp('export') / '1'
  result = run_module('cifar10.export', '--data_dir=%s' % cifar_data,
                      '--checkpoint_dir=%s' % train_dir,
                      '--export_dir=%s' % export_dir)
  return export_dir, result


@pytest.fixture(scope='module')
def images_and_predictions(train_dir):
  """Images, with predict's probabilities for them."""
  flags.FLAGS.mark_as_parsed()
  images, _ = learnable_examples(6, seed=21)
  with serving.Classifier(str(train_dir), 10) as classifier:
    return images, classifier.probabilities(images)


def test_the_binary_says_what_it_exported(cifar_data, train_dir, exported):
  export_dir, result = exported
  names = cifar10_input.read_class_names(str(cifar_data))
  assert result.stdout.splitlines() == [
      'Exported the moving-average weights of %s (10 classes: %s) to %s.'
      % (train_dir / 'model.ckpt-12', ', '.join(names), export_dir),
      'Signature serving_default: images uint8 [N, 32, 32, 3] -> classes '
      'int64 [N], class_names string [N], probabilities float32 [N, 10].']


def test_tf2_load_serves_predicts_probabilities(cifar_data, train_dir,
                                                exported,
                                                images_and_predictions):
  export_dir, _ = exported
  images, want = images_and_predictions
  serve = tf.saved_model.load(str(export_dir)).signatures['serving_default']
  outputs = {k: v.numpy() for k, v in serve(images=tf.constant(images)).items()}
  np.testing.assert_allclose(outputs['probabilities'], want, atol=1e-6)
  np.testing.assert_allclose(outputs['probabilities'],
                             numpy_probabilities(train_dir, images), atol=2e-6)
  assert list(outputs['classes']) == list(want.argmax(1))
  names = cifar10_input.read_class_names(str(cifar_data))
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


def test_overwrite_replaces_the_export(cifar_data, train_dir, tmp_path):
  flags.FLAGS.mark_as_parsed()
  export_dir = tmp_path / 'model'
  export_dir.mkdir()
  (export_dir / 'old_file').write_text('from an earlier export')
  names = cifar10_input.read_class_names(str(cifar_data))
  with pytest.raises(runtime.UserError, match='already exists'):
    export.export(str(train_dir), str(export_dir), names)
  assert export.export(str(train_dir), str(export_dir), names,
                       overwrite=True) == str(train_dir / 'model.ckpt-12')
  assert sorted(p.name for p in export_dir.iterdir()) == [
      'saved_model.pb', 'variables']
  assert sorted(p.name for p in tmp_path.iterdir()) == ['model']


def test_help_lists_the_flags():
  key_flags = {f.name for f in flags.FLAGS.get_key_flags_for_module(export)}
  assert {'checkpoint_dir', 'export_dir', 'overwrite', 'data_dir',
          'use_fp16'} <= key_flags

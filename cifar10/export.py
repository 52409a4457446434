"""Exports a trained model for serving: `python -m cifar10.export`.

  python -m cifar10.export --checkpoint_dir=/tmp/cifar10_train \\
      --export_dir=/tmp/cifar10_model/1

The SavedModel (tag "serve") has one signature, serving_default, which takes
`images`, uint8 [N, 32, 32, 3] (RGB, as in the records), and returns
`classes` (int64 [N], the most probable class), `class_names` (string [N], its
name from --data_dir's batches.meta.txt) and `probabilities` (float32
[N, number of classes]). Preprocessing is inside the graph and the weights are
the checkpoint's moving averages, the ones eval and predict use, so the
export's probabilities are predict's. Resize images of other sizes as
cifar10.serving.resize_image does.
"""
import os

import tensorflow as tf
from absl import app, flags

from cifar10 import input as cifar10_input
from cifar10 import runtime
from cifar10 import serving

tf1 = tf.compat.v1

flags.DEFINE_string('export_dir', None,
                    'Where to write the SavedModel. TF Serving expects a '
                    'version number as the last folder, e.g. '
                    '/tmp/cifar10_model/1.')
flags.DEFINE_boolean('overwrite', False,
                     'Replace --export_dir if it exists (refused otherwise).')
flags.mark_flag_as_required('export_dir')
flags.adopt_module_key_flags(runtime)
flags.adopt_module_key_flags(serving)

FLAGS = flags.FLAGS

INPUT_KEY = 'images'


def export(checkpoint_dir: str, export_dir: str, class_names: list[str],
           overwrite: bool = False) -> str:
  """Writes the latest checkpoint's model as a SavedModel.

  The SavedModel is written next to export_dir first and moved into place
  when complete, so a failed export leaves any previous one intact.

  Args:
    checkpoint_dir: a train_dir.
    export_dir: where the SavedModel goes.
    class_names: the model's classes, in label order.
    overwrite: replace export_dir if it exists.

  Returns:
    The path of the exported checkpoint.

  Raises:
    runtime.UserError: export_dir exists and overwrite is False, or no usable
      checkpoint.
  """
  if tf.io.gfile.exists(export_dir) and not overwrite:
    raise runtime.UserError('%s already exists: pass --overwrite to replace '
                            'it, or choose another --export_dir.' % export_dir)
  staging = export_dir.rstrip('/') + '.incomplete'
  if tf.io.gfile.exists(staging):
    tf.io.gfile.rmtree(staging)
  with tf.Graph().as_default(), tf1.Session(
      config=runtime.session_config()) as sess:
    images = tf1.placeholder(tf.uint8, [None] + serving.RECORD_SHAPE,
                             name=INPUT_KEY)
    # Named outputs, for clients that fetch tensors by name.
    probabilities = tf.identity(
        serving.class_probabilities(images, len(class_names)),
        name='probabilities')
    classes = tf.argmax(probabilities, axis=1, name='classes')
    names = tf.gather(tf.constant(class_names), classes, name='class_names')
    checkpoint = serving.restore_average_weights(sess, checkpoint_dir,
                                                 len(class_names))
    signature = tf1.saved_model.predict_signature_def(
        inputs={INPUT_KEY: images},
        outputs={'classes': classes, 'class_names': names,
                 'probabilities': probabilities})
    builder = tf1.saved_model.Builder(staging)
    builder.add_meta_graph_and_variables(
        sess, [tf1.saved_model.tag_constants.SERVING],
        signature_def_map={
            tf1.saved_model.signature_constants
            .DEFAULT_SERVING_SIGNATURE_DEF_KEY: signature},
        strip_default_attrs=True)
    builder.save()
  if tf.io.gfile.exists(export_dir):
    tf.io.gfile.rmtree(export_dir)
  tf.io.gfile.rename(staging, export_dir)
  return checkpoint


def main(argv: list[str]) -> None:
  del argv
  with runtime.exit_on_user_error():
    class_names = cifar10_input.read_class_names(FLAGS.data_dir)
    checkpoint = export(FLAGS.checkpoint_dir, FLAGS.export_dir, class_names,
                        FLAGS.overwrite)
  print('Exported the moving-average weights of %s (%d classes: %s) to %s.'
        % (checkpoint, len(class_names), ', '.join(class_names),
           os.path.abspath(FLAGS.export_dir)))
  print('Signature serving_default: images uint8 [N, 32, 32, 3] -> classes '
        'int64 [N], class_names string [N], probabilities float32 [N, %d].'
        % len(class_names))


if __name__ == '__main__':
  app.run(main)

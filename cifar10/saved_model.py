"""A trained model as a SavedModel for TensorFlow Serving (cifar10.export).

The SavedModel (tag "serve") has one signature, serving_default, which takes
`images`, uint8 [N, 32, 32, 3] (RGB, as in the records), and returns
`classes` (int64 [N], the most probable class), `class_names` (string [N], its
name) and `probabilities` (float32 [N, number of classes]). Preprocessing is
inside the graph and the weights are the checkpoint's moving averages, the
ones eval and predict use, so the export's probabilities are predict's.
Resize images of other sizes as cifar10.serving.resize_image does.
"""
import os
from typing import Optional

import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow.core.protobuf import saved_model_pb2

from cifar10 import data
from cifar10 import model
from cifar10 import serving
from tfclassic import checkpoints
from tfclassic import errors
from tfclassic import session

tf1 = tf.compat.v1

INPUT_KEY = 'images'
SIGNATURE_KEY = (
    tf1.saved_model.signature_constants.DEFAULT_SERVING_SIGNATURE_DEF_KEY)


def export(checkpoint_dir: str, export_dir: str, data_dir: str,
           overwrite: bool = False,
           options: model.ModelOptions = model.ModelOptions(),
           session_config: Optional[tf1.ConfigProto] = None) -> str:
  """Writes the latest checkpoint's model as a SavedModel.

  The SavedModel is written next to export_dir first and moved into place
  when complete, so a failed export leaves any previous one intact.

  Args:
    checkpoint_dir: a train_dir.
    export_dir: where the SavedModel goes.
    data_dir: its batches.meta.txt gives the classes, in label order.
    overwrite: replace export_dir if it exists.
    options: how the model is computed.
    session_config: of the Session that writes it; default tfclassic's.

  Returns:
    The path of the exported checkpoint.

  Raises:
    errors.UserError: export_dir exists and overwrite is False, or no usable
      checkpoint.
  """
  if tf.io.gfile.exists(export_dir) and not overwrite:
    raise errors.UserError('%s already exists: pass --overwrite to replace '
                           'it, or choose another --export_dir.' % export_dir)
  class_names = data.read_class_names(data_dir)
  checkpoint = checkpoints.latest_checkpoint(checkpoint_dir,
                                             serving.TRAIN_COMMAND)
  staging = export_dir.rstrip('/') + '.incomplete'
  if tf.io.gfile.exists(staging):
    tf.io.gfile.rmtree(staging)
  with tf.Graph().as_default(), tf1.Session(
      config=session_config or session.session_config()) as sess:
    images = tf1.placeholder(tf.uint8, [None] + serving.RECORD_SHAPE,
                             name=INPUT_KEY)
    # Named outputs, for clients that fetch tensors by name.
    probabilities = tf.identity(
        serving.class_probabilities(images, len(class_names), options),
        name='probabilities')
    classes = tf.argmax(probabilities, axis=1, name='classes')
    names = tf.gather(tf.constant(class_names), classes, name='class_names')
    serving.restore_average_weights(sess, serving.average_weights_restorer(),
                                    checkpoint, len(class_names), data_dir)
    signature = tf1.saved_model.predict_signature_def(
        inputs={INPUT_KEY: images},
        outputs={'classes': classes, 'class_names': names,
                 'probabilities': probabilities})
    builder = tf1.saved_model.Builder(staging)
    try:
      builder.add_meta_graph_and_variables(
          sess, [tf1.saved_model.tag_constants.SERVING],
          signature_def_map={SIGNATURE_KEY: signature},
          strip_default_attrs=True)
      builder.save()
    except BaseException:
      # Nothing half-written stays behind (a full disk, Ctrl-C).
      if tf.io.gfile.exists(staging):
        tf.io.gfile.rmtree(staging)
      raise
  if tf.io.gfile.exists(export_dir):
    tf.io.gfile.rmtree(export_dir)
  tf.io.gfile.rename(staging, export_dir)
  return checkpoint


def _describe(name: str, info: meta_graph_pb2.TensorInfo) -> str:
  """'images uint8 [N, 32, 32, 3]': a tensor's key, dtype and shape, with N
  for a dimension of any size."""
  dims = ['N' if d.size < 0 else str(d.size) for d in info.tensor_shape.dim]
  return '%s %s [%s]' % (name, tf.as_dtype(info.dtype).name, ', '.join(dims))


def describe_signature(export_dir: str) -> str:
  """The serving signature of the SavedModel in export_dir, as written:
  'serving_default: images uint8 [N, 32, 32, 3] -> class_names ...'."""
  saved = saved_model_pb2.SavedModel()
  with open(os.path.join(export_dir, 'saved_model.pb'), 'rb') as f:
    saved.ParseFromString(f.read())
  signature = saved.meta_graphs[0].signature_def[SIGNATURE_KEY]
  return '%s: %s -> %s' % (
      SIGNATURE_KEY,
      ', '.join(_describe(k, v) for k, v in sorted(signature.inputs.items())),
      ', '.join(_describe(k, v) for k, v in sorted(signature.outputs.items())))

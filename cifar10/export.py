"""Exports a trained model for serving: `python -m cifar10.export`.

  python -m cifar10.export --checkpoint_dir=/tmp/cifar10_train \\
      --export_dir=/tmp/cifar10_model/1

Writes the latest checkpoint's moving-average weights as a SavedModel whose
serving_default signature takes uint8 images [N, 32, 32, 3] and returns the
classes, their names (from --data_dir's batches.meta.txt) and the
probabilities: see cifar10.saved_model and docs/serving.md.
"""
import os

from absl import app, flags

from cifar10 import flags as cifar10_flags
from cifar10 import saved_model
from tfclassic import errors
from tfclassic import flags as shared_flags
from tfclassic import paths

cifar10_flags.define_data_flags(download=False)
cifar10_flags.define_model_flags()
cifar10_flags.define_checkpoint_flag()
shared_flags.define_session_flags()
shared_flags.define_path('export_dir', None,
                         'Where to write the SavedModel. TF Serving expects '
                         'a version number as the last folder, e.g. '
                         '/tmp/cifar10_model/1.', paths.OUTPUT_DIR)
flags.DEFINE_boolean('overwrite', False,
                     'Replace --export_dir if it exists (refused otherwise).')
flags.mark_flag_as_required('export_dir')
flags.adopt_module_key_flags(cifar10_flags)
flags.adopt_module_key_flags(shared_flags)

FLAGS = flags.FLAGS


def main(argv: list[str]) -> None:
  shared_flags.refuse_arguments(argv)
  with errors.exit_on_error():
    checkpoint = saved_model.export(
        FLAGS.checkpoint_dir, FLAGS.export_dir, FLAGS.data_dir,
        FLAGS.overwrite, cifar10_flags.model_options(),
        cifar10_flags.session_config_from_flags())
    class_names = cifar10_flags.class_names()
  print('Exported the moving-average weights of %s (%d classes: %s) to %s.'
        % (checkpoint, len(class_names), ', '.join(class_names),
           os.path.abspath(FLAGS.export_dir)))
  print('Signature %s.' % saved_model.describe_signature(FLAGS.export_dir))


if __name__ == '__main__':
  app.run(main)

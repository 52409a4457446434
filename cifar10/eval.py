"""Evaluates CIFAR-10 checkpoints: `python -m cifar10.eval [--run_once]`.

Each checkpoint's moving-average weights are scored on exactly
--num_examples records: precision @ 1 is printed and written to --eval_dir for
TensorBoard. Without --run_once, new checkpoints are evaluated as training
writes them, until Ctrl-C.
"""
import tensorflow as tf
from absl import app, flags

from cifar10 import flags as cifar10_flags
from cifar10 import records
from cifar10 import scoring
from cifar10 import serving
from tfclassic import errors
from tfclassic import evaluation
from tfclassic import flags as shared_flags
from tfclassic import summaries

tf1 = tf.compat.v1

cifar10_flags.define_data_flags(download=False)
cifar10_flags.define_model_flags()
shared_flags.define_eval_flags(cifar10_flags.DEFAULT_TRAIN_DIR,
                               cifar10_flags.DEFAULT_EVAL_DIR,
                               cifar10_flags.EVAL_INTERVAL_SECS)
shared_flags.define_session_flags()
flags.DEFINE_enum('eval_data', 'test', ['test', 'train_eval'],
                  'test: the test file; train_eval: the training files.')
flags.DEFINE_integer('num_examples', records.NUM_EXAMPLES_PER_EPOCH_FOR_EVAL,
                     'Number of examples to score (at most the number in '
                     'the files).', lower_bound=1,
                     upper_bound=shared_flags.MAX_STEPS)
flags.DEFINE_boolean('confusion', False,
                     'Print the whole confusion matrix with per-class '
                     'precision and recall (otherwise one line of recalls).')
flags.DEFINE_boolean('moving_average', True,
                     'Score the moving averages of the weights, as the '
                     'tutorial does; --nomoving_average scores the raw '
                     'weights (the tutorial\'s exercise: precision drops).')
flags.adopt_module_key_flags(cifar10_flags)
flags.adopt_module_key_flags(shared_flags)

FLAGS = flags.FLAGS


def main(argv):
  shared_flags.refuse_arguments(argv)
  with errors.exit_on_error():
    tf.io.gfile.makedirs(FLAGS.eval_dir)
    with tf.Graph().as_default():
      graph = scoring.build_eval_graph(
          FLAGS.data_dir, FLAGS.eval_data == 'test', FLAGS.batch_size,
          cifar10_flags.model_options(), FLAGS.moving_average)
      num_examples = min(FLAGS.num_examples, graph.num_records)
      if num_examples < FLAGS.num_examples:
        print('The %s data holds %d examples; scoring all of them.'
              % (FLAGS.eval_data, graph.num_records))
      summary_writer = summaries.file_writer(FLAGS.eval_dir,
                                             tf1.get_default_graph())
      config = cifar10_flags.session_config_from_flags()
      try:
        evaluation.eval_loop(
            FLAGS.checkpoint_dir,
            lambda checkpoint: scoring.eval_once(
                graph, checkpoint, num_examples, summary_writer,
                FLAGS.confusion, config),
            FLAGS.run_once, FLAGS.eval_interval_secs, serving.TRAIN_COMMAND)
      finally:
        summary_writer.close()


if __name__ == '__main__':
  app.run(main)

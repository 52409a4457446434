"""Evaluates CIFAR-10 checkpoints: `python -m cifar10.eval [--run_once]`.

Each checkpoint's moving-average weights are scored on exactly
--num_examples records: precision @ 1 is printed and written to --eval_dir for
TensorBoard. Without --run_once, new checkpoints are evaluated as training
writes them.
"""
import datetime
import time

import numpy as np
import tensorflow as tf
from absl import app, flags

from cifar10 import input as cifar10_input
from cifar10 import model
from cifar10 import runtime

tf1 = tf.compat.v1

flags.DEFINE_string('eval_dir', '/tmp/cifar10_eval',
                    'Where to write event logs.')
flags.DEFINE_enum('eval_data', 'test', ['test', 'train_eval'],
                  'test: the test file; train_eval: the training files.')
flags.DEFINE_string('checkpoint_dir', '/tmp/cifar10_train',
                    'Where the training binaries write checkpoints.')
flags.DEFINE_integer('eval_interval_secs', 60 * 5,
                     'Seconds between looks for a new checkpoint.')
flags.DEFINE_integer('num_examples', 10000,
                     'Number of examples to score (at most the number in '
                     'the files).')
flags.DEFINE_boolean('run_once', False,
                     'Evaluate the latest checkpoint once and exit.')

flags.adopt_module_key_flags(runtime)

FLAGS = flags.FLAGS


def _restore(saver: tf1.train.Saver, sess: tf1.Session,
             checkpoint_path: str) -> None:
  try:
    saver.restore(sess, checkpoint_path)
  except (tf.errors.DataLossError, tf.errors.OutOfRangeError,
          IndexError) as e:
    raise runtime.UserError('%s is corrupt or truncated: %s'
                            % (checkpoint_path, e)) from e
  except (tf.errors.NotFoundError, tf.errors.InvalidArgumentError) as e:
    raise runtime.UserError(
        '%s does not match this model (was it written by another model, '
        'number of classes, or --use_fp16 setting?): %s'
        % (checkpoint_path, e.message.splitlines()[0])) from e


def eval_once(saver: tf1.train.Saver, checkpoint_path: str,
              top_k_op: tf.Tensor, num_examples: int,
              summary_writer: tf1.summary.FileWriter,
              summary_op: tf.Tensor) -> float:
  """Scores one checkpoint on the first num_examples examples.

  Args:
    saver: restores the moving-average weights.
    checkpoint_path: the checkpoint.
    top_k_op: bool [batch], whether each prediction is right.
    num_examples: how many examples to score.
    summary_writer: where the summaries go.
    summary_op: the graph's other summaries, run with the first batch.

  Returns:
    Precision @ 1.
  """
  with tf1.Session(config=runtime.session_config()) as sess:
    _restore(saver, sess, checkpoint_path)
    global_step = sess.run(tf1.train.get_global_step())
    sess.run(tf1.local_variables_initializer())
    coord = tf1.train.Coordinator()
    threads = tf1.train.start_queue_runners(sess, coord)
    true_count = total = 0
    graph_summaries = None
    try:
      while total < num_examples:
        if graph_summaries is None:
          correct, graph_summaries = sess.run([top_k_op, summary_op])
        else:
          correct = sess.run(top_k_op)
        correct = correct[:num_examples - total]
        true_count += int(np.sum(correct))
        total += len(correct)
    except tf.errors.OutOfRangeError:
      pass
    finally:
      coord.request_stop()
      coord.join(threads, stop_grace_period_secs=10)
  precision = true_count / total
  print('%s: precision @ 1 = %.3f' % (datetime.datetime.now(), precision),
        flush=True)
  summary = tf1.Summary()
  summary.ParseFromString(graph_summaries)
  summary.value.add(tag='Precision @ 1', simple_value=precision)
  summary_writer.add_summary(summary, global_step)
  summary_writer.flush()
  return precision


def evaluate() -> None:
  """Builds the eval graph and scores checkpoints as the flags ask."""
  with tf.Graph().as_default():
    num_classes = runtime.num_classes()
    images, labels, num_records = cifar10_input.inputs(
        FLAGS.eval_data == 'test', FLAGS.data_dir, FLAGS.batch_size,
        num_classes=num_classes)
    num_examples = min(FLAGS.num_examples, num_records)
    if num_examples < FLAGS.num_examples:
      print('The %s data holds %d examples; scoring all of them.'
            % (FLAGS.eval_data, num_records))
    tf1.train.get_or_create_global_step()
    logits = model.inference(runtime.model_input(images), num_classes)
    top_k_op = tf.nn.in_top_k(predictions=tf.cast(logits, tf.float32),
                              targets=labels, k=1)
    saver = tf1.train.Saver(model.variables_to_restore())
    summary_op = tf1.summary.merge_all()
    summary_writer = tf1.summary.FileWriter(FLAGS.eval_dir,
                                            tf1.get_default_graph())
    last_evaluated = None
    while True:
      checkpoint = tf1.train.latest_checkpoint(FLAGS.checkpoint_dir)
      if checkpoint is None and FLAGS.run_once:
        raise runtime.UserError(
            'No checkpoint found in %s. Train first (python -m cifar10.train '
            '--train_dir=%s) or point --checkpoint_dir at a train_dir.'
            % (FLAGS.checkpoint_dir, FLAGS.checkpoint_dir))
      if checkpoint is None:
        print('No checkpoint in %s yet; looking again every %d s.'
              % (FLAGS.checkpoint_dir, FLAGS.eval_interval_secs), flush=True)
      elif checkpoint != last_evaluated:
        eval_once(saver, checkpoint, top_k_op, num_examples, summary_writer,
                  summary_op)
        last_evaluated = checkpoint
      if FLAGS.run_once:
        return
      time.sleep(FLAGS.eval_interval_secs)


def main(argv):
  del argv
  with runtime.exit_on_user_error():
    tf.io.gfile.makedirs(FLAGS.eval_dir)
    evaluate()


if __name__ == '__main__':
  app.run(main)

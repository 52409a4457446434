"""Scores the latest checkpoint of an MNIST model on the 10000 test images.

  python -m mnist.eval --train_dir=/tmp/mnist_train --run_once

The test files stream through FixedLengthRecordReader and a batch queue, one
pass in order, so the whole test set is never one tensor. Without --run_once
the newest checkpoint is re-scored every --eval_interval_secs.
"""

import time

from absl import app, flags

from mnist import input as mnist_input
from mnist import model, training
from mnist.quiet_tf import tf

FLAGS = flags.FLAGS

training.define_common_flags()
flags.DEFINE_enum('model', None, list(model.MODELS),
                  'Model the checkpoint holds; default: detected from the '
                  'checkpoint\'s variable names.')
flags.DEFINE_string('eval_dir', '/tmp/mnist_eval',
                    'Directory for the precision summaries.')
flags.DEFINE_integer('batch_size', 100, 'Test examples per batch.')
flags.DEFINE_boolean('run_once', False,
                     'Score the latest checkpoint once and exit.')
flags.DEFINE_integer('eval_interval_secs', 60,
                     'Seconds between scorings when not --run_once.')


def evaluate(checkpoint: str, model_name: str) -> int:
  """Scores `checkpoint` on the test set and prints Mechanics 101's lines.

  Args:
    checkpoint: checkpoint path prefix.
    model_name: one of model.MODELS.

  Returns:
    The checkpoint's global step.
  """
  with tf.Graph().as_default():
    images, labels = mnist_input.eval_inputs(FLAGS.data_dir,
                                             FLAGS.batch_size)
    global_step = tf.compat.v1.train.get_or_create_global_step()
    correct = model.evaluation(model.inference(model_name, images),
                               labels)
    batch_size = tf.shape(labels)[0]
    saver = tf.compat.v1.train.Saver()
    with tf.compat.v1.Session(config=training.session_config()) as sess:
      saver.restore(sess, checkpoint)
      sess.run(tf.compat.v1.local_variables_initializer())
      coord = tf.compat.v1.train.Coordinator()
      threads = tf.compat.v1.train.start_queue_runners(sess, coord)
      num_examples = num_correct = 0
      try:
        while True:
          batch_correct, size = sess.run([correct, batch_size])
          num_correct += int(batch_correct)
          num_examples += int(size)
      except tf.errors.OutOfRangeError:
        pass
      finally:
        coord.request_stop()
        coord.join(threads)
      step = int(sess.run(global_step))
    precision = num_correct / num_examples if num_examples else 0.0
    summary = tf.compat.v1.Summary()
    summary.value.add(tag='Precision @ 1', simple_value=precision)
    writer = tf.compat.v1.summary.FileWriter(FLAGS.eval_dir)
    writer.add_summary(summary, step)
    writer.close()
  print(f'{time.strftime("%Y-%m-%d %H:%M:%S")}: {checkpoint} '
        f'(step {step}, model {model_name})')
  print(training.format_precision(num_examples, num_correct), flush=True)
  return step


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  training.ensure_data(FLAGS.data_dir, FLAGS.source_url)
  last_scored = None
  while True:
    checkpoint = tf.train.latest_checkpoint(FLAGS.train_dir)
    if checkpoint is None and FLAGS.run_once:
      return f'No checkpoint found in {FLAGS.train_dir}; train first ' \
             'with python -m mnist.train --train_dir=...'
    if checkpoint is not None and checkpoint != last_scored:
      try:
        model_name = (FLAGS.model or
                      training.model_from_checkpoint(checkpoint))
        evaluate(checkpoint, model_name)
      except mnist_input.IdxError as e:
        return f'Bad MNIST file: {e}'
      except (ValueError, tf.errors.NotFoundError,
              tf.errors.InvalidArgumentError) as e:
        first_line = str(e).strip().splitlines()[0]
        return f'Cannot score {checkpoint}: {first_line}'
      last_scored = checkpoint
    if FLAGS.run_once:
      return 0
    time.sleep(FLAGS.eval_interval_secs)


if __name__ == '__main__':
  app.run(main)

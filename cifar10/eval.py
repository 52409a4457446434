"""Evaluates CIFAR-10 checkpoints: `python -m cifar10.eval [--run_once]`.

Each checkpoint's moving-average weights are scored on exactly
--num_examples records: precision @ 1 is printed and written to --eval_dir for
TensorBoard. Without --run_once, new checkpoints are evaluated as training
writes them.
"""
import dataclasses
import datetime
import time

import numpy as np
import tensorflow as tf
from absl import app, flags

from cifar10 import input as cifar10_input
from cifar10 import metrics
from cifar10 import model
from cifar10 import runtime
from cifar10 import serving

tf1 = tf.compat.v1

flags.DEFINE_string('eval_dir', '/tmp/cifar10_eval',
                    'Where to write event logs.')
flags.DEFINE_enum('eval_data', 'test', ['test', 'train_eval'],
                  'test: the test file; train_eval: the training files.')
flags.DEFINE_integer('eval_interval_secs', 60 * 5,
                     'Seconds between looks for a new checkpoint.')
flags.DEFINE_integer('num_examples', 10000,
                     'Number of examples to score (at most the number in '
                     'the files).')
flags.DEFINE_boolean('run_once', False,
                     'Evaluate the latest checkpoint once and exit.')
flags.DEFINE_boolean('confusion', False,
                     'Print the whole confusion matrix with per-class '
                     'precision and recall (otherwise one line of recalls).')

flags.adopt_module_key_flags(runtime)
flags.adopt_module_key_flags(serving)

FLAGS = flags.FLAGS

# Eval runs taking longer than this report their progress.
PROGRESS_SECS = 5


@dataclasses.dataclass
class EvalGraph:
  """The ops eval_once() runs.

  Attributes:
    saver: restores the moving-average weights.
    correct: bool [batch], whether the top prediction is right (in_top_k).
    predictions: int [batch], the top class.
    labels: int [batch], the true class.
    summary_op: the graph's summaries (input images, activations).
    png_input: uint8 [H, W, 3] placeholder for png.
    png: the PNG encoding of png_input.
    class_names: names of the classes, in label order.
  """
  saver: tf1.train.Saver
  correct: tf.Tensor
  predictions: tf.Tensor
  labels: tf.Tensor
  summary_op: tf.Tensor
  png_input: tf.Tensor
  png: tf.Tensor
  class_names: list


def build_eval_graph(num_records_out: list) -> EvalGraph:
  """Builds the eval input and model; appends the file's record count."""
  class_names = cifar10_input.read_class_names(FLAGS.data_dir)
  images, labels, num_records = cifar10_input.inputs(
      FLAGS.eval_data == 'test', FLAGS.data_dir, FLAGS.batch_size,
      num_classes=len(class_names))
  num_records_out.append(num_records)
  tf1.train.get_or_create_global_step()
  logits = tf.cast(model.inference(runtime.model_input(images),
                                   len(class_names)), tf.float32)
  png_input = tf1.placeholder(tf.uint8, [None, None, 3])
  return EvalGraph(
      saver=tf1.train.Saver(model.variables_to_restore()),
      correct=tf.nn.in_top_k(predictions=logits, targets=labels, k=1),
      predictions=tf.argmax(logits, axis=1, output_type=tf.int32),
      labels=labels, summary_op=tf1.summary.merge_all(),
      png_input=png_input, png=tf.io.encode_png(png_input),
      class_names=class_names)


def _score(sess: tf1.Session, graph: EvalGraph, num_examples: int
           ) -> tuple[int, np.ndarray, np.ndarray, bytes]:
  """Runs the eval batches; returns (number correct, labels, predictions,
  serialized graph summaries)."""
  fetches = [graph.correct, graph.labels, graph.predictions]
  labels, predictions = [], []
  true_count = scored = 0
  graph_summaries = None
  start = last_report = time.time()
  try:
    while scored < num_examples:
      if graph_summaries is None:
        results, graph_summaries = sess.run([fetches, graph.summary_op])
      else:
        results = sess.run(fetches)
      correct, batch_labels, batch_predictions = (
          r[:num_examples - scored] for r in results)
      true_count += int(np.sum(correct))
      scored += len(batch_labels)
      labels.append(batch_labels)
      predictions.append(batch_predictions)
      if time.time() - last_report > PROGRESS_SECS:
        last_report = time.time()
        print('  scored %d of %d examples (%.0f examples/sec)'
              % (scored, num_examples, scored / (last_report - start)),
              flush=True)
  except tf.errors.OutOfRangeError:
    pass
  labels = np.concatenate(labels).astype(np.int64)
  predictions = np.concatenate(predictions).astype(np.int64)
  return true_count, labels, predictions, graph_summaries


def eval_once(graph: EvalGraph, checkpoint_path: str, num_examples: int,
              summary_writer: tf1.summary.FileWriter) -> float:
  """Scores one checkpoint on the first num_examples examples.

  Prints precision @ 1 and each class's recall (the whole confusion table
  with --confusion) and writes them, with the confusion matrix as an image,
  to the summary writer at the checkpoint's global step.

  Args:
    graph: from build_eval_graph().
    checkpoint_path: the checkpoint.
    num_examples: how many examples to score.
    summary_writer: where the summaries go.

  Returns:
    Precision @ 1.
  """
  with tf1.Session(config=runtime.session_config()) as sess:
    serving.restore(graph.saver, sess, checkpoint_path,
                    len(graph.class_names))
    global_step = sess.run(tf1.train.get_global_step())
    sess.run(tf1.local_variables_initializer())
    coord = tf1.train.Coordinator()
    threads = tf1.train.start_queue_runners(sess, coord)
    try:
      true_count, labels, predictions, graph_summaries = _score(
          sess, graph, num_examples)
    finally:
      coord.request_stop()
      coord.join(threads, stop_grace_period_secs=10)
    confusion = metrics.confusion_matrix(labels, predictions,
                                         len(graph.class_names))
    confusion_png = sess.run(graph.png, {
        graph.png_input: metrics.confusion_image(confusion)})
  precision = true_count / len(labels)
  print('%s: precision @ 1 = %.3f' % (datetime.datetime.now(), precision),
        flush=True)
  print(metrics.format_table(confusion, graph.class_names) if FLAGS.confusion
        else metrics.format_recall_line(confusion, graph.class_names),
        flush=True)
  summary = tf1.Summary.FromString(graph_summaries)
  summary.value.add(tag='Precision @ 1', simple_value=precision)
  class_precision, class_recall = metrics.precision_recall(confusion)
  for name, p, r in zip(graph.class_names, class_precision, class_recall):
    summary.value.add(tag='precision/' + name, simple_value=p)
    summary.value.add(tag='recall/' + name, simple_value=r)
  size = confusion.shape[0] * metrics.CELL_PIXELS
  summary.value.add(tag='confusion_matrix', image=tf1.Summary.Image(
      height=size, width=size, colorspace=3,
      encoded_image_string=confusion_png))
  summary_writer.add_summary(summary, global_step)
  summary_writer.flush()
  return precision


def evaluate() -> None:
  """Builds the eval graph and scores checkpoints as the flags ask."""
  with tf.Graph().as_default():
    num_records = []
    graph = build_eval_graph(num_records)
    num_examples = min(FLAGS.num_examples, num_records[0])
    if num_examples < FLAGS.num_examples:
      print('The %s data holds %d examples; scoring all of them.'
            % (FLAGS.eval_data, num_records[0]))
    summary_writer = tf1.summary.FileWriter(FLAGS.eval_dir,
                                            tf1.get_default_graph())
    last_evaluated = None
    while True:
      if FLAGS.run_once:
        checkpoint = serving.latest_checkpoint(FLAGS.checkpoint_dir)
      else:
        checkpoint = tf1.train.latest_checkpoint(FLAGS.checkpoint_dir)
      if checkpoint is None:
        print('No checkpoint in %s yet; looking again every %d s.'
              % (FLAGS.checkpoint_dir, FLAGS.eval_interval_secs), flush=True)
      elif checkpoint != last_evaluated:
        eval_once(graph, checkpoint, num_examples, summary_writer)
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

"""Scoring a checkpoint on the eval input, as cifar10.eval does.

Each checkpoint's moving-average weights are scored on exactly the first
num_examples records: precision @ 1, each class's precision and recall, and
the confusion matrix, printed and written as summaries at the checkpoint's
global step.
"""
import contextlib
import dataclasses
import datetime
import time
from typing import Iterator, Optional

import numpy as np
import tensorflow as tf

from cifar10 import data
from cifar10 import inputs
from cifar10 import metrics
from cifar10 import model
from cifar10 import serving
from tfclassic import checkpoints
from tfclassic import evaluation
from tfclassic import session
from tfclassic import summaries

tf1 = tf.compat.v1

# Evaluations taking longer than this report their progress.
PROGRESS_SECS = 5


@dataclasses.dataclass
class EvalGraph:
  """The ops eval_once() runs.

  Attributes:
    restorer: restores the weights (their moving averages, by default).
    correct: bool [batch], whether the top prediction is right (in_top_k).
    predictions: int [batch], the top class.
    labels: int [batch], the true class.
    summary_op: the graph's summaries (input images, activations).
    png_input: uint8 [H, W, 3] placeholder for png.
    png: the PNG encoding of png_input.
    class_names: names of the classes, in label order.
    num_records: how many records the eval files hold.
    data_dir: where the records and class names come from.
  """
  restorer: checkpoints.Restorer
  correct: tf.Tensor
  predictions: tf.Tensor
  labels: tf.Tensor
  summary_op: tf.Tensor
  png_input: tf.Tensor
  png: tf.Tensor
  class_names: list[str]
  num_records: int
  data_dir: str


def build_eval_graph(data_dir: str, eval_data: bool,
                     batch_size: int = model.BATCH_SIZE,
                     options: model.ModelOptions = model.ModelOptions(),
                     moving_average: bool = True) -> EvalGraph:
  """Builds the eval input and model in the default graph.

  Args:
    data_dir: the records and their class names.
    eval_data: the test file (True) or the training files (False).
    batch_size: examples per Session run.
    options: how the model is computed.
    moving_average: score the weights' moving averages, as the tutorial
      does (False: the raw weights).

  Raises:
    DataError: if the files are missing or malformed.
  """
  class_names = data.read_class_names(data_dir)
  filenames = data.data_files(data_dir, eval_data)
  num_records = data.check_data_files(filenames, len(class_names))
  images, labels = inputs.eval_batches(filenames, batch_size)
  tf1.train.get_or_create_global_step()
  logits = tf.cast(model.configured_inference(images, len(class_names),
                                              options), tf.float32)
  png_input = tf1.placeholder(tf.uint8, [None, None, 3])
  return EvalGraph(
      restorer=serving.average_weights_restorer(moving_average),
      correct=tf.nn.in_top_k(predictions=logits, targets=labels, k=1),
      predictions=tf.argmax(logits, axis=1, output_type=tf.int32),
      labels=labels, summary_op=tf1.summary.merge_all(),
      png_input=png_input, png=tf.io.encode_png(png_input),
      class_names=class_names, num_records=num_records, data_dir=data_dir)


def _score(sess: tf1.Session, graph: EvalGraph, num_examples: int,
           log_prefix: str = ''
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
        print('%s  scored %d of %d examples (%.0f examples/sec)'
              % (log_prefix, scored, num_examples,
                 scored / (last_report - start)), flush=True)
  except tf.errors.OutOfRangeError:
    pass
  labels = np.concatenate(labels).astype(np.int64)
  predictions = np.concatenate(predictions).astype(np.int64)
  return true_count, labels, predictions, graph_summaries


def _summary(graph_summaries: bytes, precision: float,
             confusion: np.ndarray, class_names: list[str],
             confusion_png: bytes) -> tf1.Summary:
  """The graph's summaries and the figures of one evaluation."""
  summary = tf1.Summary.FromString(graph_summaries)
  summary.value.add(tag='Precision @ 1', simple_value=precision)
  class_precision, class_recall = metrics.precision_recall(confusion)
  for name, p, r in zip(class_names, class_precision, class_recall):
    summary.value.add(tag='precision/' + name, simple_value=p)
    summary.value.add(tag='recall/' + name, simple_value=r)
  size = confusion.shape[0] * metrics.CELL_PIXELS
  summary.value.add(tag='confusion_matrix', image=tf1.Summary.Image(
      height=size, width=size, colorspace=3,
      encoded_image_string=confusion_png))
  return summary


def eval_once(graph: EvalGraph, checkpoint: str, num_examples: int,
              summary_writer: tf1.summary.FileWriter,
              confusion_table: bool = False,
              session_config: Optional[tf1.ConfigProto] = None,
              label: str = '', log_prefix: str = '') -> float:
  """Scores one checkpoint on the first num_examples examples.

  Prints precision @ 1 and each class's recall (the whole confusion table
  with confusion_table) and writes them, with the confusion matrix as an
  image, to the summary writer at the checkpoint's global step.

  Args:
    graph: from build_eval_graph(), in the default graph.
    checkpoint: the checkpoint.
    num_examples: how many examples to score (at most graph.num_records).
    summary_writer: where the summaries go.
    confusion_table: print the whole confusion matrix.
    session_config: of the Session; default tfclassic's.
    label: put before `precision @ 1` in the log line, its `{step}` replaced
      by the checkpoint's global step, e.g. 'step {step}, '.
    log_prefix: put before each line printed (e.g. a worker's name).

  Returns:
    Precision @ 1.

  Raises:
    errors.UserError: the checkpoint cannot be restored.
  """
  with tf1.Session(config=session_config or session.session_config()) as sess:
    serving.restore_average_weights(sess, graph.restorer, checkpoint,
                                    len(graph.class_names), graph.data_dir)
    global_step = sess.run(tf1.train.get_global_step())
    label = label.format(step=global_step)
    with session.queue_runners(sess):
      true_count, labels, predictions, graph_summaries = _score(
          sess, graph, num_examples, log_prefix)
    confusion = metrics.confusion_matrix(labels, predictions,
                                         len(graph.class_names))
    confusion_png = sess.run(graph.png, {
        graph.png_input: metrics.confusion_image(confusion)})
  precision = true_count / len(labels)
  print('%s%s: %sprecision @ 1 = %.3f' % (log_prefix, datetime.datetime.now(),
                                          label, precision), flush=True)
  print(log_prefix + (
      metrics.format_table(confusion, graph.class_names) if confusion_table
      else metrics.format_recall_line(confusion, graph.class_names)),
        flush=True)
  summary_writer.add_summary(
      _summary(graph_summaries, precision, confusion, graph.class_names,
               confusion_png), global_step)
  summary_writer.flush()
  return precision


@contextlib.contextmanager
def in_training_evaluation(
    data_dir: str, eval_dir: str, every_steps: int,
    batch_size: int = model.BATCH_SIZE,
    options: model.ModelOptions = model.ModelOptions(),
    session_config: Optional[tf1.ConfigProto] = None,
    log_prefix: str = ''
) -> Iterator[evaluation.InTrainingEvaluation]:
  """Training's own evaluation (--eval_every_steps): cifar10.eval --run_once
  on the whole test set, in the training process.

  The eval graph is built here, in a graph of its own, so missing test data
  stops training before its first step; its summaries go to eval_dir, as
  cifar10.eval's do.

  Args:
    data_dir: the records; the test file is scored.
    eval_dir: where the evaluation's event files go.
    every_steps: global steps between evaluations.
    batch_size: examples per evaluation batch.
    options: how the model is computed.
    session_config: of the evaluation's Sessions.
    log_prefix: put before each line printed (e.g. 'worker 0: ').

  Yields:
    What run_training's `evaluation` takes.

  Raises:
    DataError: the test file is missing or malformed.
  """
  tf.io.gfile.makedirs(eval_dir)
  eval_tf_graph = tf.Graph()
  with eval_tf_graph.as_default():
    graph = build_eval_graph(data_dir, True, batch_size, options)
    writer = summaries.file_writer(eval_dir, eval_tf_graph)

  def evaluate(checkpoint: str) -> dict[str, float]:
    with eval_tf_graph.as_default():
      precision = eval_once(
          graph, checkpoint, graph.num_records, writer,
          session_config=session_config, label='step {step}, ',
          log_prefix=log_prefix)
    return {'precision_at_1': precision, 'examples': graph.num_records}

  try:
    yield evaluation.InTrainingEvaluation(every_steps, evaluate)
  finally:
    writer.close()

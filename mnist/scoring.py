"""Counting correct predictions: Mechanics 101's do_eval and mnist.eval's.

Two ways to score, as the tutorials did:
  * count_correct feeds a numpy DataSet in batches (mnist.train's final
    'test accuracy', mlp's evaluations after each checkpoint);
  * score_test_files streams the test files through the queue reader, one
    pass in order (mnist.eval), so the test set is never one tensor.
"""
from typing import NamedTuple, Tuple

import tensorflow as tf

from mnist import input as mnist_input
from mnist import model
from tfclassic import checkpoints
from tfclassic import session

tf1 = tf.compat.v1

# Examples per run when feeding a DataSet; keeps memory bounded.
FEED_BATCH_SIZE = 1000


class Score(NamedTuple):
  """How a checkpoint did on a set of examples."""
  step: int
  num_examples: int
  num_correct: int


def precision(num_examples: int, num_correct: int) -> float:
  """Precision @ 1; 0 for no examples."""
  return num_correct / num_examples if num_examples else 0.0


def count_correct(sess: tf1.Session, correct_op: tf.Tensor,
                  images: tf.Tensor, labels: tf.Tensor,
                  data_set: mnist_input.DataSet,
                  batch_size: int = FEED_BATCH_SIZE) -> Tuple[int, int]:
  """Scores every example of `data_set`, feeding it in batches.

  Args:
    sess: session with trained variables.
    correct_op: count of correct predictions for the fed batch.
    images: tensor fed with image rows.
    labels: tensor fed with label indices.
    data_set: examples to score, in order.
    batch_size: examples per run.

  Returns:
    (number of examples, number correct).
  """
  correct = 0
  for start in range(0, data_set.num_examples, batch_size):
    end = start + batch_size
    correct += int(sess.run(correct_op, feed_dict={
        images: data_set.images[start:end],
        labels: data_set.labels[start:end]}))
  return data_set.num_examples, correct


def format_precision(num_examples: int, num_correct: int) -> str:
  """Mechanics 101's evaluation line."""
  return (f'  Num examples: {num_examples}  Num correct: {num_correct}  '
          f'Precision @ 1: {precision(num_examples, num_correct):0.04f}')


class SplitsEvaluation(tf1.train.CheckpointSaverListener):
  """Mechanics 101's do_eval over the three splits after each checkpoint.

  The checkpoint written as the session starts (of the weights it starts
  from) is not evaluated: the tutorial evaluated what training wrote.
  """

  def __init__(self, graph: model.TrainGraph,
               datasets: mnist_input.Datasets):
    self._graph = graph
    self._datasets = datasets
    self._first_save_seen = False

  def after_save(self, session: tf1.Session, global_step_value: int) -> None:
    if not self._first_save_seen:
      self._first_save_seen = True
      return
    graph = self._graph
    for title, data_set in [('Training', self._datasets.train),
                            ('Validation', self._datasets.validation),
                            ('Test', self._datasets.test)]:
      print(f'{title} Data Eval:')
      print(format_precision(*count_correct(
          session, graph.correct, graph.images, graph.labels, data_set)),
            flush=True)


def score_checkpoint(restorer: checkpoints.Restorer, checkpoint: str,
                     graph: model.TrainGraph, data_set: mnist_input.DataSet,
                     config: tf1.ConfigProto) -> Score:
  """Restores `checkpoint` into a new session of graph's graph and scores
  `data_set` by feeding it.

  Args:
    restorer: built with the graph, over the model's variables and the
      global step.
    checkpoint: what to score.
    graph: from model.train_graph.
    data_set: the examples.
    config: the Session config.
  """
  with tf1.Session(config=config) as sess:
    restorer.restore(sess, checkpoint)
    num_examples, num_correct = count_correct(
        sess, graph.correct, graph.images, graph.labels, data_set)
    return Score(int(sess.run(graph.global_step)), num_examples, num_correct)


def score_test_files(checkpoint: str, model_name: str, data_dir: str,
                     batch_size: int, config: tf1.ConfigProto) -> Score:
  """Scores `checkpoint` on the test files, streamed through the queue
  reader in batches (mnist_input.eval_inputs), in a graph of its own.

  Raises:
    errors.UserError: the checkpoint does not hold `model_name`, or is
      corrupt.
    mnist_input.IdxError: a test file is malformed.
  """
  with tf.Graph().as_default():
    images, labels = mnist_input.eval_inputs(data_dir, batch_size)
    global_step = tf1.train.get_or_create_global_step()
    correct = model.evaluation(model.inference(model_name, images), labels)
    size = tf.shape(labels)[0]
    restorer = checkpoints.Restorer()
    with tf1.Session(config=config) as sess:
      restorer.restore(sess, checkpoint)
      num_examples = num_correct = 0
      with session.queue_runners(sess):
        try:
          while True:
            batch_correct, batch_size_run = sess.run([correct, size])
            num_correct += int(batch_correct)
            num_examples += int(batch_size_run)
        except tf.errors.OutOfRangeError:
          pass
      return Score(int(sess.run(global_step)), num_examples, num_correct)

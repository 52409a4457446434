"""linear.train's step, and the tutorial's line of W, b and loss.

LoggingStep is the step_fn tfclassic.training.run_training calls: a
gradient-descent step through the hooks, and 'step N: W: [..] b: [..]
loss: X' at the start and every log_frequency steps, as the tutorial
printed.
"""
from typing import Tuple

import numpy as np
import tensorflow as tf

from linear import model
from tfclassic import checkpoints

tf1 = tf.compat.v1


def values_line(W: np.ndarray, b: np.ndarray, loss: float) -> str:
  """The tutorial's 'W: [..] b: [..] loss: X'."""
  return f'W: {W} b: {b} loss: {float(loss):.6g}'


class LoggingStep:
  """One training step; the values line before the first and after every
  log_frequency-th.

  The step number is read from the global step once, then counted.
  """

  def __init__(self, graph: model.LinearGraph, log_frequency: int):
    self._graph = graph
    self._log_frequency = log_frequency
    self._feed = graph.feed()
    self._step = None

  def __call__(self, step_context: tf1.train.MonitoredSession.StepContext
               ) -> None:
    if self._step is None:
      self._step = int(step_context.session.run(self._graph.global_step))
      self._log(step_context.session)
    step_context.run_with_hooks(self._graph.train, feed_dict=self._feed)
    self._step += 1
    self._log(step_context.session)

  def _log(self, session: tf1.Session) -> None:
    if self._log_frequency and self._step % self._log_frequency == 0:
      W, b, loss = session.run(
          [self._graph.W, self._graph.b, self._graph.loss], self._feed)
      print(f'step {self._step}: {values_line(W, b, loss)}', flush=True)


def restored_values(restorer: checkpoints.Restorer, checkpoint: str,
                    graph: model.LinearGraph
                    ) -> Tuple[np.ndarray, np.ndarray, float]:
  """W, b and the loss that `checkpoint` holds, restored into a new
  Session of graph's graph."""
  with tf1.Session() as sess:
    restorer.restore(sess, checkpoint)
    return tuple(sess.run([graph.W, graph.b, graph.loss], graph.feed()))

"""mnist.train's training step, with the tutorials' own log lines.

TutorialStep is the step_fn tfclassic.training.run_training calls for the
softmax, deep and mlp models: it feeds the batch, turns dropout on for deep,
and prints what each tutorial printed:

  softmax, deep  'step N, training accuracy X', without dropout, on the batch
                 about to be trained on;
  mlp            'Step N: loss = X (T sec)' of the training run.
"""
import time
from typing import Callable, Optional, Tuple

import numpy as np
import tensorflow as tf

from mnist import model

tf1 = tf.compat.v1

Batch = Tuple[np.ndarray, np.ndarray]


class TutorialStep:
  """One training step of a model.train_graph graph, run through the hooks.

  The step number is read from the global step once, then counted, so the
  log stays right on resume without a read every step.
  """

  def __init__(self, graph: model.TrainGraph, model_name: str,
               log_frequency: int,
               next_batch: Optional[Callable[[], Batch]] = None):
    """Args:
      graph: from model.train_graph.
      model_name: which tutorial; decides the log line and dropout.
      log_frequency: print the tutorial's line every N steps (0: never).
      next_batch: gives the (images, labels) of each step to feed; None:
        the graph's own input (model.train_graph's `inputs`) serves.
    """
    self._graph = graph
    self._model_name = model_name
    self._log_frequency = log_frequency
    self._next_batch = next_batch
    self._step = None

  def __call__(self, step_context: tf1.train.MonitoredSession.StepContext
               ) -> None:
    self.run(step_context.session, step_context.run_with_hooks)

  def run(self, session: tf1.Session,
          run_with_hooks: Callable[..., list]) -> None:
    """One step: `session` runs the log line's fetches, `run_with_hooks`
    the training op (mnist.benchmark passes session.run for both)."""
    graph = self._graph
    if self._step is None:
      self._step = int(session.run(graph.global_step))
    logging = (self._log_frequency > 0 and
               self._step % self._log_frequency == 0)
    feed = {}
    if self._next_batch is not None:
      images, labels = self._next_batch()
      feed = {graph.images: images, graph.labels: labels}
    if logging and self._model_name != 'mlp':
      # As in the tutorial: accuracy without dropout on the batch about to
      # be trained on, so the batch is fetched to be fed to the training run.
      accuracy, images, labels = session.run(
          [graph.accuracy, graph.images, graph.labels], feed)
      feed = {graph.images: images, graph.labels: labels}
      print(f'step {self._step}, training accuracy {accuracy:g}', flush=True)
    if self._model_name == 'deep':
      feed[graph.keep_prob] = model.DROPOUT_KEEP_PROB
    started = time.time()
    _, loss = run_with_hooks([graph.train_op, graph.loss], feed_dict=feed)
    if logging and self._model_name == 'mlp':
      print(f'Step {self._step}: loss = {loss:.2f} '
            f'({time.time() - started:.3f} sec)', flush=True)
    self._step += 1

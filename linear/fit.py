"""The gradient-descent loop shared by linear.train and linear.sweep."""

from typing import Callable, NamedTuple, Optional

import numpy as np

from linear import model
from linear.quiet_tf import tf


class FitResult(NamedTuple):
  """Final parameters and loss of a run."""
  W: np.ndarray
  b: np.ndarray
  loss: float
  initial_loss: float


def fit(learning_rate: float, steps: int, log_every: int = 0,
        log: Optional[Callable[[int, np.ndarray, np.ndarray, float],
                               None]] = None) -> FitResult:
  """Runs `steps` gradient-descent steps on the tutorial's data.

  Non-finite values (divergence) are returned as they are, never raised.

  Args:
    learning_rate: step size.
    steps: number of updates.
    log_every: call `log` at step 0 and every `log_every` steps (0: never).
    log: receives (step, W, b, loss).

  Returns:
    The FitResult after the last step.
  """
  with tf.Graph().as_default():
    graph = model.build(learning_rate)
    feed = {graph.x: model.X_TRAIN, graph.y: model.Y_TRAIN}
    with tf.compat.v1.Session() as sess:
      sess.run(graph.init)

      def evaluate():
        return sess.run([graph.W, graph.b, graph.loss], feed)

      W, b, loss = evaluate()
      initial_loss = float(loss)
      if log and log_every:
        log(0, W, b, loss)
      for step in range(1, steps + 1):
        sess.run(graph.train, feed)
        if log and log_every and step % log_every == 0:
          log(step, *evaluate())
      W, b, loss = evaluate()
  return FitResult(W=W, b=b, loss=float(loss), initial_loss=initial_loss)

"""The gradient-descent loop of linear.sweep in a plain Session, and its
judgement of each run (flag-free, so tests and other code can import it)."""

import math
from typing import Callable, List, NamedTuple, Optional

import numpy as np
import tensorflow as tf

from linear import model


# Final loss under which a run counts as converged (float32 reaches ~1e-11).
CONVERGED_LOSS = 1e-6
# Bounds of the binaries' flags: far past divergence (the stability bound is
# near 0.05) and past any loss the tutorial's four points give.
MAX_LEARNING_RATE = 1e38
MAX_LOSS = 1e12


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
    feed = graph.feed()
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


def verdict(result: FitResult,
            converged_loss: float = CONVERGED_LOSS) -> str:
  """Classifies a run: converged, slow, diverging or overflow-NaN.

  Args:
    result: the run's final values.
    converged_loss: loss threshold for "converged".

  Returns:
    converged: final loss below `converged_loss`;
    slow: loss fell, but not that far;
    diverging: loss finite but no lower than at the start;
    overflow-NaN: W, b or the loss overflowed to inf or NaN.
  """
  values = [float(result.W[0]), float(result.b[0]), result.loss]
  if not all(math.isfinite(v) for v in values):
    return 'overflow-NaN'
  if result.loss < converged_loss:
    return 'converged'
  if result.loss < result.initial_loss:
    return 'slow'
  return 'diverging'


def sweep(rates: List[float], steps: int,
          converged_loss: float = CONVERGED_LOSS) -> List[tuple]:
  """Fits once per rate.

  Returns:
    (rate, FitResult, verdict) per rate, in order.
  """
  rows = []
  for rate in rates:
    result = fit(rate, steps)
    rows.append((rate, result, verdict(result, converged_loss)))
  return rows

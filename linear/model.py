"""Graph for y = W*x + b fitted by gradient descent on a sum-of-squares loss.

Data and initial values are those of the "Getting Started: tf.train API"
tutorial, whose exact solution is W = -1, b = 1.
"""

from typing import NamedTuple, Sequence

import numpy as np
import tensorflow as tf

from tfclassic import summaries

tf1 = tf.compat.v1

X_TRAIN = (1.0, 2.0, 3.0, 4.0)
Y_TRAIN = (0.0, -1.0, -2.0, -3.0)
INITIAL_W = 0.3
INITIAL_B = -0.3


class LinearGraph(NamedTuple):
  """Handles into a built linear-regression graph."""
  x: tf.Tensor
  y: tf.Tensor
  W: tf.Variable
  b: tf.Variable
  loss: tf.Tensor
  train: tf.Operation
  init: tf.Operation
  global_step: tf.Variable

  def feed(self) -> dict:
    """The tutorial's training data, for the placeholders."""
    return {self.x: X_TRAIN, self.y: Y_TRAIN}


def build(learning_rate: float) -> LinearGraph:
  """Adds the model, loss, summaries and GradientDescentOptimizer step
  (which counts the global step) to the graph.

  Args:
    learning_rate: gradient-descent step size.

  Returns:
    The graph's placeholders, variables and ops.
  """
  global_step = tf1.train.get_or_create_global_step()
  W = tf.Variable([INITIAL_W], dtype=tf.float32, name='W')
  b = tf.Variable([INITIAL_B], dtype=tf.float32, name='b')
  x = tf1.placeholder(tf.float32, name='x')
  y = tf1.placeholder(tf.float32, name='y')
  linear_model = W * x + b
  loss = tf.reduce_sum(tf.square(linear_model - y), name='loss')
  for name, value in [('loss', loss), ('W', W[0]), ('b', b[0])]:
    summaries.scalar_summary(name, value)
  optimizer = tf1.train.GradientDescentOptimizer(learning_rate)
  return LinearGraph(x=x, y=y, W=W, b=b, loss=loss,
                     train=optimizer.minimize(loss, global_step=global_step),
                     init=tf1.global_variables_initializer(),
                     global_step=global_step)


def loss_hessian(x: Sequence[float] = X_TRAIN) -> np.ndarray:
  """Hessian of sum((W x_i + b - y_i)^2) with respect to (W, b).

  The loss is quadratic, so the Hessian is constant and independent of y:
  2 [[sum x^2, sum x], [sum x, n]].
  """
  x = np.asarray(x, np.float64)
  return 2.0 * np.array([[np.sum(x * x), np.sum(x)],
                         [np.sum(x), float(x.size)]])


def stability_bound(x: Sequence[float] = X_TRAIN) -> float:
  """Largest stable gradient-descent learning rate, 2 / lambda_max.

  On a quadratic loss each eigen-direction of the Hessian is scaled by
  (1 - lr * lambda) per step, so descent converges iff lr < 2 / lambda_max.
  """
  return 2.0 / float(np.linalg.eigvalsh(loss_hessian(x)).max())

"""Local response normalization in a few whole-tensor ops: tf.nn.lrn, faster.

tf.nn.lrn computes, for each position and depth d of an NHWC tensor,

  y[d] = x[d] / (bias + alpha * sum_{d' = d - r .. d + r} x[d']^2)^beta

Its CPU gradient (LRNGrad) runs scalar loops over every window, with a pow
per element; here both directions are a few whole-tensor ops around a sum
over depth windows, the same sum in both, because the window is symmetric:

  n = bias + alpha * window_sum(x^2),   y = x * n^-beta
  dx = g * n^-beta - 2 * alpha * beta * x * window_sum(g * y / n)

Without XLA the window sum is one matrix product with a constant
[depth, depth] band of ones, which oneDNN runs fast although most of the
band is zeros. With xla=True every op, forward and gradient, is compiled by
XLA (jit_scope) and the window sum is a pooling window over depth, which XLA
fuses with the elementwise passes around it, so the activations are read a
few times instead of a dozen. n^-beta is computed without tf.pow, which is
slow on CPUs: for the tutorial's beta of 0.75 it is rsqrt(n * sqrt(n)).
docs/performance.md compares the implementations in the whole model (--lrn).
"""
import contextlib

import numpy as np
import tensorflow as tf

tf1 = tf.compat.v1


def _band(depth: int, depth_radius: int) -> tf.Tensor:
  """[depth, depth] float32: 1 where the two depths are within the radius."""
  index = np.arange(depth)
  band = np.abs(index[:, None] - index[None, :]) <= depth_radius
  return tf.constant(band.astype(np.float32), name='band')


def _window_averages(rows: tf.Tensor, depth_radius: int) -> tf.Tensor:
  """Each row's averages over depth windows (zeros beyond its ends), as an
  average pool over depth."""
  depth = rows.shape[-1]
  padded = tf.pad(rows, [[0, 0], [depth_radius, depth_radius]])
  averages = tf.nn.avg_pool1d(padded[:, :, None], 2 * depth_radius + 1, 1,
                              'VALID')
  return tf.reshape(averages, [-1, depth])


def _negative_power(n: tf.Tensor, beta: float) -> tf.Tensor:
  """n ** -beta for n > 0, by the cheapest exact formula for common betas."""
  if beta == 0.75:
    return tf.math.rsqrt(n * tf.sqrt(n))
  if beta == 0.5:
    return tf.math.rsqrt(n)
  if beta == 1.0:
    return tf.math.reciprocal(n)
  return tf.exp(-beta * tf.math.log(n))


def local_response_normalization(x: tf.Tensor, depth_radius: int = 5,
                                 bias: float = 1.0, alpha: float = 1.0,
                                 beta: float = 0.5,
                                 name: str | None = None,
                                 xla: bool = False) -> tf.Tensor:
  """The same function as tf.nn.lrn, and the same gradient, to float rounding.

  Args:
    x: [batch, height, width, depth], float16, bfloat16 or float32, with a
      known depth. Half-precision inputs are computed in float32 and the
      result cast back.
    depth_radius: half-width of the window over depth.
    bias: added to the scaled sum of squares; must be > 0.
    alpha: scale of the sum of squares.
    beta: exponent.
    name: name scope of the ops.
    xla: compile the forward and the gradient ops with XLA (graph mode),
      the window sums as pooling windows instead of a banded product.

  Returns:
    A tensor like x.
  """
  with tf.name_scope(name or 'lrn'):
    # A Dimension under tf.compat.v1.disable_v2_behavior(), else an int.
    depth = tf.compat.dimension_value(x.shape[-1])
    if depth is None:
      raise ValueError('local_response_normalization needs a known depth; '
                       'got shape %s.' % x.shape)
    out_dtype = x.dtype
    if xla:
      # Averages: the window's width goes into the constants instead.
      window_sum = lambda t: _window_averages(t, depth_radius)
      width = 2 * depth_radius + 1
    else:
      band = _band(depth, depth_radius)
      window_sum = lambda t: tf.matmul(t, band)
      width = 1

    def compiled():
      return (tf1.xla.experimental.jit_scope(compile_ops=True) if xla
              else contextlib.nullcontext())

    @tf.custom_gradient
    def lrn(x):
      with compiled():
        shape = tf.shape(x)
        rows = tf.reshape(tf.cast(x, tf.float32), [-1, depth])
        n = bias + (alpha * width) * window_sum(tf.square(rows))
        scale = _negative_power(n, beta)
        y = rows * scale
        out = tf.cast(tf.reshape(y, shape), out_dtype)

      def grad(dy):
        with compiled():
          dy_rows = tf.reshape(tf.cast(dy, tf.float32), [-1, depth])
          spread = window_sum(dy_rows * y / n)
          dx = dy_rows * scale - (2.0 * alpha * beta * width) * rows * spread
          return tf.cast(tf.reshape(dx, shape), out_dtype)

      return out, grad

    return lrn(x)

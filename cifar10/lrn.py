"""Local response normalization as a banded matrix product: tf.nn.lrn, faster.

tf.nn.lrn computes, for each position and depth d of an NHWC tensor,

  y[d] = x[d] / (bias + alpha * sum_{d' = d - r .. d + r} x[d']^2)^beta

Its CPU gradient (LRNGrad) runs scalar loops over every window, with a pow
per element; here both directions are a few whole-tensor ops. The windowed
sum of squares is one matrix product with a constant [depth, depth] band of
ones, and so is the gradient's windowed sum, because the band is symmetric:

  n = bias + alpha * (x^2 @ band),   y = x * n^-beta
  dx = g * n^-beta - 2 * alpha * beta * x * ((g * y / n) @ band)

n^-beta is computed without tf.pow, which is slow on CPUs: for the
tutorial's beta of 0.75 it is rsqrt(n * sqrt(n)). With xla=True the same
ops, forward and gradient, are compiled by XLA (jit_scope), which fuses the
elementwise passes over the activations. docs/performance.md compares the
implementations in the whole model (--lrn).
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
    xla: compile the forward and the gradient ops with XLA (graph mode).

  Returns:
    A tensor like x.
  """
  with tf.name_scope(name or 'lrn'):
    # A Dimension under tf.compat.v1.disable_v2_behavior(), else an int.
    depth = tf.compat.dimension_value(x.shape[-1])
    if depth is None:
      raise ValueError('local_response_normalization needs a known depth; '
                       'got shape %s.' % x.shape)
    band = _band(depth, depth_radius)
    out_dtype = x.dtype

    def compiled():
      return (tf1.xla.experimental.jit_scope(compile_ops=True) if xla
              else contextlib.nullcontext())

    @tf.custom_gradient
    def lrn(x):
      with compiled():
        shape = tf.shape(x)
        rows = tf.reshape(tf.cast(x, tf.float32), [-1, depth])
        n = bias + alpha * tf.matmul(tf.square(rows), band)
        scale = _negative_power(n, beta)
        y = rows * scale
        out = tf.cast(tf.reshape(y, shape), out_dtype)

      def grad(dy):
        with compiled():
          dy_rows = tf.reshape(tf.cast(dy, tf.float32), [-1, depth])
          spread = tf.matmul(dy_rows * y / n, band)
          dx = dy_rows * scale - (2.0 * alpha * beta) * rows * spread
          return tf.cast(tf.reshape(dx, shape), out_dtype)

      return out, grad

    return lrn(x)

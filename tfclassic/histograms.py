"""Histogram summaries computed in a few passes: HistogramSummary, faster.

TensorBoard's histograms (tf.compat.v1.summary.histogram, the
HistogramSummary op) sort every value into one of 1,551 buckets whose limits
grow by 10% from 1e-12 to 1e20, each side of zero. The op finds each value's
bucket by a binary search, one value after another in one thread; for the
CIFAR-10 model's histograms that makes a summary step about four training
steps long.

Here every value's bucket comes from its float32 bit pattern: read as an
integer ordered like the floats, it falls in one of 8,192 cells, each
narrower than a bucket, so a cell holds at most one bucket limit; two
lookups in small tables and a comparison give the bucket. XLA compiles these
integer ops, and the minimum, maximum, sum and sum of squares, into one
loop over the values (TensorFlow's own gather would cost more than the
search it replaces); bincount counts the buckets. The result is encoded into
the same Summary protocol buffer the op writes (tf.io.encode_proto), with
runs of empty buckets collapsed as the op does, so TensorBoard and any other
reader see the same histogram. Being integer ops, the bucketing is also out
of reach of grappler's bfloat16 rewrite (--precision=bf16).
"""
import functools
import sys

import numpy as np
import tensorflow as tf

# tensorflow/core/lib/histogram/histogram.cc: limits grow by 10% from 1e-12
# while below 1e20, mirrored below zero, with DBL_MAX at both ends.
_SMALLEST_LIMIT = 1.0e-12
_LARGEST_LIMIT = 1.0e20
_GROWTH = 1.1

# The float32 bit patterns that are cell numbers once shifted this far: four
# mantissa bits are left, so a cell spans at most 6.25% of its values, less
# than the 10% between two limits.
_CELL_SHIFT = 19
_CELLS = 2 ** (32 - _CELL_SHIFT)
# The cells of the denormal floats on each side of zero.
_DENORMAL_CELLS = 2 ** (23 - _CELL_SHIFT)

# Tensors of fewer values, where their number is known when the graph is
# built, are left to the op: its search takes a millisecond or two there,
# while XLA compiles each new shape once, for about 0.15 s.
FAST_FROM_VALUES = 2 ** 16

# The op refuses NaN and infinities with this message, which the training
# loop turns into its NaN message.
NON_FINITE_MESSAGE = 'Nan in summary histogram for: '


@functools.cache
def bucket_limits() -> np.ndarray:
  """The op's bucket limits, computed as it computes them (float64)."""
  positive = []
  limit = _SMALLEST_LIMIT
  while limit < _LARGEST_LIMIT:
    positive.append(limit)
    limit *= _GROWTH
  dbl_max = sys.float_info.max
  return np.array([-dbl_max] + [-v for v in reversed(positive)] + [0.0] +
                  positive + [dbl_max])


def _ordered_keys(bits: np.ndarray) -> np.ndarray:
  """float32 bit patterns (int32) as integers in the floats' order."""
  return bits ^ ((bits >> 31) & 0x7FFFFFFF)


@functools.cache
def _cell_tables() -> tuple[np.ndarray, np.ndarray]:
  """Per cell: how many limits lie at or below its first key, and the key at
  which the one limit inside it starts to count (int32 max if none).

  A limit L counts for a float32 value v where L <= v, that is where v is at
  least the smallest float32 not below L: that float's key is the limit's
  threshold.
  """
  limits = bucket_limits()
  with np.errstate(over='ignore'):
    nearest = limits.astype(np.float32)  # Inf beyond float32's range.
  below = nearest.astype(np.float64) < limits
  smallest_not_below = np.where(
      below, np.nextafter(nearest, np.float32(np.inf)), nearest)
  # Both zeros count for the limit 0: take -0.0, the first in key order.
  smallest_not_below[np.flatnonzero(limits == 0.0)] = np.float32(-0.0)
  thresholds = _ordered_keys(smallest_not_below.view(np.int32)).astype(np.int64)
  cell_starts = (np.arange(_CELLS, dtype=np.int64) - _CELLS // 2) << _CELL_SHIFT
  base = np.searchsorted(thresholds, cell_starts, side='right')
  inside = np.searchsorted(thresholds, cell_starts + (1 << _CELL_SHIFT) - 1,
                           side='right')
  if np.any(inside - base > 1):
    raise AssertionError('a cell holds two bucket limits')
  threshold = np.where(inside > base,
                       thresholds[np.minimum(base, len(thresholds) - 1)],
                       np.iinfo(np.int32).max)
  # TensorFlow's kernels flush denormal floats to zero, so the op puts
  # negative ones with the zeros: the cells of -2**-126 < v < 0.
  negative_denormals = slice(_CELLS // 2 - _DENORMAL_CELLS, _CELLS // 2)
  base[negative_denormals] = np.searchsorted(limits, 0.0, side='right')
  threshold[negative_denormals] = np.iinfo(np.int32).max
  return base.astype(np.int32), threshold.astype(np.int32)


def _bucket_indices(values: tf.Tensor, base: tf.Tensor,
                    threshold: tf.Tensor) -> tf.Tensor:
  """Each float32 value's bucket, as the op finds it: the number of limits
  at or below it (int32), from the cell tables."""
  bits = tf.bitcast(values, tf.int32)
  keys = tf.bitwise.bitwise_xor(
      bits, tf.bitwise.bitwise_and(tf.bitwise.right_shift(bits, 31),
                                   0x7FFFFFFF))
  cells = tf.bitwise.right_shift(keys, _CELL_SHIFT) + _CELLS // 2
  above = tf.greater_equal(keys, tf.gather(threshold, cells))
  return tf.cast(tf.gather(base, cells), tf.int32) + tf.cast(above, tf.int32)


@tf.function(input_signature=[tf.TensorSpec(None, tf.float32)],
             jit_compile=True, autograph=False)
def _buckets_and_moments(values: tf.Tensor) -> tuple[tf.Tensor, ...]:
  """Each value's bucket, and the minimum, maximum, count, sum and sum of
  squares (float64), in one loop over the values."""
  flat = tf.reshape(values, [-1])
  base, threshold = _cell_tables()
  # Bucket numbers fit int16: half the constant.
  indices = _bucket_indices(flat, tf.constant(base.astype(np.int16)),
                            tf.constant(threshold))
  wide = tf.cast(flat, tf.float64)
  count = tf.cast(tf.size(flat), tf.float64)
  # The op's minimum and maximum of no values.
  dbl_max = sys.float_info.max
  # The minimum and maximum of the float64 copy (the same values): XLA
  # hands float32 ones to YNNPACK, whose executables race when two threads
  # run the function at once for the first time (docs/crash.md).
  return (indices,
          tf.where(count > 0, tf.reduce_min(wide), dbl_max),
          tf.where(count > 0, tf.reduce_max(wide), -dbl_max),
          count, tf.reduce_sum(wide), tf.reduce_sum(tf.square(wide)))


@tf.function(input_signature=[tf.TensorSpec(None, tf.float32),
                              tf.TensorSpec([], tf.string)],
             autograph=False)
def _histogram_summary(values: tf.Tensor, tag: tf.Tensor) -> tf.Tensor:
  """histogram_summary() as one function in the graph's library, so that
  each histogram adds one call to the graph rather than its own copy."""
  indices, *stats = _buckets_and_moments(values)
  # A sum of squared float32s overflows no float64: it is finite exactly
  # when every value is.
  check = tf.debugging.Assert(tf.math.is_finite(stats[-1]),
                              [NON_FINITE_MESSAGE, tag])
  num_buckets = len(bucket_limits())
  with tf.control_dependencies([check]):
    counts = tf.cast(tf.math.bincount(indices, minlength=num_buckets,
                                      maxlength=num_buckets), tf.float64)
  # A run of empty buckets is written as one, at the run's last limit.
  next_counts = tf.concat([counts[1:], [1.0]], 0)
  kept = tf.logical_or(counts > 0, next_counts > 0)
  bucket = tf.boolean_mask(counts, kept)
  bucket_limit = tf.boolean_mask(tf.constant(bucket_limits()), kept)
  kept_count = tf.size(bucket)
  histo = tf.io.encode_proto(
      tf.stack([1, 1, 1, 1, 1, kept_count, kept_count])[None],
      [tf.reshape(s, [1, 1]) for s in stats] +
      [bucket_limit[None], bucket[None]],
      ['min', 'max', 'num', 'sum', 'sum_squares', 'bucket_limit', 'bucket'],
      'tensorflow.HistogramProto')
  value = tf.io.encode_proto(
      tf.constant([[1, 1]]), [tf.reshape(tag, [1, 1]), histo[:, None]],
      ['tag', 'histo'], 'tensorflow.Summary.Value')
  return tf.reshape(tf.io.encode_proto(
      tf.constant([[1]]), [value[:, None]], ['value'], 'tensorflow.Summary'),
                    [])


def histogram_summary(tag: str, values: tf.Tensor) -> tf.Tensor:
  """HistogramSummary(tag, values): a serialized Summary holding the
  histogram of `values` under `tag`. Values of any float type are
  histogrammed as float32 (the models' float16, bfloat16 and float32
  exactly; float64 rounded); fewer than FAST_FROM_VALUES values, known as
  the graph is built, by the op itself.

  When run, raises InvalidArgumentError for NaN or infinite values, with
  the op's message.
  """
  size = values.shape.num_elements()
  if size is not None and size < FAST_FROM_VALUES:
    return tf.raw_ops.HistogramSummary(tag=tag, values=values)
  return _histogram_summary(tf.cast(values, tf.float32), tf.constant(tag))

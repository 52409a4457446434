"""tfclassic.histograms: the Summary that TF's HistogramSummary op writes,
bucket for bucket, for every kind of float32 value."""
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from conftest import PROJECT_ROOT
from tfclassic import histograms

tf1 = tf.compat.v1

# Graph builders must work in classic TF1 programs too.
pytestmark = pytest.mark.usefixtures('tf_behaviour')


def _around_every_limit() -> np.ndarray:
  """Each bucket limit as float32, and the float32s either side of it."""
  limits = histograms.bucket_limits()[1:-1].astype(np.float32)
  up = np.nextafter(limits, np.float32(np.inf))
  down = np.nextafter(limits, np.float32(-np.inf))
  return np.concatenate([limits, up, down, np.nextafter(up, np.inf)])


def _values() -> dict[str, np.ndarray]:
  rng = np.random.default_rng(0)
  return {
      'around every limit': _around_every_limit(),
      'relu activations': np.maximum(rng.normal(0, 2, (8, 6, 6, 16)), 0),
      'every magnitude': rng.normal(size=20000) * 10.0 ** rng.uniform(
          -44, 38, 20000),
      # Denormals, which TF's kernels read as zeros, and the extremes.
      'zeros and extremes': np.array(
          [0.0, -0.0, 1e-45, -1e-45, -1e-39, 1e-39, 3.4e38, -3.4e38,
           1e-12, -1e-12, 1e20, -1e20, 7.0]),
      'one value': np.array([0.25]),
      'no values': np.zeros([0]),
  }


def _unknown_size(values: np.ndarray) -> tf.Tensor:
  """values, of a size the graph does not know: histogram_summary takes its
  own way there, whatever the size."""
  return tf1.placeholder_with_default(values, shape=None)


def _both(tag: str, values: np.ndarray) -> tuple[tf1.HistogramProto, ...]:
  """The histogram of values from histogram_summary and from the op."""
  with tf.Graph().as_default(), tf1.Session() as sess:
    values = _unknown_size(values)
    ours, op = sess.run([
        histograms.histogram_summary(tag, values),
        tf.raw_ops.HistogramSummary(tag=tag, values=values)])
  ours, op = tf1.Summary.FromString(ours), tf1.Summary.FromString(op)
  assert [v.tag for v in ours.value] == [v.tag for v in op.value] == [tag]
  return ours.value[0].histo, op.value[0].histo


@pytest.mark.parametrize('name', list(_values()))
def test_the_same_histogram_as_the_op(name):
  values = _values()[name].astype(np.float32)
  ours, op = _both('layer/activations', values)
  assert list(ours.bucket_limit) == list(op.bucket_limit)
  assert list(ours.bucket) == list(op.bucket)
  assert (ours.min, ours.max, ours.num) == (op.min, op.max, op.num)
  # Summed in another order than the op's one-by-one loop, so the sums
  # differ by rounding: relative to the sum of magnitudes where signs cancel.
  magnitude = np.abs(values.astype(np.float64)).sum()
  assert ours.sum == pytest.approx(op.sum, rel=1e-12, abs=1e-12 * magnitude)
  assert ours.sum_squares == pytest.approx(op.sum_squares, rel=1e-12)


def test_half_precision_values_are_histogrammed_as_float32():
  values = np.random.default_rng(1).normal(0, 3, 500).astype(np.float16)
  ours, op = _both('h', values)
  assert list(ours.bucket) == list(op.bucket)
  assert list(ours.bucket_limit) == list(op.bucket_limit)


@pytest.mark.parametrize('bad', [np.nan, np.inf, -np.inf])
def test_non_finite_values_fail_as_the_op_does(bad):
  with tf.Graph().as_default(), tf1.Session() as sess:
    summary = histograms.histogram_summary(
        'conv1/weights', _unknown_size(np.array([1.0, bad, 2.0], np.float32)))
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r'Nan in summary histogram for: \] \[conv1/weights'):
      sess.run(summary)


def test_each_histogram_adds_a_call_not_a_copy():
  def nodes(count):
    with tf.Graph().as_default() as graph:
      for i in range(count):
        histograms.histogram_summary('h%d' % i, _unknown_size(np.zeros(4)))
      return len(graph.as_graph_def().node)
  assert nodes(30) - nodes(10) <= 20 * 6


def test_small_tensors_of_known_size_are_left_to_the_op():
  with tf.Graph().as_default() as graph:
    histograms.histogram_summary('small', tf.zeros([64]))
    histograms.histogram_summary(
        'large', tf.zeros([histograms.FAST_FROM_VALUES]))
    ops = [op.type for op in graph.get_operations()]
  assert ops.count('HistogramSummary') == 1
  assert ops.count('StatefulPartitionedCall') == 1


def test_the_compiled_histogram_leaves_no_work_to_ynnpack(tmp_path):
  """XLA hands float32 reductions to YNNPACK, whose executables crash now
  and then when two threads first run the function at once (a resumed
  training's first summary step; docs/crash.md): the compiled function
  must hold no YNNPACK fusion."""
  script = tmp_path / 'histogram.py'
  script.write_text(
      'import numpy as np\n'
      'import tfclassic\n'
      'import tensorflow as tf\n'
      'from tfclassic import histograms\n'
      'tf1 = tf.compat.v1\n'
      'with tf.Graph().as_default():\n'
      '  values = tf1.placeholder(tf.float32, [100000])\n'
      '  summary = histograms.histogram_summary("x", values)\n'
      '  with tf1.Session() as sess:\n'
      '    sess.run(summary, {values: np.random.rand(100000)})\n')
  dump = tmp_path / 'xla'
  subprocess.run([sys.executable, str(script)], check=True,
                 cwd=str(PROJECT_ROOT), env=dict(
                     os.environ, PYTHONPATH=str(PROJECT_ROOT),
                     XLA_FLAGS='--xla_dump_to=%s' % dump))
  compiled = list(dump.glob('*buckets_and_moments*after_optimizations.txt'))
  assert compiled
  for path in compiled:
    assert '__ynn_fusion' not in path.read_text()

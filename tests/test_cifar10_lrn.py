"""cifar10.lrn: the banded LRN is tf.nn.lrn, value and gradient."""
import numpy as np
import pytest
import tensorflow as tf

from cifar10 import lrn

tf1 = tf.compat.v1

# Graph builders must work in classic TF1 programs too.
pytestmark = pytest.mark.usefixtures('tf_behaviour')


def _value_and_gradient(fn, x, upstream, **params):
  """fn(x) and d(sum(fn(x) * upstream))/dx, evaluated in a graph."""
  with tf.Graph().as_default(), tf1.Session() as sess:
    x_tensor = tf.constant(x)
    y = fn(x_tensor, **params)
    dx, = tf.gradients(y, x_tensor, grad_ys=tf.constant(upstream))
    return sess.run([y, dx])


def _check(x, params, rtol, atol, xla=False):
  upstream = np.random.default_rng(1).normal(size=x.shape).astype(x.dtype)
  want_y, want_dx = _value_and_gradient(tf.nn.lrn, x, upstream, **params)
  got_y, got_dx = _value_and_gradient(lrn.local_response_normalization, x,
                                      upstream, xla=xla, **params)
  assert got_y.dtype == got_dx.dtype == x.dtype
  np.testing.assert_allclose(got_y, want_y, rtol=rtol, atol=atol)
  scale = np.abs(want_dx).max()
  np.testing.assert_allclose(got_dx, want_dx, rtol=rtol, atol=atol * scale)


@pytest.mark.parametrize('params', [
    # The CIFAR-10 model's layers.
    dict(depth_radius=4, bias=1.0, alpha=0.001 / 9.0, beta=0.75),
    # Strong normalization, so that the sum term matters.
    dict(depth_radius=4, bias=1.0, alpha=0.5, beta=0.75),
    dict(depth_radius=2, bias=2.0, alpha=1e-2, beta=0.5),
    dict(depth_radius=5, bias=1.0, alpha=1.0, beta=1.0),
    dict(depth_radius=1, bias=0.5, alpha=0.3, beta=0.6),
    # A window wider than the depth.
    dict(depth_radius=9, bias=1.0, alpha=0.1, beta=0.75),
])
def test_matches_tf_nn_lrn_and_its_gradient(params):
  x = np.random.default_rng(0).normal(0, 3, (4, 5, 6, 7)).astype(np.float32)
  _check(x, params, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('xla', [False, True])
def test_matches_on_the_model_shape_with_relu_inputs(xla):
  x = np.random.default_rng(2).normal(0, 10, (8, 12, 12, 64))
  x = np.maximum(x, 0).astype(np.float32)
  _check(x, dict(depth_radius=4, bias=1.0, alpha=0.001 / 9.0, beta=0.75),
         rtol=1e-5, atol=1e-6, xla=xla)


def test_xla_compiles_the_forward_and_the_gradient():
  with tf.Graph().as_default():
    x = tf1.placeholder(tf.float32, [2, 3, 3, 8])
    y = lrn.local_response_normalization(x, xla=True)
    dx, = tf.gradients(y, x)
    names = [op.name for op in tf1.get_default_graph().get_operations()
             if '_XlaCompile' in op.node_def.attr and
             op.get_attr('_XlaCompile')]
  # The window sums are pooling windows there, not banded products.
  assert any(name.startswith('lrn/') and 'AvgPool' in name for name in names)
  assert any('gradients' in name and 'AvgPool' in name for name in names)
  assert not any('MatMul' in name for name in names)


def test_float16_matches_within_half_precision():
  x = np.random.default_rng(3).normal(0, 3, (2, 3, 3, 16)).astype(np.float16)
  _check(x, dict(depth_radius=4, bias=1.0, alpha=0.05, beta=0.75),
         rtol=2e-3, atol=2e-3)


def test_unknown_depth_is_refused():
  with tf.Graph().as_default():
    x = tf1.placeholder(tf.float32, [None, 3, 3, None])
    with pytest.raises(ValueError, match='known depth'):
      lrn.local_response_normalization(x)

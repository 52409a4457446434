"""mnist.model: graph shapes, loss and evaluation against numpy, training."""

import numpy as np
import pytest
import tensorflow as tf

from mnist import model

# Graph builders must work in classic TF1 programs too.
pytestmark = pytest.mark.usefixtures('tf_behaviour')

EXPECTED_WEIGHTS = {
    'softmax': {'softmax/weights': (784, 10), 'softmax/biases': (10,)},
    'deep': {'conv1/weights': (5, 5, 1, 32), 'conv1/biases': (32,),
             'conv2/weights': (5, 5, 32, 64), 'conv2/biases': (64,),
             'fc1/weights': (7 * 7 * 64, 1024), 'fc1/biases': (1024,),
             'fc2/weights': (1024, 10), 'fc2/biases': (10,)},
    'mlp': {'hidden1/weights': (784, 128), 'hidden1/biases': (128,),
            'hidden2/weights': (128, 32), 'hidden2/biases': (32,),
            'softmax_linear/weights': (32, 10),
            'softmax_linear/biases': (10,)},
}


@pytest.mark.parametrize('name', model.MODELS)
def test_logits_and_variable_shapes(name):
  with tf.Graph().as_default():
    images = tf.compat.v1.placeholder(tf.float32, [None, 784])
    logits = model.inference(name, images)
    variables = {v.op.name: tuple(v.shape.as_list())
                 for v in tf.compat.v1.trainable_variables()}
    assert variables == EXPECTED_WEIGHTS[name]
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      out = sess.run(logits, {images: np.random.RandomState(0).rand(
          7, 784)})
  assert out.shape == (7, 10)
  assert np.all(np.isfinite(out))


def test_mlp_initial_weights_follow_fan_in():
  with tf.Graph().as_default():
    tf.compat.v1.set_random_seed(0)
    model.mlp_inference(tf.zeros([1, 784]))
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      weights = sess.run(tf.compat.v1.trainable_variables()[0])
  # Truncated normal at 2 stddev has stddev ~0.88 of the nominal one.
  assert weights.std() == pytest.approx(0.88 / np.sqrt(784), rel=0.05)
  assert np.abs(weights).max() <= 2 / np.sqrt(784) + 1e-6


def test_dropout_only_when_keep_prob_below_one():
  with tf.Graph().as_default():
    tf.compat.v1.set_random_seed(1)
    keep_prob = tf.compat.v1.placeholder_with_default(1.0, [])
    images = tf.constant(np.random.RandomState(1).rand(4, 784),
                         tf.float32)
    logits = model.inference('deep', images, keep_prob)
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      a, b = sess.run(logits), sess.run(logits)
      c = sess.run(logits, {keep_prob: 0.5})
  np.testing.assert_array_equal(a, b)
  assert not np.allclose(a, c)


def numpy_cross_entropy(logits, labels):
  logits = logits.astype(np.float64)
  shifted = logits - logits.max(axis=1, keepdims=True)
  log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
  return -log_probs[np.arange(len(labels)), labels].mean()


def test_loss_and_evaluation_match_numpy():
  rng = np.random.RandomState(2)
  logits = (rng.randn(20, 10) * 3).astype(np.float32)
  labels = rng.randint(0, 10, 20)
  # Large logits: a naive -sum(y * log(softmax)) would give inf/NaN.
  huge = np.zeros((2, 10), np.float32)
  huge[0, 3], huge[1, 5] = 1000.0, 1000.0
  with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
    loss = sess.run(model.loss(tf.constant(logits), tf.constant(labels)))
    correct = sess.run(model.evaluation(tf.constant(logits),
                                        tf.constant(labels)))
    huge_loss = sess.run(model.loss(tf.constant(huge),
                                    tf.constant([3, 4])))
    ties = sess.run(model.evaluation(tf.zeros([5, 10]),
                                     tf.constant([1, 2, 3, 4, 5])))
  assert loss == pytest.approx(numpy_cross_entropy(logits, labels),
                               rel=1e-5)
  assert correct == np.sum(logits.argmax(1) == labels)
  assert huge_loss == pytest.approx(500.0)
  assert ties == 0


@pytest.mark.parametrize('name', model.MODELS)
def test_training_op_lowers_loss_and_counts_steps(name):
  hp = model.HPARAMS[name]
  rng = np.random.RandomState(3)
  images = rng.rand(8, 784).astype(np.float32)
  labels = rng.randint(0, 10, 8)
  with tf.Graph().as_default():
    tf.compat.v1.set_random_seed(3)
    step = tf.compat.v1.train.get_or_create_global_step()
    loss = model.loss(model.inference(name, tf.constant(images)),
                      tf.constant(labels))
    train = model.training(loss, hp.optimizer, hp.learning_rate, step)
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      before = sess.run(loss)
      for _ in range(10):
        sess.run(train)
      after, steps = sess.run([loss, step])
  assert steps == 10
  assert after < before


def test_unknown_model_and_optimizer_are_rejected():
  with tf.Graph().as_default():
    with pytest.raises(ValueError, match="unknown model 'lenet'"):
      model.inference('lenet', tf.zeros([1, 784]))
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'"):
      model.training(tf.constant(1.0), 'rmsprop', 0.1,
                     tf.compat.v1.train.get_or_create_global_step())


def test_tutorial_hyperparameters():
  assert model.HPARAMS['softmax'] == ('sgd', 0.5, 1000, 100, 100)
  assert model.HPARAMS['deep'] == ('adam', 1e-4, 20000, 50, 100)
  assert model.HPARAMS['mlp'] == ('sgd', 0.01, 2000, 100, 100)

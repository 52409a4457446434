"""mnist.two_layer_net: layers, gradient checks, training and curves."""

import csv
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from conftest import PROJECT_ROOT, SHARED_DATA, module_env, read_scalars
from mnist import scratch
from mnist import two_layer_net as tln
from tfclassic import errors

REAL_DATA = SHARED_DATA / 'mnist'


def small_net(seed=0, input_size=12, hidden=6, output=4):
  # A larger init than the book's 0.01 so that every gradient is far from
  # zero and a wrong backward pass cannot hide under the tolerance.
  return tln.TwoLayerNet(input_size, hidden, output, weight_init_std=0.5,
                         rng=np.random.RandomState(seed))


def test_layers_forward_and_backward():
  relu = tln.Relu()
  out = relu.forward(np.array([[-1.0, 0.0, 2.0]]))
  np.testing.assert_array_equal(out, [[0.0, 0.0, 2.0]])
  np.testing.assert_array_equal(relu.backward(np.array([[5.0, 5.0, 5.0]])),
                                [[0.0, 0.0, 5.0]])
  affine = tln.Affine(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([1.0,
                                                                    -1.0]))
  x = np.array([[1.0, 1.0], [0.0, 2.0]])
  np.testing.assert_array_equal(affine.forward(x), [[5.0, 5.0], [7.0, 7.0]])
  dx = affine.backward(np.ones((2, 2)))
  np.testing.assert_array_equal(dx, [[3.0, 7.0], [3.0, 7.0]])
  np.testing.assert_array_equal(affine.dW, [[1.0, 1.0], [3.0, 3.0]])
  np.testing.assert_array_equal(affine.db, [2.0, 2.0])


def test_softmax_with_loss_is_stable_and_correct():
  layer = tln.SoftmaxWithLoss()
  logits = np.array([[1000.0, 0.0, -1000.0], [1.0, 2.0, 3.0]])
  loss = layer.forward(logits, np.array([0, 2]))
  expected_second = -np.log(np.exp(3) / np.exp([1, 2, 3]).sum())
  assert loss == pytest.approx(expected_second / 2, rel=1e-5)
  grad = layer.backward()
  probs = np.exp([1, 2, 3]) / np.exp([1, 2, 3]).sum()
  np.testing.assert_allclose(grad[1], (probs - [0, 0, 1]) / 2)
  np.testing.assert_allclose(grad[0], [0, 0, 0], atol=1e-12)


def test_backprop_matches_numerical_gradient():
  net = small_net()
  rng = np.random.RandomState(1)
  x, t = rng.rand(5, 12), rng.randint(0, 4, 5)
  backprop = net.gradient(x, t)
  numerical = net.numerical_gradient(x, t)
  for key in ('W1', 'b1', 'W2', 'b2'):
    assert backprop[key].shape == net.params[key].shape
    np.testing.assert_allclose(backprop[key], numerical[key], atol=1e-7,
                               rtol=1e-5, err_msg=key)


def test_backprop_matches_tensorflow_autodiff():
  net = tln.TwoLayerNet(rng=np.random.RandomState(4))
  rng = np.random.RandomState(5)
  x, t = rng.rand(100, 784), rng.randint(0, 10, 100)
  backprop = net.gradient(x, t)
  loss = net.loss(x, t)
  with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
    params = {k: tf.constant(v, tf.float64) for k, v in net.params.items()}
    hidden = tf.nn.relu(tf.matmul(tf.constant(x), params['W1'])
                        + params['b1'])
    logits = tf.matmul(hidden, params['W2']) + params['b2']
    tf_loss = tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=tf.constant(t), logits=logits))
    keys = list(params)
    grads = sess.run(dict(zip(keys, tf.gradients(
        tf_loss, [params[k] for k in keys]))))
    expected_loss = sess.run(tf_loss)
  # The book's 1e-7 inside log() shifts the loss a little, not the gradient.
  assert loss == pytest.approx(expected_loss, rel=1e-6)
  for key in keys:
    np.testing.assert_allclose(backprop[key], grads[key], atol=1e-12,
                               rtol=1e-9, err_msg=key)


class Examples:
  def __init__(self, images, labels):
    self.images, self.labels = images, labels


def separable_data(count, seed):
  """Two blobs whose class is the sign of the first feature."""
  rng = np.random.RandomState(seed)
  labels = rng.randint(0, 2, count)
  images = rng.rand(count, 784) * 0.1
  images[:, 0] = labels
  return Examples(images.astype(np.float32), labels)


def test_train_records_losses_and_epochs_and_learns():
  history = tln.train(separable_data(100, 0), separable_data(40, 1),
                      iterations=50, batch_size=10, learning_rate=0.5,
                      hidden_size=8, seed=0).history
  assert len(history.losses) == 50
  assert [i for i, _, _ in history.epochs] == [0, 10, 20, 30, 40]
  assert history.losses[-1] < history.losses[0]
  assert history.test_acc[-1] == 1.0


def test_train_is_reproducible_with_a_seed():
  runs = [tln.train(separable_data(50, 0), separable_data(10, 1),
                    iterations=20, batch_size=5, seed=9).history.losses
          for _ in range(2)]
  assert runs[0] == runs[1]


def test_a_stopped_run_goes_on_as_if_never_stopped(tmp_path):
  train_set, test_set = separable_data(50, 0), separable_data(10, 1)
  settings = dict(iterations=30, batch_size=5, hidden_size=8)
  straight = tln.train(train_set, test_set, seed=3, **settings)
  asked = []
  stopped = tln.train(train_set, test_set, seed=3, **settings,
                      should_stop=lambda: asked.append(1) or len(asked) > 12)
  assert stopped.iteration == 12
  assert len(stopped.history.losses) == 12
  # Through the state file, as mnist.train --model=scratch resumes.
  path = str(tmp_path / scratch.STATE_FILE)
  scratch.save_state(path, stopped)
  resumed = tln.train(train_set, test_set, **settings,
                      state=scratch.load_state(path, 784, 8))
  assert resumed.iteration == 30
  assert resumed.history == straight.history
  for key in ('W1', 'b1', 'W2', 'b2'):
    np.testing.assert_array_equal(resumed.net.params[key],
                                  straight.net.params[key])


def test_a_bad_state_file_is_one_clear_error(tmp_path):
  path = tmp_path / scratch.STATE_FILE
  path.write_bytes(b'not an npz')
  with pytest.raises(errors.UserError, match=r'is corrupt or truncated .*'
                                             r'--fresh'):
    scratch.load_state(str(path), 784, 50)
  scratch.save_state(str(path), tln.new_state(784, 20, seed=0))
  with pytest.raises(errors.UserError, match=r'holds another network: W1 '
                                             r'has shape \[784, 20\] there'):
    scratch.load_state(str(path), 784, 50)


def test_write_events_can_leave_out_the_points_of_earlier_runs(tmp_path):
  history = tln.History(losses=[2.3, 1.5, 0.9, 0.7],
                        epochs=[(0, 0.1, 0.12), (2, 0.8, 0.79)])
  tln.write_events(history, str(tmp_path), first_iteration=2)
  scalars = read_scalars(tmp_path)
  assert [step for step, _ in scalars['loss']] == [2, 3]
  assert [step for step, _ in scalars['accuracy/test']] == [2]


def test_write_curves_writes_csv_and_tensorboard_scalars(tmp_path):
  history = tln.History(losses=[2.3, 1.5, 0.9],
                        epochs=[(0, 0.1, 0.12), (2, 0.8, 0.79)])
  paths = tln.write_curves(history, str(tmp_path))
  assert [pathlib.Path(p).name for p in paths[:2]] == [
      'loss.csv', 'accuracy.csv']
  assert pathlib.Path(paths[2]).name.startswith('events.out.tfevents.')
  assert sorted(tmp_path.iterdir()) == sorted(map(pathlib.Path, paths))
  with open(tmp_path / 'loss.csv') as f:
    assert list(csv.reader(f)) == [['iteration', 'loss'], ['0', '2.3'],
                                   ['1', '1.5'], ['2', '0.9']]
  with open(tmp_path / 'accuracy.csv') as f:
    rows = list(csv.reader(f))
  assert rows == [['iteration', 'train_acc', 'test_acc'],
                  ['0', '0.1', '0.12'], ['2', '0.8', '0.79']]
  logged = [(value.tag, event.step, value.simple_value)
            for event in tf.compat.v1.train.summary_iterator(paths[2])
            for value in event.summary.value]
  assert logged == [
      ('loss', 0, np.float32(2.3)), ('loss', 1, np.float32(1.5)),
      ('loss', 2, np.float32(0.9)),
      ('accuracy/train', 0, np.float32(0.1)),
      ('accuracy/test', 0, np.float32(0.12)),
      ('accuracy/train', 2, np.float32(0.8)),
      ('accuracy/test', 2, np.float32(0.79))]


@pytest.mark.skipif(not REAL_DATA.is_dir(),
                    reason=f'real MNIST not found at {REAL_DATA}')
def test_book_settings_reach_96_percent_on_real_mnist(tmp_path):
  # One BLAS thread: these matrices are small, and a busy 2-core machine
  # makes multithreaded OpenBLAS many times slower.
  result = subprocess.run(
      [sys.executable, '-m', 'mnist.train', '--model=scratch', '--seed=0',
       f'--data_dir={REAL_DATA}', f'--train_dir={tmp_path}'],
      cwd=PROJECT_ROOT, env=module_env(OPENBLAS_NUM_THREADS='1'),
      capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr
  epochs = re.findall(r'^epoch (\d+) \(iteration \d+\): train acc '
                      r'([\d.]+), test acc ([\d.]+)$', result.stdout, re.M)
  assert [int(e) for e, _, _ in epochs] == list(range(17))
  assert float(epochs[-1][2]) >= 0.96
  assert f'test accuracy {float(epochs[-1][2]):g}' in result.stdout
  with open(tmp_path / 'accuracy.csv') as f:
    rows = list(csv.reader(f))
  assert len(rows) == 18 and float(rows[-1][2]) == float(epochs[-1][2])
  with open(tmp_path / 'loss.csv') as f:
    assert sum(1 for _ in f) == 10001
  assert len(list(tmp_path.glob('events.out.tfevents.*'))) == 1

"""Two-layer network with backpropagation in plain numpy.

After "ゼロから作るDeep Learning" 5.7.4: Affine -> ReLU -> Affine ->
SoftmaxWithLoss, each layer with its own forward and backward pass, trained
by minibatch SGD (784-50-10, lr 0.1, batch 100, 10000 iterations).
"""

import collections
import csv
import glob
import os
from dataclasses import dataclass, field
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

import numpy as np
import tensorflow as tf

from tfclassic import summaries

tf1 = tf.compat.v1


class HParams(NamedTuple):
  """The book's settings."""
  input_size: int
  hidden_size: int
  output_size: int
  weight_init_std: float
  learning_rate: float
  batch_size: int
  iterations: int


HPARAMS = HParams(input_size=784, hidden_size=50, output_size=10,
                  weight_init_std=0.01, learning_rate=0.1, batch_size=100,
                  iterations=10000)

# Keeps log() finite when a predicted probability underflows to zero.
LOG_EPSILON = 1e-7
NUMERICAL_H = 1e-4
EVENT_FILE_PATTERN = 'events.out.tfevents.*'


def softmax(x: np.ndarray) -> np.ndarray:
  """Row-wise softmax, shifted by the row max so exp cannot overflow."""
  shifted = x - x.max(axis=-1, keepdims=True)
  exp = np.exp(shifted)
  return exp / exp.sum(axis=-1, keepdims=True)


def cross_entropy_error(probs: np.ndarray, labels: np.ndarray) -> float:
  """Mean negative log-probability of the true class indices."""
  batch = probs.shape[0]
  return float(-np.sum(np.log(probs[np.arange(batch), labels]
                              + LOG_EPSILON)) / batch)


class Affine:
  """y = x W + b."""

  def __init__(self, weights: np.ndarray, biases: np.ndarray):
    self.W, self.b = weights, biases
    self.x = None
    self.dW = self.db = None

  def forward(self, x: np.ndarray) -> np.ndarray:
    self.x = x
    return x @ self.W + self.b

  def backward(self, dout: np.ndarray) -> np.ndarray:
    self.dW = self.x.T @ dout
    self.db = dout.sum(axis=0)
    return dout @ self.W.T


class Relu:
  """max(0, x); the gradient passes only where the input was positive."""

  def __init__(self):
    self.mask = None

  def forward(self, x: np.ndarray) -> np.ndarray:
    self.mask = x <= 0
    out = x.copy()
    out[self.mask] = 0
    return out

  def backward(self, dout: np.ndarray) -> np.ndarray:
    dx = dout.copy()
    dx[self.mask] = 0
    return dx


class SoftmaxWithLoss:
  """Softmax + cross-entropy; together their gradient is (y - t) / batch."""

  def __init__(self):
    self.probs = None
    self.labels = None

  def forward(self, x: np.ndarray, labels: np.ndarray) -> float:
    self.labels = labels
    self.probs = softmax(x)
    return cross_entropy_error(self.probs, labels)

  def backward(self, dout: float = 1.0) -> np.ndarray:
    batch = self.labels.shape[0]
    dx = self.probs.copy()
    dx[np.arange(batch), self.labels] -= 1
    return dx * dout / batch


class TwoLayerNet:
  """Affine -> ReLU -> Affine -> SoftmaxWithLoss with named parameters."""

  def __init__(self, input_size: int = HPARAMS.input_size,
               hidden_size: int = HPARAMS.hidden_size,
               output_size: int = HPARAMS.output_size,
               weight_init_std: float = HPARAMS.weight_init_std,
               rng: Optional[np.random.RandomState] = None):
    """Args:
      input_size, hidden_size, output_size: layer widths.
      weight_init_std: stddev of the Gaussian initial weights.
      rng: generator for the initial weights.
    """
    rng = rng or np.random.RandomState()
    self.params: Dict[str, np.ndarray] = {
        'W1': weight_init_std * rng.randn(input_size, hidden_size),
        'b1': np.zeros(hidden_size),
        'W2': weight_init_std * rng.randn(hidden_size, output_size),
        'b2': np.zeros(output_size),
    }
    # Layers share the arrays in self.params, so in-place updates and
    # numerical perturbations are seen by forward().
    self.layers = collections.OrderedDict([
        ('Affine1', Affine(self.params['W1'], self.params['b1'])),
        ('Relu1', Relu()),
        ('Affine2', Affine(self.params['W2'], self.params['b2'])),
    ])
    self.last_layer = SoftmaxWithLoss()

  def predict(self, x: np.ndarray) -> np.ndarray:
    """Logits [batch, output_size] for inputs [batch, input_size]."""
    for layer in self.layers.values():
      x = layer.forward(x)
    return x

  def loss(self, x: np.ndarray, labels: np.ndarray) -> float:
    """Mean cross-entropy loss for class indices `labels`."""
    return self.last_layer.forward(self.predict(x), labels)

  def accuracy(self, x: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of rows whose largest logit is the true class."""
    return float(np.mean(np.argmax(self.predict(x), axis=1) == labels))

  def gradient(self, x: np.ndarray,
               labels: np.ndarray) -> Dict[str, np.ndarray]:
    """Gradients of the loss by backpropagation, keyed like `params`."""
    self.loss(x, labels)
    dout = self.last_layer.backward(1.0)
    for layer in reversed(self.layers.values()):
      dout = layer.backward(dout)
    affine1, affine2 = self.layers['Affine1'], self.layers['Affine2']
    return {'W1': affine1.dW, 'b1': affine1.db,
            'W2': affine2.dW, 'b2': affine2.db}

  def numerical_gradient(self, x: np.ndarray,
                         labels: np.ndarray) -> Dict[str, np.ndarray]:
    """Gradients by central differences (slow; for checking backprop)."""
    grads = {}
    for key, param in self.params.items():
      grad = np.zeros_like(param)
      for idx in np.ndindex(param.shape):
        original = param[idx]
        param[idx] = original + NUMERICAL_H
        loss_plus = self.loss(x, labels)
        param[idx] = original - NUMERICAL_H
        loss_minus = self.loss(x, labels)
        param[idx] = original
        grad[idx] = (loss_plus - loss_minus) / (2 * NUMERICAL_H)
      grads[key] = grad
    return grads


@dataclass
class History:
  """Per-iteration losses and per-epoch accuracies of a training run."""
  losses: List[float] = field(default_factory=list)
  # (iteration, train accuracy, test accuracy), once per epoch.
  epochs: List[Tuple[int, float, float]] = field(default_factory=list)

  @property
  def test_acc(self) -> List[float]:
    return [test for _, _, test in self.epochs]


@dataclass
class TrainState:
  """Where a training run is, all it needs to go on.

  Attributes:
    net: the network.
    history: its curves so far.
    rng: draws the minibatches (after the initial weights).
    iteration: iterations done.
  """
  net: TwoLayerNet
  history: History
  rng: np.random.RandomState
  iteration: int = 0


def new_state(input_size: int = HPARAMS.input_size,
              hidden_size: int = HPARAMS.hidden_size,
              seed: Optional[int] = None) -> TrainState:
  """A fresh network whose weights and minibatches come from `seed`."""
  rng = np.random.RandomState(seed)
  net = TwoLayerNet(input_size, hidden_size, HPARAMS.output_size, rng=rng)
  return TrainState(net, History(), rng)


def train(train_set, test_set, iterations: int = HPARAMS.iterations,
          batch_size: int = HPARAMS.batch_size,
          learning_rate: float = HPARAMS.learning_rate,
          hidden_size: int = HPARAMS.hidden_size, seed: Optional[int] = None,
          log: Callable[[str], None] = lambda _: None,
          state: Optional[TrainState] = None,
          should_stop: Callable[[], bool] = lambda: False) -> TrainState:
  """Trains a TwoLayerNet by SGD on random minibatches, as in the book.

  Accuracy on the whole training and test sets is recorded at iteration 0
  and after every epoch (training-set size / batch_size iterations).

  Args:
    train_set: object with `images` [n, 784] and class-index `labels` [n].
    test_set: same, for testing.
    iterations: the iteration to stop at (counting those of `state`).
    batch_size: examples sampled (with replacement) per step.
    learning_rate: SGD step size.
    hidden_size: hidden ReLU units of a new network.
    seed: seeds a new network's initial weights and batch sampling.
    log: receives one progress line per epoch.
    state: a run to go on with (e.g. saved and loaded again); default: a
      new one from hidden_size and seed.
    should_stop: asked before each iteration; True ends the run early.

  Returns:
    The state after the last iteration; `history.test_acc[-1]` is the last
    epoch's test accuracy.
  """
  x_train, t_train = train_set.images, train_set.labels
  if state is None:
    state = new_state(x_train.shape[1], hidden_size, seed)
  net, history, rng = state.net, state.history, state.rng
  train_size = x_train.shape[0]
  iter_per_epoch = max(train_size // batch_size, 1)
  for i in range(state.iteration, iterations):
    if should_stop():
      break
    batch_mask = rng.choice(train_size, batch_size)
    x_batch, t_batch = x_train[batch_mask], t_train[batch_mask]
    grads = net.gradient(x_batch, t_batch)
    for key in net.params:
      net.params[key] -= learning_rate * grads[key]
    history.losses.append(net.loss(x_batch, t_batch))
    if i % iter_per_epoch == 0:
      train_acc = net.accuracy(x_train, t_train)
      test_acc = net.accuracy(test_set.images, test_set.labels)
      history.epochs.append((i, train_acc, test_acc))
      log(f'epoch {i // iter_per_epoch} (iteration {i}): '
          f'train acc {train_acc:.4f}, test acc {test_acc:.4f}')
    state.iteration = i + 1
  return state


def write_events(history: History, out_dir: str,
                 first_iteration: int = 0) -> str:
  """Writes the curves as TensorBoard scalars: `loss`, `accuracy/train` and
  `accuracy/test`, each at its iteration.

  TensorBoard draws them, and so does scripts/plot_curves.py, the plotting
  helper of every model in this project.

  Args:
    history: the curves.
    out_dir: where the event file goes.
    first_iteration: points before it are left out (a resumed run's earlier
      event files hold them).

  Returns:
    The event file's path.
  """
  before = set(glob.glob(os.path.join(out_dir, EVENT_FILE_PATTERN)))
  with tf.Graph().as_default():
    writer = summaries.file_writer(out_dir)
    for iteration, loss in enumerate(history.losses):
      if iteration >= first_iteration:
        writer.add_summary(summaries.scalars_proto({'loss': loss}), iteration)
    for iteration, train_acc, test_acc in history.epochs:
      if iteration >= first_iteration:
        writer.add_summary(summaries.scalars_proto(
            {'accuracy/train': train_acc, 'accuracy/test': test_acc}),
                           iteration)
    writer.close()
  new_file, = set(glob.glob(os.path.join(out_dir, EVENT_FILE_PATTERN))
                  ) - before
  return new_file


def write_curves(history: History, out_dir: str,
                 first_iteration: int = 0) -> List[str]:
  """Writes loss.csv and accuracy.csv (all of the history) and the curves'
  TensorBoard event file (from first_iteration on, see write_events).

  Returns:
    The paths written.
  """
  os.makedirs(out_dir, exist_ok=True)
  loss_path = os.path.join(out_dir, 'loss.csv')
  with open(loss_path, 'w', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(['iteration', 'loss'])
    writer.writerows(enumerate(history.losses))
  acc_path = os.path.join(out_dir, 'accuracy.csv')
  with open(acc_path, 'w', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(['iteration', 'train_acc', 'test_acc'])
    writer.writerows(history.epochs)
  return [loss_path, acc_path,
          write_events(history, out_dir, first_iteration)]

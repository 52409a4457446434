"""The CIFAR-10 model: inference, loss and training graph builders.

As in the tutorial:
  logits = inference(images)
  total_loss = loss(logits, labels)
  train_op = train(total_loss, global_step)

Only graph ops are built here; the binaries run them. Variables are created
with tf.compat.v1.get_variable on /cpu:0, so model replicas ("towers") on
several devices share one set of weights.
"""
import dataclasses
import math

import tensorflow as tf

from cifar10 import lrn as cifar10_lrn
from cifar10 import preprocessing
from cifar10 import records
from tfclassic import summaries

tf1 = tf.compat.v1

IMAGE_SIZE = preprocessing.IMAGE_SIZE
NUM_CLASSES = records.NUM_CLASSES
NUM_EXAMPLES_PER_EPOCH_FOR_TRAIN = records.NUM_EXAMPLES_PER_EPOCH_FOR_TRAIN
NUM_EXAMPLES_PER_EPOCH_FOR_EVAL = records.NUM_EXAMPLES_PER_EPOCH_FOR_EVAL

BATCH_SIZE = 128                  # Examples per step, as in the tutorial.

MOVING_AVERAGE_DECAY = 0.9999     # Decay of the weights' moving average.
NUM_EPOCHS_PER_DECAY = 350.0      # Epochs after which the learning rate decays.
LEARNING_RATE_DECAY_FACTOR = 0.1  # Learning rate decay factor.
INITIAL_LEARNING_RATE = 0.1       # Initial learning rate.
WEIGHT_DECAY = 0.004              # L2 decay of local3's and local4's weights.
LOSS_AVERAGE_DECAY = 0.9          # Decay of the logged losses' moving average.
MOMENTUM = 0.0                    # 0: the tutorial's plain gradient descent.

# Ops of model replicas are created under name scopes 'tower_0', 'tower_1', ..
# which summaries leave out, so all replicas report under the same names.
TOWER_NAME = 'tower'

LOSSES_COLLECTION = 'losses'

# Local response normalization, as in the tutorial (AlexNet's values scaled).
LRN_DEPTH_RADIUS = 4
LRN_BIAS = 1.0
LRN_ALPHA = 0.001 / 9.0
LRN_BETA = 0.75

# How the LRN layers are computed; the same function and gradient every
# way, so checkpoints are interchangeable. 'banded' (cifar10/lrn.py) is the
# faster on CPUs (docs/performance.md), 'xla' the same ops compiled by XLA
# with pooling windows for the sums, 'stock' is tf.nn.lrn.
LRN_IMPLEMENTATIONS = ('banded', 'stock', 'xla')

# The variable scopes of the layers with weights, input to output.
LAYER_SCOPES = ('conv1', 'conv2', 'local3', 'local4', 'softmax_linear')


@dataclasses.dataclass(frozen=True)
class ModelOptions:
  """How the model is computed, where a binary's flags choose it.

  Attributes:
    lrn: one of LRN_IMPLEMENTATIONS.
    use_fp16: variables and activations in float16 instead of float32.
  """
  lrn: str = 'banded'
  use_fp16: bool = False

  @property
  def dtype(self) -> tf.DType:
    return tf.float16 if self.use_fp16 else tf.float32


@dataclasses.dataclass(frozen=True)
class Hyperparameters:
  """How the model is trained: the tutorial's constants by default, so that
  the default graph is the tutorial's.

  Attributes:
    initial_learning_rate: the learning rate before its first decay.
    num_epochs_per_decay: epochs (of NUM_EXAMPLES_PER_EPOCH_FOR_TRAIN
      examples) between decays.
    learning_rate_decay_factor: what each decay multiplies the rate by.
    moving_average_decay: decay of the weights' moving average, which
      evaluation scores.
    weight_decay: L2 decay of local3's and local4's weights.
    momentum: 0 for plain gradient descent; else MomentumOptimizer's.
    trainable_scopes: the LAYER_SCOPES whose weights are trained (the
      others stay as initialized or warm-started); empty: all.
  """
  initial_learning_rate: float = INITIAL_LEARNING_RATE
  num_epochs_per_decay: float = NUM_EPOCHS_PER_DECAY
  learning_rate_decay_factor: float = LEARNING_RATE_DECAY_FACTOR
  moving_average_decay: float = MOVING_AVERAGE_DECAY
  weight_decay: float = WEIGHT_DECAY
  momentum: float = MOMENTUM
  trainable_scopes: tuple[str, ...] = ()


def _activation_summary(x: tf.Tensor) -> None:
  """Histogram and sparsity (fraction of zeros) summaries of an activation."""
  tag = summaries.strip_scope(x.op.name, TOWER_NAME)
  summaries.histogram_summary(tag + '/activations', x)
  summaries.scalar_summary(tag + '/sparsity', tf.nn.zero_fraction(x))


def _variable_on_cpu(name: str, shape: list[int],
                     initializer: tf.keras.initializers.Initializer,
                     dtype: tf.DType) -> tf.Variable:
  with tf.device('/cpu:0'):
    return tf1.get_variable(name, shape, initializer=initializer, dtype=dtype)


def _variable_with_weight_decay(name: str, shape: list[int], stddev: float,
                                wd: float | None,
                                dtype: tf.DType) -> tf.Variable:
  """A truncated-normal initialized weight, with L2 decay added to the loss.

  Args:
    name: variable name.
    shape: variable shape.
    stddev: standard deviation of the truncated normal initializer.
    wd: weight decay factor; None adds no decay.
    dtype: variable dtype.

  Returns:
    The variable.
  """
  var = _variable_on_cpu(
      name, shape, tf1.truncated_normal_initializer(stddev=stddev, dtype=dtype),
      dtype)
  if wd is not None:
    weight_decay = tf.multiply(tf.nn.l2_loss(var), wd, name='weight_loss')
    tf1.add_to_collection(LOSSES_COLLECTION, weight_decay)
  return var


def _conv_relu(images: tf.Tensor, scope_name: str, shape: list[int],
               bias: float) -> tf.Tensor:
  with tf1.variable_scope(scope_name) as scope:
    kernel = _variable_with_weight_decay('weights', shape, stddev=5e-2,
                                         wd=None, dtype=images.dtype)
    conv = tf.nn.conv2d(images, kernel, [1, 1, 1, 1], padding='SAME')
    biases = _variable_on_cpu('biases', shape[-1:],
                              tf1.constant_initializer(bias), images.dtype)
    activation = tf.nn.relu(tf.nn.bias_add(conv, biases), name=scope.name)
  _activation_summary(activation)
  return activation


def _max_pool(x: tf.Tensor, name: str) -> tf.Tensor:
  return tf.nn.max_pool2d(x, ksize=[1, 3, 3, 1], strides=[1, 2, 2, 1],
                          padding='SAME', name=name)


def _lrn(x: tf.Tensor, name: str, implementation: str) -> tf.Tensor:
  if implementation == 'stock':
    return tf.nn.lrn(x, LRN_DEPTH_RADIUS, bias=LRN_BIAS, alpha=LRN_ALPHA,
                     beta=LRN_BETA, name=name)
  return cifar10_lrn.local_response_normalization(
      x, LRN_DEPTH_RADIUS, bias=LRN_BIAS, alpha=LRN_ALPHA, beta=LRN_BETA,
      name=name, xla=implementation == 'xla')


def _local(x: tf.Tensor, scope_name: str, units: int, stddev: float,
           wd: float | None, bias: float, relu: bool = True) -> tf.Tensor:
  with tf1.variable_scope(scope_name) as scope:
    weights = _variable_with_weight_decay(
        'weights', [x.shape.as_list()[1], units], stddev=stddev, wd=wd,
        dtype=x.dtype)
    biases = _variable_on_cpu('biases', [units],
                              tf1.constant_initializer(bias), x.dtype)
    if relu:
      out = tf.nn.relu(tf.matmul(x, weights) + biases, name=scope.name)
    else:
      out = tf.add(tf.matmul(x, weights), biases, name=scope.name)
  _activation_summary(out)
  return out


def inference(images: tf.Tensor, num_classes: int = NUM_CLASSES,
              lrn: str = 'banded',
              weight_decay: float = WEIGHT_DECAY) -> tf.Tensor:
  """Builds the CIFAR-10 model.

  Variables take the dtype of `images` (float16 for --use_fp16). Call it again
  inside tf.compat.v1.variable_scope(..., reuse=True) for another tower.

  Args:
    images: [batch, IMAGE_SIZE, IMAGE_SIZE, 3] from distorted_inputs() or
      inputs().
    num_classes: size of the output layer (10 for CIFAR-10; datasets of your
      own may have another number, see data.read_class_names).
    lrn: how the LRN layers are computed, one of LRN_IMPLEMENTATIONS.
    weight_decay: L2 decay of local3's and local4's weights, added to the
      'losses' collection.

  Returns:
    Logits [batch, num_classes]: unnormalized, as
    tf.nn.sparse_softmax_cross_entropy_with_logits expects.

  Raises:
    ValueError: for an unknown lrn.
  """
  if lrn not in LRN_IMPLEMENTATIONS:
    raise ValueError('LRN implementation %r is not one of %s.'
                     % (lrn, ', '.join(LRN_IMPLEMENTATIONS)))
  conv1 = _conv_relu(images, 'conv1', [5, 5, 3, 64], bias=0.0)
  pool1 = _max_pool(conv1, 'pool1')
  norm1 = _lrn(pool1, 'norm1', lrn)
  conv2 = _conv_relu(norm1, 'conv2', [5, 5, 64, 64], bias=0.1)
  norm2 = _lrn(conv2, 'norm2', lrn)
  pool2 = _max_pool(norm2, 'pool2')
  flat = tf.reshape(pool2, [-1, math.prod(pool2.shape.as_list()[1:])])
  local3 = _local(flat, 'local3', 384, stddev=0.04, wd=weight_decay,
                  bias=0.1)
  local4 = _local(local3, 'local4', 192, stddev=0.04, wd=weight_decay,
                  bias=0.1)
  return _local(local4, 'softmax_linear', num_classes, stddev=1 / 192.0,
                wd=None, bias=0.0, relu=False)


def configured_inference(images: tf.Tensor, num_classes: int,
                         options: ModelOptions,
                         weight_decay: float = WEIGHT_DECAY) -> tf.Tensor:
  """inference() of images cast to the options' dtype, with their LRN."""
  return inference(tf.cast(images, options.dtype), num_classes, options.lrn,
                   weight_decay)


def loss(logits: tf.Tensor, labels: tf.Tensor,
         scope: str | None = None) -> tf.Tensor:
  """Mean cross-entropy plus all weight decay terms.

  Args:
    logits: from inference().
    labels: int [batch] class indices.
    scope: sum only the losses made under this name scope (a tower's).

  Returns:
    total_loss: the sum of the 'losses' collection (within scope).
  """
  cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(
      labels=tf.cast(labels, tf.int64), logits=logits,
      name='cross_entropy_per_example')
  cross_entropy_mean = tf.reduce_mean(cross_entropy, name='cross_entropy')
  tf1.add_to_collection(LOSSES_COLLECTION, cross_entropy_mean)
  return tf.add_n(tf1.get_collection(LOSSES_COLLECTION, scope),
                 name='total_loss')


def add_loss_summaries(total_loss: tf.Tensor,
                       losses: list[tf.Tensor] | None = None) -> tf.Operation:
  """Scalar summaries of each loss, raw and as a moving average.

  The raw values jump from batch to batch; the moving average shows the trend.
  Create it once per graph (outside any tower reuse scope): it makes
  variables.

  Args:
    total_loss: from loss().
    losses: the individual losses; default: the 'losses' collection.

  Returns:
    The op that updates the moving averages.
  """
  if losses is None:
    losses = tf1.get_collection(LOSSES_COLLECTION)
  loss_averages = tf1.train.ExponentialMovingAverage(LOSS_AVERAGE_DECAY,
                                                     name='avg')
  with tf.device('/cpu:0'):
    loss_averages_op = loss_averages.apply(losses + [total_loss])
  for l in losses + [total_loss]:
    tag = summaries.strip_scope(l.op.name, TOWER_NAME)
    summaries.scalar_summary(tag + '_raw', l)
    # Read once this step's update is done: a read racing the update would
    # show the average before or after it, by chance.
    with tf.control_dependencies([loss_averages_op]):
      summaries.scalar_summary(tag, tf.identity(loss_averages.average(l)))
  return loss_averages_op


def learning_rate(global_step: tf.Tensor, examples_per_step: int,
                  hparams: Hyperparameters = Hyperparameters()) -> tf.Tensor:
  """The tutorial's schedule (by default x0.1 every 350 epochs), counted in
  examples.

  Args:
    global_step: the step counter.
    examples_per_step: examples one step trains on (batch size times towers),
      so that the decay follows epochs however a step is split.
    hparams: the initial rate, epochs per decay and decay factor.

  Returns:
    The learning rate, with a 'learning_rate' summary.
  """
  num_batches_per_epoch = NUM_EXAMPLES_PER_EPOCH_FOR_TRAIN / examples_per_step
  # At least one step: a tiny --num_epochs_per_decay would otherwise divide
  # by zero.
  decay_steps = max(int(num_batches_per_epoch * hparams.num_epochs_per_decay),
                    1)
  lr = tf1.train.exponential_decay(hparams.initial_learning_rate, global_step,
                                   decay_steps,
                                   hparams.learning_rate_decay_factor,
                                   staircase=True)
  summaries.scalar_summary('learning_rate', lr)
  return lr


def weight_averages(global_step: tf.Tensor,
                    decay: float = MOVING_AVERAGE_DECAY
                    ) -> tf1.train.ExponentialMovingAverage:
  """The moving average of the weights that evaluation restores."""
  return tf1.train.ExponentialMovingAverage(decay, global_step)


def trained_variables(trainable_scopes: tuple[str, ...] = ()
                      ) -> list[tf.Variable]:
  """The trainable variables under trainable_scopes (all if empty): what
  the optimizer updates. The moving averages still follow every weight, so
  evaluation restores all of them as before."""
  return [v for v in tf1.trainable_variables()
          if not trainable_scopes or
          v.op.name.split('/')[0] in trainable_scopes]


def make_optimizer(lr: tf.Tensor, momentum: float = MOMENTUM
                   ) -> tf1.train.Optimizer:
  """The tutorial's plain gradient descent; with a momentum, momentum
  (whose accumulators are variables of their own, 'Momentum' slots)."""
  if momentum:
    return tf1.train.MomentumOptimizer(lr, momentum)
  return tf1.train.GradientDescentOptimizer(lr)


def apply_gradients(optimizer: tf1.train.Optimizer,
                    grads_and_vars: list[tuple[tf.Tensor, tf.Variable]],
                    global_step: tf.Tensor,
                    update_averages: bool = True,
                    average_decay: float = MOVING_AVERAGE_DECAY
                    ) -> tf.Operation:
  """Applies the gradients once, then updates the weights' moving averages.

  Args:
    optimizer: the optimizer.
    grads_and_vars: from optimizer.compute_gradients (or their tower mean).
    global_step: incremented by the update.
    update_averages: False when the optimizer updates weight_averages()
      itself (SyncReplicasOptimizer does, once per aggregated step).
    average_decay: the decay of weight_averages().

  Returns:
    The train op.
  """
  apply_gradient_op = optimizer.apply_gradients(grads_and_vars,
                                                global_step=global_step)
  # The weights as this step leaves them: a read racing the update would
  # show them before or after it, by chance.
  with tf.control_dependencies([apply_gradient_op]):
    for var in tf1.trainable_variables():
      summaries.histogram_summary(var.op.name, tf.identity(var))
  for grad, var in grads_and_vars:
    if grad is not None:
      summaries.histogram_summary(var.op.name + '/gradients', grad)
  if not update_averages:
    return apply_gradient_op
  with tf.control_dependencies([apply_gradient_op]):
    return weight_averages(global_step, average_decay).apply(
        tf1.trainable_variables())


def train(total_loss: tf.Tensor, global_step: tf.Tensor,
          batch_size: int = BATCH_SIZE,
          hparams: Hyperparameters = Hyperparameters()) -> tf.Operation:
  """One step of plain gradient descent on total_loss, as in the tutorial
  (momentum with hparams.momentum).

  Args:
    total_loss: from loss().
    global_step: the step counter.
    batch_size: examples per step, for the learning-rate schedule.
    hparams: the schedule, optimizer and moving-average decay.

  Returns:
    The train op: the gradient step followed by the weight averages' update.
  """
  lr = learning_rate(global_step, batch_size, hparams)
  loss_averages_op = add_loss_summaries(total_loss)
  with tf.control_dependencies([loss_averages_op]):
    opt = make_optimizer(lr, hparams.momentum)
    grads = opt.compute_gradients(
        total_loss, var_list=trained_variables(hparams.trainable_scopes))
  return apply_gradients(opt, grads, global_step,
                         average_decay=hparams.moving_average_decay)


def variables_to_restore() -> dict[str, tf.Variable]:
  """Maps checkpoint names to variables so that a Saver restores each weight
  from its moving average: the smoother weights evaluate better."""
  variable_averages = tf1.train.ExponentialMovingAverage(MOVING_AVERAGE_DECAY)
  return variable_averages.variables_to_restore()

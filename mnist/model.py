"""MNIST graph builders: inference per model, loss, training op, evaluation.

`train_graph` puts them together as mnist.train runs them.

Models, with the tutorials' hyperparameters in `HPARAMS`:
  softmax  "MNIST For ML Beginners": one affine layer 784 -> 10.
  deep     "Deep MNIST for Experts": two conv/pool layers, fc 1024, dropout.
  mlp      "TensorFlow Mechanics 101": hidden layers of 128 and 32 ReLUs.
"""

import math
from typing import NamedTuple, Optional, Tuple

import tensorflow as tf

from tfclassic import checkpoints
from tfclassic import determinism
from tfclassic import errors

NUM_CLASSES = 10
IMAGE_SIZE = 28
IMAGE_PIXELS = IMAGE_SIZE * IMAGE_SIZE

HIDDEN1_UNITS = 128
HIDDEN2_UNITS = 32
CONV1_FEATURES = 32
CONV2_FEATURES = 64
FC_UNITS = 1024
KERNEL_SIZE = 5
DROPOUT_KEEP_PROB = 0.5


class HParams(NamedTuple):
  """Training settings a tutorial publishes for its model."""
  optimizer: str
  learning_rate: float
  max_steps: int
  batch_size: int
  log_frequency: int


HPARAMS = {
    'softmax': HParams('sgd', 0.5, 1000, 100, 100),
    'deep': HParams('adam', 1e-4, 20000, 50, 100),
    'mlp': HParams('sgd', 0.01, 2000, 100, 100),
}

MODELS = tuple(HPARAMS)

# Inter-op threads of each model's Session. The small models' ops are too
# short to gain from being handed to the inter-op pool, so each runs in the
# calling thread (-1); deep's convolutions keep the pool (0: one per core).
INTER_OP_THREADS = {'softmax': -1, 'deep': 0, 'mlp': -1}

# A variable scope only one model has, for telling which wrote a checkpoint.
_SCOPE_TO_MODEL = {'conv1': 'deep', 'hidden1': 'mlp', 'softmax': 'softmax'}


def _weights(shape, stddev, name='weights'):
  return tf.Variable(tf.random.truncated_normal(shape, stddev=stddev),
                     name=name)


def softmax_inference(images: tf.Tensor) -> tf.Tensor:
  """Beginners' model: logits = images W + b, W and b zero-initialised.

  Args:
    images: float32 [batch, 784].

  Returns:
    logits float32 [batch, 10].
  """
  with tf.compat.v1.name_scope('softmax'):
    weights = tf.Variable(tf.zeros([IMAGE_PIXELS, NUM_CLASSES]),
                          name='weights')
    biases = tf.Variable(tf.zeros([NUM_CLASSES]), name='biases')
    return tf.matmul(images, weights) + biases


def _conv_pool(inputs, in_features, out_features, scope):
  """5x5 SAME conv + ReLU, then 2x2 max pool (halves height and width)."""
  with tf.compat.v1.name_scope(scope):
    weights = _weights(
        [KERNEL_SIZE, KERNEL_SIZE, in_features, out_features], 0.1)
    # A small positive bias keeps ReLUs from starting dead.
    biases = tf.Variable(tf.constant(0.1, shape=[out_features]),
                         name='biases')
    conv = tf.nn.conv2d(inputs, weights, strides=[1, 1, 1, 1],
                        padding='SAME')
    hidden = tf.nn.relu(conv + biases)
    return tf.nn.max_pool2d(hidden, ksize=[1, 2, 2, 1],
                            strides=[1, 2, 2, 1], padding='SAME')


def deep_inference(images: tf.Tensor, keep_prob: tf.Tensor,
                   dropout_seed: Optional[tf.Tensor] = None) -> tf.Tensor:
  """Experts' convnet: conv32 -> pool -> conv64 -> pool -> fc1024 -> fc10.

  Args:
    images: float32 [batch, 784].
    keep_prob: scalar dropout keep probability for the fc1024 layer.
    dropout_seed: int [2] to draw the dropout from by a stateless op (see
      tfclassic.determinism) rather than from the graph's random state.

  Returns:
    logits float32 [batch, 10].
  """
  x_image = tf.reshape(images, [-1, IMAGE_SIZE, IMAGE_SIZE, 1])
  pool1 = _conv_pool(x_image, 1, CONV1_FEATURES, 'conv1')
  pool2 = _conv_pool(pool1, CONV1_FEATURES, CONV2_FEATURES, 'conv2')
  flat_size = (IMAGE_SIZE // 4) * (IMAGE_SIZE // 4) * CONV2_FEATURES
  with tf.compat.v1.name_scope('fc1'):
    weights = _weights([flat_size, FC_UNITS], 0.1)
    biases = tf.Variable(tf.constant(0.1, shape=[FC_UNITS]), name='biases')
    fc1 = tf.nn.relu(tf.matmul(tf.reshape(pool2, [-1, flat_size]),
                               weights) + biases)
  with tf.compat.v1.name_scope('dropout'):
    if dropout_seed is None:
      fc1_drop = tf.nn.dropout(fc1, rate=1.0 - keep_prob)
    else:
      fc1_drop = tf.nn.experimental.stateless_dropout(
          fc1, rate=1.0 - keep_prob, seed=dropout_seed)
  with tf.compat.v1.name_scope('fc2'):
    weights = _weights([FC_UNITS, NUM_CLASSES], 0.1)
    biases = tf.Variable(tf.constant(0.1, shape=[NUM_CLASSES]),
                         name='biases')
    return tf.matmul(fc1_drop, weights) + biases


def mlp_inference(images: tf.Tensor, hidden1_units: int = HIDDEN1_UNITS,
                  hidden2_units: int = HIDDEN2_UNITS) -> tf.Tensor:
  """Mechanics 101 model: two ReLU layers and a linear softmax layer.

  Weights start with stddev 1/sqrt(fan_in), biases at zero.

  Args:
    images: float32 [batch, 784].
    hidden1_units: size of the first hidden layer.
    hidden2_units: size of the second hidden layer.

  Returns:
    logits float32 [batch, 10].
  """
  sizes = [IMAGE_PIXELS, hidden1_units, hidden2_units, NUM_CLASSES]
  scopes = ['hidden1', 'hidden2', 'softmax_linear']
  outputs = images
  for i, scope in enumerate(scopes):
    with tf.compat.v1.name_scope(scope):
      weights = _weights([sizes[i], sizes[i + 1]],
                         1.0 / math.sqrt(float(sizes[i])))
      biases = tf.Variable(tf.zeros([sizes[i + 1]]), name='biases')
      outputs = tf.matmul(outputs, weights) + biases
      if scope != 'softmax_linear':
        outputs = tf.nn.relu(outputs)
  return outputs


def inference(model: str, images: tf.Tensor,
              keep_prob: tf.Tensor = None,
              dropout_seed: Optional[tf.Tensor] = None) -> tf.Tensor:
  """Builds the named model's logits.

  Args:
    model: one of MODELS.
    images: float32 [batch, 784].
    keep_prob: dropout keep probability, used by `deep` only; defaults to
      1.0 (no dropout).
    dropout_seed: see deep_inference.

  Returns:
    logits float32 [batch, 10].
  """
  if model == 'softmax':
    return softmax_inference(images)
  if model == 'deep':
    return deep_inference(
        images, 1.0 if keep_prob is None else keep_prob, dropout_seed)
  if model == 'mlp':
    return mlp_inference(images)
  raise ValueError(f'unknown model {model!r}; expected one of {MODELS}')


def loss(logits: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
  """Mean cross-entropy from logits with TF's numerically stable op.

  Args:
    logits: float32 [batch, 10].
    labels: int class indices [batch].

  Returns:
    scalar float32 loss.
  """
  cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(
      labels=tf.cast(labels, tf.int64), logits=logits, name='xentropy')
  return tf.reduce_mean(cross_entropy, name='xentropy_mean')


def training(loss_op: tf.Tensor, optimizer: str, learning_rate: float,
             global_step: tf.Variable) -> tf.Operation:
  """Minimises `loss_op`, incrementing `global_step` once per run.

  Args:
    loss_op: scalar loss.
    optimizer: 'sgd' (plain gradient descent) or 'adam'.
    learning_rate: step size.
    global_step: int64 step counter variable.

  Returns:
    The training op.
  """
  if optimizer == 'sgd':
    opt = tf.compat.v1.train.GradientDescentOptimizer(learning_rate)
  elif optimizer == 'adam':
    opt = tf.compat.v1.train.AdamOptimizer(learning_rate)
  else:
    raise ValueError(f'unknown optimizer {optimizer!r}')
  return opt.minimize(loss_op, global_step=global_step)


def evaluation(logits: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
  """Number of examples whose highest logit is the true label.

  Uses argmax rather than in_top_k so that ties (e.g. an untrained softmax
  model's all-zero logits) are not counted as correct.

  Args:
    logits: float32 [batch, 10].
    labels: int class indices [batch].

  Returns:
    int32 scalar count of correct predictions.
  """
  predicted = tf.argmax(logits, axis=1, output_type=tf.int32)
  correct = tf.equal(predicted, tf.cast(labels, tf.int32))
  return tf.reduce_sum(tf.cast(correct, tf.int32))


class TrainGraph(NamedTuple):
  """The tensors mnist.train feeds and fetches."""
  images: tf.Tensor
  labels: tf.Tensor
  keep_prob: tf.Tensor
  loss: tf.Tensor
  train_op: tf.Operation
  correct: tf.Tensor
  accuracy: tf.Tensor
  summary_op: tf.Tensor
  global_step: tf.Variable


def train_graph(model: str, optimizer: str, learning_rate: float,
                inputs: Optional[Tuple[tf.Tensor, tf.Tensor]] = None,
                deterministic_seed: Optional[int] = None) -> TrainGraph:
  """Placeholders, model, loss, training op and summaries.

  Args:
    model: one of MODELS.
    optimizer: 'sgd' or 'adam' (see `training`).
    learning_rate: step size.
    inputs: float32 images [n, 784] and int32 labels [n] (e.g. a queue's
      batch) that `images` and `labels` default to; without them, every run
      must feed both.
    deterministic_seed: draw the dropout from this seed and the global step
      (tfclassic.determinism), so that a run repeats exactly.

  Returns:
    The graph's handles; `keep_prob` defaults to 1.0 (no dropout).
  """
  global_step = tf.compat.v1.train.get_or_create_global_step()
  if inputs is None:
    images = tf.compat.v1.placeholder(tf.float32, [None, IMAGE_PIXELS],
                                      name='images')
    labels = tf.compat.v1.placeholder(tf.int32, [None], name='labels')
  else:
    images = tf.compat.v1.placeholder_with_default(
        inputs[0], [None, IMAGE_PIXELS], name='images')
    labels = tf.compat.v1.placeholder_with_default(inputs[1], [None],
                                                   name='labels')
  keep_prob = tf.compat.v1.placeholder_with_default(1.0, [], name='keep_prob')
  logits = inference(model, images, keep_prob, None if deterministic_seed is None
                     else determinism.step_seed(deterministic_seed))
  loss_op = loss(logits, labels)
  train_op = training(loss_op, optimizer, learning_rate, global_step)
  correct = evaluation(logits, labels)
  accuracy = tf.cast(correct, tf.float32) / tf.cast(tf.shape(labels)[0],
                                                    tf.float32)
  tf.compat.v1.summary.scalar('loss', loss_op)
  tf.compat.v1.summary.scalar('accuracy', accuracy)
  tf.compat.v1.summary.image(
      'input', tf.reshape(images, [-1, IMAGE_SIZE, IMAGE_SIZE, 1]),
      max_outputs=3)
  return TrainGraph(images, labels, keep_prob, loss_op, train_op, correct,
                    accuracy, tf.compat.v1.summary.merge_all(), global_step)


def model_from_checkpoint(checkpoint: str) -> str:
  """Names the model ('softmax', 'deep' or 'mlp') that wrote `checkpoint`.

  Raises:
    errors.UserError: the checkpoint holds none of the known models, or
      cannot be read (checkpoints.CheckpointGone: its files are gone).
  """
  scopes = {name.split('/')[0] for name in checkpoints.variable_shapes(
      checkpoint)}
  for scope, model_name in _SCOPE_TO_MODEL.items():
    if scope in scopes:
      return model_name
  raise errors.UserError(f'{checkpoint} holds no MNIST model of this '
                         f'package (variables under {sorted(scopes)}).')


def check_resumable(train_dir: str, model_name: str) -> None:
  """Checks that train_dir, if it has a checkpoint, holds `model_name`.

  Raises:
    errors.UserError: it holds another model, which cannot be resumed as
      this one.
  """
  checkpoint = checkpoints.newest_checkpoint(train_dir)
  if checkpoint is None:
    return
  found = model_from_checkpoint(checkpoint)
  if found != model_name:
    raise errors.UserError(
        f'{train_dir} holds a {found} model ({checkpoint}), which cannot be '
        f'resumed as --model={model_name}: pass --model={found}, another '
        '--train_dir, or --fresh to start over.')

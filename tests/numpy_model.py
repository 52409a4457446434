"""An independent numpy (float64) version of the CIFAR-10 model's forward pass.

Written from the tutorial's description, not from cifar10.model, so the tests
can check the TF graph against it.
"""
import numpy as np
import tensorflow as tf
from numpy.lib.stride_tricks import sliding_window_view

# The model's weights, as the checkpoint names them.
WEIGHTS = ('conv1/weights', 'conv1/biases', 'conv2/weights', 'conv2/biases',
           'local3/weights', 'local3/biases', 'local4/weights',
           'local4/biases', 'softmax_linear/weights', 'softmax_linear/biases')


def conv2d_same(x, kernel, bias):
  """Stride-1 SAME convolution. x [N,H,W,C], kernel [k,k,C,F]."""
  k = kernel.shape[0]
  pad = (k - 1) // 2
  padded = np.pad(x, ((0, 0), (pad, k - 1 - pad), (pad, k - 1 - pad), (0, 0)))
  windows = sliding_window_view(padded, (k, k), axis=(1, 2))  # N,H,W,C,k,k
  return np.einsum('nhwcij,ijcf->nhwf', windows, kernel) + bias


def max_pool_3x3_s2_same(x):
  n, h, w, c = x.shape
  out_h, out_w = -(-h // 2), -(-w // 2)
  pad_h = max((out_h - 1) * 2 + 3 - h, 0)
  pad_w = max((out_w - 1) * 2 + 3 - w, 0)
  padded = np.pad(x, ((0, 0), (pad_h // 2, pad_h - pad_h // 2),
                      (pad_w // 2, pad_w - pad_w // 2), (0, 0)),
                  constant_values=-np.inf)
  windows = sliding_window_view(padded, (3, 3), axis=(1, 2))[:, ::2, ::2]
  return windows.max(axis=(-2, -1))


def lrn(x, radius=4, bias=1.0, alpha=0.001 / 9.0, beta=0.75):
  """x / (bias + alpha * sum of squares over the depth window) ** beta."""
  depth = x.shape[-1]
  squares = x ** 2
  sums = np.zeros_like(x)
  for d in range(depth):
    lo, hi = max(0, d - radius), min(depth, d + radius + 1)
    sums[..., d] = squares[..., lo:hi].sum(-1)
  return x / (bias + alpha * sums) ** beta


def relu(x):
  return np.maximum(x, 0)


def logits(images, w):
  """images [N,24,24,3] (preprocessed); w maps WEIGHTS to arrays."""
  x = relu(conv2d_same(images, w['conv1/weights'], w['conv1/biases']))
  x = lrn(max_pool_3x3_s2_same(x))
  x = relu(conv2d_same(x, w['conv2/weights'], w['conv2/biases']))
  x = max_pool_3x3_s2_same(lrn(x))
  x = x.reshape(len(x), -1)
  x = relu(x @ w['local3/weights'] + w['local3/biases'])
  x = relu(x @ w['local4/weights'] + w['local4/biases'])
  return x @ w['softmax_linear/weights'] + w['softmax_linear/biases']


def average_weights(checkpoint):
  """The checkpoint's moving averages of the weights, by weight name."""
  reader = tf.train.load_checkpoint(str(checkpoint))
  return {name: reader.get_tensor(name + '/ExponentialMovingAverage')
          for name in WEIGHTS}


def softmax(logit_rows):
  exp = np.exp(logit_rows - logit_rows.max(1, keepdims=True))
  return exp / exp.sum(1, keepdims=True)


def standardize(image):
  """tf.image.per_image_standardization of one image."""
  image = image.astype(np.float64)
  std = max(image.std(), 1.0 / np.sqrt(image.size))
  return (image - image.mean()) / std


def eval_preprocess(images_uint8):
  """Central 24x24 crop and standardization of uint8 [N,32,32,3]."""
  return np.stack([standardize(im[4:28, 4:28]) for im in images_uint8])


def cross_entropy(logit_rows, labels):
  shifted = logit_rows - logit_rows.max(1, keepdims=True)
  log_probs = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
  return -log_probs[np.arange(len(labels)), labels]


def raw_weights(checkpoint):
  """The checkpoint's weights as training left them, by weight name."""
  reader = tf.train.load_checkpoint(str(checkpoint))
  return {name: reader.get_tensor(name) for name in WEIGHTS}


def probabilities(checkpoint, images_uint8, moving_average=True):
  """Class probabilities of uint8 [N,32,32,3] images, as evaluated: centre
  crop, standardization and the checkpoint's moving-average weights (or its
  raw weights)."""
  weights = (average_weights if moving_average else raw_weights)(checkpoint)
  return softmax(logits(eval_preprocess(images_uint8), weights))

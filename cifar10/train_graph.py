"""The tutorial's single-device training graph: input, model, train op.

cifar10.train builds it and hands it to tfclassic.training.run_training;
cifar10.benchmark times it. towers.py builds the multi-tower version.
"""
import dataclasses
from typing import Callable, Optional

import tensorflow as tf

from cifar10 import inputs
from cifar10 import model

tf1 = tf.compat.v1


@dataclasses.dataclass
class TrainGraph:
  """A training graph, as run_training() takes it.

  Attributes:
    train_op: one training step.
    loss: the loss to log.
    examples_per_step: examples one global step stands for.
    feed_fn: the feed_dict of each step, for placeholder input.
    summary_op: the summaries to write (default: all).
  """
  train_op: tf.Operation
  loss: tf.Tensor
  examples_per_step: int
  feed_fn: Optional[Callable[[], dict]] = None
  summary_op: Optional[tf.Tensor] = None


def build_train_graph(train_input: inputs.TrainInput,
                      options: model.ModelOptions = model.ModelOptions(),
                      feed: bool = False,
                      hparams: model.Hyperparameters = model.Hyperparameters()
                      ) -> TrainGraph:
  """Builds the single-device training graph in the default graph.

  Args:
    train_input: what to read; its seed also seeds the graph (weights,
      distortions).
    options: how the model is computed.
    feed: read batches with numpy and feed them (TrainInput.feed) instead
      of the tutorial's reader threads and shuffling queue.
    hparams: the training knobs (the tutorial's by default).

  Raises:
    DataError: if the data files are missing or malformed.
  """
  tf1.set_random_seed(train_input.seed)
  global_step = tf1.train.get_or_create_global_step()
  feed_fn = None
  if feed:
    images, labels, feed_fn = train_input.feed()
  else:
    images, labels = train_input.queue()
  logits = model.configured_inference(images, train_input.num_classes,
                                      options, hparams.weight_decay)
  loss = model.loss(logits, labels)
  train_op = model.train(loss, global_step, train_input.batch_size, hparams)
  return TrainGraph(train_op, loss, train_input.batch_size, feed_fn)

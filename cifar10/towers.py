"""Synchronous data-parallel training: one model replica ("tower") per device.

Each tower runs the whole model on its slice of the batch, on its own device
('/gpu:0', '/gpu:1', ...), while all variables live once on the CPU. The
towers' gradients are averaged per variable and applied once, so a step of N
towers on N slices equals one step of a single model on the whole batch.

This is the graph of the tutorial's cifar10_multi_gpu_train, reusable by any
training binary, with the fixes its users needed: the loss moving averages
are created once, outside the towers' variable reuse (the original failed
with ".../avg/biased does not exist"), the learning rate decays per example
rather than per step, and the logged loss is the mean over towers.
"""
from dataclasses import dataclass
from typing import Callable, Optional

import tensorflow as tf

from cifar10 import inputs
from cifar10 import model
from cifar10 import train_graph
from tfclassic import summaries

tf1 = tf.compat.v1


@dataclass
class TowerGraph:
  """What build_towers() made.

  Attributes:
    train_op: one synchronous step of all towers.
    loss: total loss, mean over towers.
    grads_and_vars: the averaged gradients that train_op applies.
    summary_op: the last tower's summaries and the shared ones.
    optimizer: the optimizer that applies them.
  """
  train_op: tf.Operation
  loss: tf.Tensor
  grads_and_vars: list
  summary_op: tf.Tensor
  optimizer: tf1.train.Optimizer


# A function of (optimizer, the weights' moving averages) that returns the
# optimizer applying the gradients and updating those averages (for
# synchronous replicas).
WrapOptimizer = Callable[[tf1.train.Optimizer,
                          tf1.train.ExponentialMovingAverage],
                         tf1.train.Optimizer]


def tower_name(index: int) -> str:
  return '%s_%d' % (model.TOWER_NAME, index)


def tower_loss(scope: str, images: tf.Tensor, labels: tf.Tensor,
               num_classes: int = model.NUM_CLASSES,
               options: model.ModelOptions = model.ModelOptions(),
               weight_decay: float = model.WEIGHT_DECAY
               ) -> tuple[tf.Tensor, list[tf.Tensor]]:
  """Builds one tower's model and loss.

  Args:
    scope: the tower's name scope, e.g. 'tower_0/'; its losses are collected
      by this prefix.
    images: the tower's slice of the batch.
    labels: its labels.
    num_classes: classes of the model.
    options: how the model is computed.
    weight_decay: L2 decay of the fully connected layers' weights.

  Returns:
    total_loss: the tower's cross-entropy plus weight decay.
    losses: the terms of total_loss.
  """
  logits = model.configured_inference(images, num_classes, options,
                                      weight_decay)
  total_loss = model.loss(logits, labels, scope)
  return total_loss, tf1.get_collection(model.LOSSES_COLLECTION, scope)


def average_gradients(tower_grads: list[list[tuple]]) -> list[tuple]:
  """The mean over towers of each variable's gradient.

  Args:
    tower_grads: per tower, the (gradient, variable) pairs of
      compute_gradients, all in the same variable order.

  Returns:
    (mean gradient, variable) pairs.
  """
  averaged = []
  for grads_and_vars in zip(*tower_grads):
    grads = [g for g, _ in grads_and_vars]
    variable = grads_and_vars[0][1]
    averaged.append((tf.reduce_mean(tf.stack(grads), axis=0), variable))
  return averaged


def _mean_over_towers(tensors: list[tf.Tensor]) -> tf.Tensor:
  """The mean of one loss term over towers, named as the term is in a
  single-device graph, so summaries and checkpoints keep the same names."""
  name = summaries.strip_scope(tensors[0].op.name, model.TOWER_NAME)
  return tf.reduce_mean(tf.stack(tensors), name=name)


def build_towers(images: tf.Tensor, labels: tf.Tensor, num_towers: int,
                 global_step: tf.Tensor,
                 num_classes: int = model.NUM_CLASSES,
                 device: str = '/gpu:%d',
                 examples_per_step: Optional[int] = None,
                 wrap_optimizer: Optional[WrapOptimizer] = None,
                 options: model.ModelOptions = model.ModelOptions(),
                 hparams: model.Hyperparameters = model.Hyperparameters()
                 ) -> TowerGraph:
  """Splits the batch over num_towers towers and builds one training step.

  Args:
    images: the whole batch, e.g. from one shared input queue on the CPU.
    labels: its labels.
    num_towers: towers; the batch size must be a multiple of it.
    global_step: the step counter (on the CPU).
    num_classes: classes of the model.
    device: device of tower i, as a pattern.
    examples_per_step: examples one global step stands for, for the
      learning-rate schedule; default: the batch.
    wrap_optimizer: for synchronous replicas: called as
      wrap_optimizer(optimizer, model.weight_averages(global_step)), returns
      an optimizer that applies the gradients and updates those averages.
    options: how the model is computed.
    hparams: the training knobs (the tutorial's by default).

  Returns:
    A TowerGraph.
  """
  examples_per_step = examples_per_step or images.shape.as_list()[0]
  with tf.device('/cpu:0'):
    learning_rate = model.learning_rate(global_step, examples_per_step,
                                        hparams)
    optimizer = model.make_optimizer(learning_rate, hparams.momentum)
    image_slices = tf.split(images, num_towers)
    label_slices = tf.split(labels, num_towers)
  tower_grads, tower_totals, tower_terms = [], [], []
  with tf1.variable_scope(tf1.get_variable_scope()):
    for i in range(num_towers):
      with tf.device(device % i), tf1.name_scope(tower_name(i)) as scope:
        total, terms = tower_loss(scope, image_slices[i], label_slices[i],
                                  num_classes, options, hparams.weight_decay)
        tf1.get_variable_scope().reuse_variables()
        tower_grads.append(optimizer.compute_gradients(
            total,
            var_list=model.trained_variables(hparams.trainable_scopes)))
        tower_totals.append(total)
        tower_terms.append(terms)
  with tf.device('/cpu:0'):
    loss = _mean_over_towers(tower_totals)
    terms = [_mean_over_towers(list(t)) for t in zip(*tower_terms)]
    loss_averages_op = model.add_loss_summaries(loss, terms)
    grads_and_vars = average_gradients(tower_grads)
    if wrap_optimizer:
      optimizer = wrap_optimizer(optimizer, model.weight_averages(
          global_step, hparams.moving_average_decay))
    apply_op = model.apply_gradients(
        optimizer, grads_and_vars, global_step,
        update_averages=not wrap_optimizer,
        average_decay=hparams.moving_average_decay)
  # Every tower wrote the same summaries; keep the last tower's only.
  other_towers = {tower_name(i) for i in range(num_towers - 1)}
  summaries = [s for s in tf1.get_collection(tf1.GraphKeys.SUMMARIES)
               if s.op.name.split('/')[0] not in other_towers]
  return TowerGraph(train_op=tf.group(apply_op, loss_averages_op), loss=loss,
                    grads_and_vars=grads_and_vars,
                    summary_op=tf1.summary.merge(summaries),
                    optimizer=optimizer)


def report_placement(num_towers: int) -> None:
  """Says once where the towers run when there are fewer GPUs than towers."""
  found = len(tf.config.list_physical_devices('GPU'))
  if found < num_towers:
    towers_on_cpu = ('tower %d runs' % found if num_towers - found == 1 else
                     'towers %d..%d run' % (found, num_towers - 1))
    print('Asked for %d GPU%s, found %d: %s on the CPU (soft placement).'
          % (num_towers, 's' if num_towers > 1 else '', found, towers_on_cpu),
          flush=True)


def build_tower_train_graph(train_input: inputs.TrainInput, num_towers: int,
                            options: model.ModelOptions = model.ModelOptions(),
                            device: str = '/gpu:%d',
                            wrap_optimizer: Optional[WrapOptimizer] = None,
                            replicas_per_step: int = 1,
                            hparams: model.Hyperparameters = (
                                model.Hyperparameters())
                            ) -> tuple[train_graph.TrainGraph, TowerGraph]:
  """The towers' training graph, fed by one input queue on the CPU.

  Each step reads num_towers batches of train_input.batch_size and gives
  each tower one. multi_gpu_train runs it; each worker of dist_train runs it
  under its replica_device_setter.

  Args:
    train_input: what to read; its seed also seeds the graph.
    num_towers: towers (GPUs).
    options: how the model is computed.
    device: device of tower i, as a pattern.
    wrap_optimizer: see build_towers (synchronous replicas).
    replicas_per_step: how many workers' batches one global step
      aggregates.
    hparams: the training knobs (the tutorial's by default).

  Returns:
    The graph as run_training takes it, and the towers' parts.

  Raises:
    DataError: if the data files are missing or malformed.
  """
  tf1.set_random_seed(train_input.seed)
  batch = train_input.batch_size * num_towers
  with tf.device('/cpu:0'):
    global_step = tf1.train.get_or_create_global_step()
  images, labels = train_input.queue(batch)
  examples_per_step = batch * replicas_per_step
  graph = build_towers(images, labels, num_towers, global_step,
                       train_input.num_classes, device, examples_per_step,
                       wrap_optimizer, options, hparams)
  return train_graph.TrainGraph(graph.train_op, graph.loss, examples_per_step,
                                summary_op=graph.summary_op), graph

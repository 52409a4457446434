"""Trains with one model replica per GPU: `python -m cifar10.multi_gpu_train`.

--num_gpus towers run synchronously on '/gpu:0' .. '/gpu:N-1', fed by one
shared input queue on the CPU, where all variables live. Each step trains on
batch_size x num_gpus examples. Checkpoints carry the same variable names as
cifar10.train's, so cifar10.eval scores them unchanged, and training resumes
as cifar10.train does. On a machine with fewer GPUs, towers run on the CPU.
"""
from typing import Callable, Optional

import tensorflow as tf
from absl import app, flags

from cifar10 import input as cifar10_input
from cifar10 import runtime
from cifar10 import towers
from cifar10 import training

flags.DEFINE_integer('num_gpus', 1, 'How many GPUs (towers) to use.')
flags.adopt_module_key_flags(runtime)
flags.adopt_module_key_flags(training)

FLAGS = flags.FLAGS


def _report_placement(num_gpus: int) -> None:
  found = len(tf.config.list_physical_devices('GPU'))
  if found < num_gpus:
    towers_on_cpu = ('tower %d runs' % found if num_gpus - found == 1 else
                     'towers %d..%d run' % (found, num_gpus - 1))
    print('Asked for %d GPU%s, found %d: %s on the CPU (soft placement).'
          % (num_gpus, 's' if num_gpus > 1 else '', found, towers_on_cpu),
          flush=True)


def build_tower_graph(tower_device: str = '/gpu:%d',
                      wrap_optimizer: Optional[Callable] = None,
                      replicas_per_step: int = 1
                      ) -> tuple[training.TrainGraph, towers.TowerGraph]:
  """The towers' training graph, also for a worker of a cluster.

  Args:
    tower_device: device of tower i, as a pattern.
    wrap_optimizer: see towers.build_towers (synchronous replicas).
    replicas_per_step: how many workers' batches one global step aggregates.

  Returns:
    The graph as run_training takes it, and the towers' parts.
  """
  _report_placement(FLAGS.num_gpus)
  num_classes = runtime.num_classes()
  batch = FLAGS.batch_size * FLAGS.num_gpus
  with tf.device('/cpu:0'):
    global_step = tf.compat.v1.train.get_or_create_global_step()
  images, labels = cifar10_input.distorted_inputs(
      FLAGS.data_dir, batch, FLAGS.num_preprocess_threads,
      FLAGS.min_queue_fraction, num_classes)
  examples_per_step = batch * replicas_per_step
  graph = towers.build_towers(runtime.model_input(images), labels,
                              FLAGS.num_gpus, global_step, num_classes,
                              tower_device, examples_per_step, wrap_optimizer)
  return training.TrainGraph(graph.train_op, graph.loss, examples_per_step,
                             summary_op=graph.summary_op), graph


def build_graph() -> training.TrainGraph:
  """The towers' training graph on this machine's devices."""
  return build_tower_graph()[0]


def main(argv):
  del argv
  training.train_main(build_graph)


if __name__ == '__main__':
  app.run(main)

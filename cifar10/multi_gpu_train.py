"""Trains with one model replica per GPU: `python -m cifar10.multi_gpu_train`.

--num_gpus towers run synchronously on '/gpu:0' .. '/gpu:N-1', fed by one
shared input queue on the CPU, where all variables live. Each step trains on
batch_size x num_gpus examples. Checkpoints carry the same variable names as
cifar10.train's, so cifar10.eval scores them unchanged, and training resumes
as cifar10.train does. On a machine with fewer GPUs, towers run on the CPU.
"""
from absl import app, flags

from cifar10 import flags as cifar10_flags
from cifar10 import towers
from tfclassic import flags as shared_flags

cifar10_flags.define_training_flags()
cifar10_flags.define_tower_flag()
flags.adopt_module_key_flags(cifar10_flags)
flags.adopt_module_key_flags(shared_flags)

FLAGS = flags.FLAGS


def main(argv):
  shared_flags.refuse_arguments(argv)
  towers.report_placement(FLAGS.num_gpus)
  cifar10_flags.train_from_flags(lambda: towers.build_tower_train_graph(
      cifar10_flags.train_input(FLAGS.seed), FLAGS.num_gpus,
      cifar10_flags.model_options(),
      hparams=cifar10_flags.hyperparameters())[0])


if __name__ == '__main__':
  app.run(main)

"""Trains the CIFAR-10 model on one device: `python -m cifar10.train`.

Running it again resumes from the latest checkpoint in --train_dir; --fresh
starts over. Watch it with `tensorboard --logdir /tmp/cifar10_train`.
"""
from absl import app, flags

from cifar10 import flags as cifar10_flags
from cifar10 import train_graph
from tfclassic import flags as shared_flags

cifar10_flags.define_training_flags()
flags.DEFINE_enum('input', 'queue', ['queue', 'feed'],
                  'queue: the tutorial\'s reader threads and shuffling '
                  'queue. feed: batches read with numpy (Cifar10Reader) and '
                  'fed through placeholders, as in the per-example style.')
flags.adopt_module_key_flags(cifar10_flags)
flags.adopt_module_key_flags(shared_flags)

FLAGS = flags.FLAGS


def main(argv):
  shared_flags.refuse_arguments(argv)
  cifar10_flags.train_from_flags(lambda: train_graph.build_train_graph(
      cifar10_flags.train_input(FLAGS.seed), cifar10_flags.model_options(),
      feed=FLAGS.input == 'feed', hparams=cifar10_flags.hyperparameters()))


if __name__ == '__main__':
  app.run(main)

"""Trains the CIFAR-10 model on one device: `python -m cifar10.train`.

Running it again resumes from the latest checkpoint in --train_dir; --fresh
starts over. Watch it with `tensorboard --logdir /tmp/cifar10_train`.
"""
import tensorflow as tf
from absl import app, flags

from cifar10 import data
from cifar10 import flags as cifar10_flags
from cifar10 import train_graph
from tfclassic import errors
from tfclassic import flags as shared_flags
from tfclassic import train_dir
from tfclassic import training

cifar10_flags.define_training_flags()
flags.DEFINE_enum('input', 'queue', ['queue', 'feed'],
                  'queue: the tutorial\'s reader threads and shuffling '
                  'queue. feed: batches read with numpy (Cifar10Reader) and '
                  'fed through placeholders, as in the per-example style.')
flags.adopt_module_key_flags(cifar10_flags)
flags.adopt_module_key_flags(shared_flags)

FLAGS = flags.FLAGS


def main(argv):
  cifar10_flags.refuse_arguments(argv)
  with errors.exit_on_error():
    data.maybe_download_and_extract(FLAGS.data_dir, FLAGS.data_url)
    train_dir.prepare_train_dir(FLAGS.train_dir, FLAGS.fresh)
    with tf.Graph().as_default():
      graph = train_graph.build_train_graph(
          cifar10_flags.train_input(FLAGS.seed), cifar10_flags.model_options(),
          feed=FLAGS.input == 'feed')
      training.run_training(
          graph.train_op, graph.loss, graph.examples_per_step,
          shared_flags.train_config(), feed_fn=graph.feed_fn,
          session_config=cifar10_flags.session_config(),
          nan_advice=cifar10_flags.NAN_ADVICE)


if __name__ == '__main__':
  app.run(main)

"""Trains the CIFAR-10 model on one device: `python -m cifar10.train`.

Running it again resumes from the latest checkpoint in --train_dir; --fresh
starts over. Watch it with `tensorboard --logdir /tmp/cifar10_train`.
"""
import tensorflow as tf
from absl import app, flags

from cifar10 import input as cifar10_input
from cifar10 import model
from cifar10 import runtime
from cifar10 import training

flags.DEFINE_enum('input', 'queue', ['queue', 'feed'],
                  'queue: the tutorial\'s reader threads and shuffling '
                  'queue. feed: batches read with numpy (Cifar10Reader) and '
                  'fed through placeholders, as in the per-example style.')

flags.adopt_module_key_flags(runtime)
flags.adopt_module_key_flags(training)

FLAGS = flags.FLAGS


def build_graph() -> training.TrainGraph:
  """The single-device training graph."""
  global_step = tf.compat.v1.train.get_or_create_global_step()
  num_classes = runtime.num_classes()
  feed_fn = None
  if FLAGS.input == 'queue':
    images, labels = cifar10_input.distorted_inputs(
        FLAGS.data_dir, FLAGS.batch_size, FLAGS.num_preprocess_threads,
        FLAGS.min_queue_fraction, num_classes)
  else:
    reader = cifar10_input.Cifar10Reader(
        cifar10_input.data_files(FLAGS.data_dir), num_classes)
    image_input, labels, images = cifar10_input.distorted_feed_inputs()
    batches = reader.batches(FLAGS.batch_size)

    def feed_fn() -> dict:
      batch_images, batch_labels = next(batches)
      return {image_input: batch_images, labels: batch_labels}
  logits = model.inference(runtime.model_input(images), num_classes)
  loss = model.loss(logits, labels)
  train_op = model.train(loss, global_step, FLAGS.batch_size)
  return training.TrainGraph(train_op, loss, FLAGS.batch_size, feed_fn)


def main(argv):
  del argv
  training.train_main(build_graph)


if __name__ == '__main__':
  app.run(main)

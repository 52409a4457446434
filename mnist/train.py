"""Trains an MNIST tutorial model.

  python -m mnist.train --model=softmax   # MNIST For ML Beginners
  python -m mnist.train --model=deep      # Deep MNIST for Experts
  python -m mnist.train --model=mlp       # Mechanics 101
  python -m mnist.train --model=scratch   # numpy two-layer net

Every model resumes from --train_dir and saves it when Ctrl-C stops the
run; --fresh starts over.
"""
import functools

import tensorflow as tf
from absl import app, flags

from mnist import flags as mnist_flags
from mnist import input as mnist_input
from mnist import model
from mnist import scoring
from mnist import scratch
from mnist import steps
from tfclassic import checkpoints
from tfclassic import errors
from tfclassic import flags as shared_flags
from tfclassic import train_dir
from tfclassic import training

tf1 = tf.compat.v1

mnist_flags.define_data_flags()
mnist_flags.define_train_flags()
shared_flags.define_session_flags()
flags.adopt_module_key_flags(mnist_flags)
flags.adopt_module_key_flags(shared_flags)

FLAGS = flags.FLAGS


def _train_scratch() -> None:
  settings = mnist_flags.tutorial_settings('scratch')
  datasets = mnist_input.read_data_sets(FLAGS.data_dir, validation_size=0,
                                        seed=FLAGS.seed)
  scratch.run(datasets.train, datasets.test, FLAGS.train_dir,
              settings.max_steps, settings.batch_size,
              settings.learning_rate, FLAGS.seed)


def _train_tf(config: training.TrainConfig) -> None:
  name = FLAGS.model
  settings = mnist_flags.tutorial_settings(name)
  session_config = shared_flags.session_config_from_flags(
      inter_op_threads=model.INTER_OP_THREADS[name])
  model.check_resumable(config.train_dir, name)
  datasets = mnist_input.read_data_sets(
      FLAGS.data_dir, validation_size=FLAGS.validation_size, seed=FLAGS.seed)
  with tf.Graph().as_default():
    if FLAGS.seed is not None:
      tf1.set_random_seed(FLAGS.seed)
    # The queue's batches go straight into the model, not fetched to be fed
    # back, which would cost a second Session run a step.
    # With --deterministic, a resumed run reads on from where it stopped.
    start_step = (train_dir.saved_step(config.train_dir)
                  if FLAGS.deterministic else 0)
    inputs = (mnist_input.train_inputs(
        FLAGS.data_dir, settings.batch_size, seed=FLAGS.seed,
        deterministic=FLAGS.deterministic, start_step=start_step)
              if FLAGS.input == 'queue' else None)
    if inputs is None:
      datasets.train.skip_batches(start_step, settings.batch_size)
    graph = model.train_graph(name, model.HPARAMS[name].optimizer,
                              settings.learning_rate, inputs,
                              shared_flags.deterministic_seed())
    shared_flags.warm_start_from_flags()
    restorer = checkpoints.Restorer(
        tf1.trainable_variables() + [graph.global_step])
    next_batch = (None if inputs is not None else functools.partial(
        datasets.train.next_batch, settings.batch_size))
    finished = training.run_training(
        graph.train_op, graph.loss, settings.batch_size, config,
        step_fn=steps.TutorialStep(graph, name, config.log_frequency,
                                   next_batch),
        checkpoint_listeners=([scoring.SplitsEvaluation(graph, datasets)]
                              if name == 'mlp' else []),
        session_config=session_config, nan_advice=' (--learning_rate)')
    if finished:
      score = scoring.score_checkpoint(
          restorer, checkpoints.latest_checkpoint(config.train_dir), graph,
          datasets.test, session_config)
      print('test accuracy %g' % scoring.precision(score.num_examples,
                                                   score.num_correct))


def main(argv):
  shared_flags.refuse_arguments(argv)
  with errors.exit_on_error():
    config = mnist_flags.train_config(
        mnist_flags.tutorial_settings(FLAGS.model).max_steps)
    mnist_input.maybe_download(FLAGS.data_dir, FLAGS.source_url)
    with train_dir.prepare_train_dir(FLAGS.train_dir, FLAGS.fresh):
      if FLAGS.model == 'scratch':
        _train_scratch()
      else:
        _train_tf(config)


if __name__ == '__main__':
  app.run(main)

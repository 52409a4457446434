"""Fits y = W*x + b as in "Getting Started: tf.train API".

  python -m linear.train --max_steps=1000 --log_frequency=100

ends near W = -1, b = 1 with the tutorial's loss. Like every training
binary it resumes from --train_dir (--fresh starts over) and saves a
checkpoint when Ctrl-C stops it.
"""
import tensorflow as tf
from absl import app, flags

from linear import fit
from linear import model
from linear import steps
from tfclassic import checkpoints
from tfclassic import errors
from tfclassic import flags as shared_flags
from tfclassic import train_dir
from tfclassic import training

tf1 = tf.compat.v1

DEFAULT_TRAIN_DIR = '/tmp/linear_train'
MAX_STEPS = 1000
LOG_FREQUENCY = 100
# The tutorial's data is the four points of every step.
EXAMPLES_PER_STEP = len(model.X_TRAIN)

shared_flags.define_train_flags(DEFAULT_TRAIN_DIR, MAX_STEPS,
                                log_frequency=LOG_FREQUENCY,
                                save_summaries_steps=LOG_FREQUENCY)
flags.DEFINE_alias('steps', 'max_steps')
flags.DEFINE_alias('log_every', 'log_frequency')
shared_flags.define_float('learning_rate', 0.01,
                          'GradientDescentOptimizer step.', lower_bound=0,
                          upper_bound=fit.MAX_LEARNING_RATE, positive=True)
flags.adopt_module_key_flags(shared_flags)

FLAGS = flags.FLAGS


def main(argv):
  shared_flags.refuse_arguments(argv)
  with errors.exit_on_error():
    config = shared_flags.train_config()
    with train_dir.prepare_train_dir(config.train_dir, FLAGS.fresh), (
        tf.Graph().as_default()):
      # The tutorial's fit draws nothing at random; a graph extended with
      # random parts is seeded as every other training binary's.
      tf1.set_random_seed(FLAGS.seed)
      graph = model.build(FLAGS.learning_rate)
      restorer = checkpoints.Restorer([graph.W, graph.b])
      if training.run_training(
          graph.train, graph.loss, EXAMPLES_PER_STEP, config,
          step_fn=steps.LoggingStep(graph, config.log_frequency),
          nan_advice=' (--learning_rate)'):
        print(steps.values_line(*steps.restored_values(
            restorer, checkpoints.latest_checkpoint(config.train_dir),
            graph)))


if __name__ == '__main__':
  app.run(main)

"""Fits y = W*x + b as in "Getting Started: tf.train API".

  python -m linear.train --learning_rate=0.01 --steps=1000 --log_every=100

ends near W = -1, b = 1 with loss about 5.7e-11.
"""

from absl import app, flags

from linear import fit

FLAGS = flags.FLAGS

flags.DEFINE_float('learning_rate', 0.01, 'GradientDescentOptimizer step.')
flags.DEFINE_integer('steps', 1000, 'Number of gradient-descent steps.')
flags.DEFINE_integer('log_every', 100,
                     'Print W, b and loss at the start and every N steps.')


def _print(step, W, b, loss):
  print(f'step {step}: W: {W} b: {b} loss: {float(loss):.6g}', flush=True)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  result = fit.fit(FLAGS.learning_rate, FLAGS.steps, FLAGS.log_every,
                   _print)
  print(f'W: {result.W} b: {result.b} loss: {result.loss:.6g}')


if __name__ == '__main__':
  app.run(main)

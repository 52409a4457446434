"""Runs the linear fit at several learning rates and judges each run.

  python -m linear.sweep [--rates=0.001,0.01,0.04] [--max_steps=1000]

Prints the analytic stability bound lr < 2 / lambda_max of the loss Hessian,
then one row per rate: final W, b, loss and a verdict.
"""

from absl import app, flags

from linear import fit, model
from tfclassic import flags as shared_flags

FLAGS = flags.FLAGS

DEFAULT_RATES = ['0.001', '0.005', '0.01', '0.02', '0.03', '0.04']

flags.DEFINE_list('rates', DEFAULT_RATES,
                  'Comma-separated learning rates to try.')
flags.DEFINE_integer('max_steps', 1000, 'Gradient-descent steps per rate.',
                     lower_bound=1, upper_bound=shared_flags.MAX_STEPS)
flags.DEFINE_alias('steps', 'max_steps')
shared_flags.define_float('converged_loss', fit.CONVERGED_LOSS,
                          'A run whose final loss is below this has '
                          'converged.', lower_bound=0,
                          upper_bound=fit.MAX_LOSS, positive=True)
flags.register_validator(
    'rates', lambda rates: all(_is_rate(rate) for rate in rates),
    message='--rates takes learning rates above 0 and at most %g, '
    'comma-separated, e.g. --rates=0.001,0.01' % fit.MAX_LEARNING_RATE)


def _is_rate(text: str) -> bool:
  try:
    return 0 < float(text) <= fit.MAX_LEARNING_RATE
  except ValueError:
    return False


flags.adopt_module_key_flags(shared_flags)


def main(argv):
  shared_flags.refuse_arguments(argv)
  rates = [float(r) for r in FLAGS.rates]
  bound = model.stability_bound()
  print(f'Stability bound: lr < 2/lambda_max = {bound:.4g} '
        f'(lambda_max {2 / bound:.3f} of the loss Hessian)')
  print(f'{"rate":>8} {"W":>13} {"b":>13} {"loss":>13}  verdict')
  for rate, result, judged in fit.sweep(rates, FLAGS.max_steps,
                                        FLAGS.converged_loss):
    side = 'below' if rate < bound else 'above'
    print(f'{rate:>8g} {float(result.W[0]):>13.6g} '
          f'{float(result.b[0]):>13.6g} {result.loss:>13.6g}  '
          f'{judged} ({side} bound)')


if __name__ == '__main__':
  app.run(main)

"""linear: the tf.train API tutorial's fit, its stability bound and sweep."""

import math
import re

import numpy as np
import pytest
import tensorflow as tf

from conftest import interrupt_training, latest_step, read_scalars, run_module
from linear import fit, model

VALUES = r'W: \[([-\d.e]+)\] b: \[([-\d.e]+)\] loss: ([\d.e+-]+)'


def numpy_descent(learning_rate, steps):
  """Reference gradient descent in float64, written from the maths."""
  x, y = np.array(model.X_TRAIN), np.array(model.Y_TRAIN)
  W, b = model.INITIAL_W, model.INITIAL_B
  for _ in range(steps):
    residual = W * x + b - y
    W, b = (W - learning_rate * 2 * np.sum(residual * x),
            b - learning_rate * 2 * np.sum(residual))
  return W, b, float(np.sum((W * x + b - y) ** 2))


@pytest.mark.usefixtures('tf_behaviour')
def test_fit_reproduces_the_tutorial_at_0_01():
  logged = []
  result = fit.fit(0.01, 1000, log_every=100,
                   log=lambda *row: logged.append(row))
  assert result.W.dtype == np.float32
  assert result.W[0] == pytest.approx(-1.0, abs=1e-5)
  assert result.b[0] == pytest.approx(1.0, abs=2e-5)
  # The tutorial prints loss: 5.69997e-11; float32 rounding decides it.
  assert 1e-11 < result.loss < 2e-10
  assert result.initial_loss == pytest.approx(23.66, rel=1e-6)
  assert [step for step, *_ in logged] == list(range(0, 1001, 100))
  W, b, _ = numpy_descent(0.01, 1000)
  assert result.W[0] == pytest.approx(W, abs=1e-5)
  assert result.b[0] == pytest.approx(b, abs=2e-5)
  W100, b100, loss100 = numpy_descent(0.01, 100)
  assert logged[1][1][0] == pytest.approx(W100, rel=1e-4)
  assert logged[1][3] == pytest.approx(loss100, rel=1e-3)


def test_stability_bound_from_the_hessian():
  hessian = model.loss_hessian()
  np.testing.assert_allclose(hessian, [[60.0, 20.0], [20.0, 8.0]])
  # Eigenvalues of 2[[30, 10], [10, 4]] are 34 +- sqrt(1076).
  assert model.stability_bound() == pytest.approx(
      2 / (34 + math.sqrt(1076)), rel=1e-12)
  assert model.stability_bound() == pytest.approx(0.0299, abs=1e-4)


def test_sweep_verdicts_agree_with_the_bound():
  bound = model.stability_bound()
  rates = [0.001, 0.01, 0.029, 0.031, 0.04, 0.1]
  for rate, result, verdict in fit.sweep(rates, 1000):
    if rate < bound:
      assert verdict in ('converged', 'slow'), rate
      assert result.loss < result.initial_loss
    else:
      assert verdict in ('diverging', 'overflow-NaN'), rate
  verdicts = {rate: v for rate, _, v in fit.sweep([0.001, 0.01, 0.04],
                                                    1000)}
  assert verdicts == {0.001: 'slow', 0.01: 'converged',
                      0.04: 'overflow-NaN'}


def test_verdict_classifies_final_values():
  def result(W, b, loss, initial=23.66):
    return fit.FitResult(np.float32([W]), np.float32([b]), loss, initial)

  assert fit.verdict(result(-1, 1, 5e-11)) == 'converged'
  assert fit.verdict(result(-0.8, 0.5, 0.1)) == 'slow'
  assert fit.verdict(result(40, 16, 7e4)) == 'diverging'
  assert fit.verdict(result(np.inf, 1, np.inf)) == 'overflow-NaN'
  assert fit.verdict(result(np.nan, np.nan, np.nan)) == 'overflow-NaN'


def run(module, *args):
  return run_module(module, *args).stdout


@pytest.mark.smoke
def test_train_binary_prints_the_tutorial_lines(tmp_path):
  # The old spellings --steps and --log_every still work.
  out = run('linear.train', '--learning_rate=0.01', '--steps=1000',
            '--log_every=100', f'--train_dir={tmp_path}')
  steps = re.findall(r'^step (\d+): W: \[[-\d.e]+\] b: \[[-\d.e]+\] '
                     r'loss: [\d.e+-]+$', out, re.M)
  assert steps == [str(s) for s in range(0, 1001, 100)]
  assert 'step 0: W: [0.3] b: [-0.3] loss: 23.66' in out
  final = re.search(rf'^{VALUES}$', out, re.M)
  W, b, loss = (float(v) for v in final.groups())
  assert abs(W + 1) < 1e-5 and abs(b - 1) < 2e-5 and loss < 2e-10
  assert latest_step(tmp_path) == 1000
  # Summaries every 100 steps, the default --save_summaries_steps.
  summary_steps = [step for step, _ in read_scalars(tmp_path)['loss']]
  assert len(summary_steps) == 10
  assert set(np.diff(summary_steps)) == {100}


@pytest.mark.smoke
def test_train_ctrl_c_saves_and_a_rerun_resumes_the_descent(tmp_path):
  common = ['--learning_rate=0.01', f'--train_dir={tmp_path}',
            '--log_frequency=100', '--seed=0']
  _, stopped = interrupt_training('linear.train', *common,
                                  '--max_steps=100000000',
                                  train_dir=tmp_path, pattern=r'^step 200: ')
  assert stopped >= 200
  out = run('linear.train', *common, f'--max_steps={stopped + 300}')
  assert f'Resuming from {tmp_path}/model.ckpt-{stopped}.' in out
  assert latest_step(tmp_path) == stopped + 300
  # The weights went on descending from where they were saved.
  W, b, loss = (float(v) for v in re.search(rf'^{VALUES}$', out,
                                            re.M).groups())
  W_np, b_np, loss_np = numpy_descent(0.01, stopped + 300)
  assert W == pytest.approx(W_np, abs=1e-5)
  assert b == pytest.approx(b_np, abs=2e-5)
  assert loss == pytest.approx(loss_np, rel=1e-2, abs=1e-9)


def test_train_stops_on_nan_keeping_the_last_checkpoint(tmp_path):
  result = run_module('linear.train', '--learning_rate=0.04',
                      '--max_steps=1000', f'--train_dir={tmp_path}',
                      '--seed=0', check=False)
  assert result.returncode == 1
  assert 'Traceback' not in result.stderr
  assert (f'Error: Model diverged with loss = NaN. The last checkpoint, '
          f'{tmp_path}/model.ckpt-0, was written before the loss diverged '
          'and is kept.') in result.stderr
  assert tf.train.load_variable(
      str(tmp_path / 'model.ckpt-0'), 'W')[0] == pytest.approx(0.3)


def test_sweep_binary_prints_bound_and_table_without_crashing():
  out = run('linear.sweep')
  assert 'lr < 2/lambda_max = 0.02994' in out
  rows = re.findall(r'^\s+([\d.]+)\s+(\S+)\s+(\S+)\s+(\S+)\s+'
                    r'(converged|slow|diverging|overflow-NaN) '
                    r'\((below|above) bound\)$', out, re.M)
  assert [r[0] for r in rows] == ['0.001', '0.005', '0.01', '0.02',
                                  '0.03', '0.04']
  assert rows[-1][1:5] == ('nan', 'nan', 'nan', 'overflow-NaN')
  assert [r[5] for r in rows] == ['below'] * 4 + ['above'] * 2
  custom = run('linear.sweep', '--rates=0.02,0.035', '--steps=200')
  assert len(re.findall(r'bound\)$', custom, re.M)) == 2

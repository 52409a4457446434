"""mnist.train and mnist.eval run end to end as a user runs them: resume,
Ctrl-C, the NaN guard, the tutorials' log lines, and eval's counts."""
import gzip
import json
import os
import re

import numpy as np
import pytest
import tensorflow as tf

from conftest import (SHARED_DATA, assert_stopped_by_a_full_disk,
                      interrupt_cleanly, read_scalars, run_module,
                      summary_tags, write_idx)

tf1 = tf.compat.v1

REAL_DATA = SHARED_DATA / 'mnist'


def train(data_dir, train_dir, *args, **kwargs):
  return run_module('mnist.train', f'--data_dir={data_dir}',
                    f'--train_dir={train_dir}', *args, **kwargs)


@pytest.mark.smoke
def test_softmax_trains_checkpoints_summarises_and_resumes(mnist_data,
                                                           tmp_path):
  train_dir = tmp_path / 'train'
  common = ['--model=softmax', '--checkpoint_every=10', '--log_every=5',
            '--summary_every=5', '--seed=1', '--validation_size=100']
  first = train(mnist_data, train_dir, '--max_steps=20', *common)
  assert re.findall(r'^step (\d+), training accuracy [\d.]+$',
                    first.stdout, re.M) == ['0', '5', '10', '15']
  assert 'Resuming' not in first.stdout
  assert float(re.search(r'^test accuracy ([\d.]+)$', first.stdout,
                         re.M).group(1)) > 0.5
  assert tf1.train.latest_checkpoint(str(train_dir)).endswith(
      'model.ckpt-20')
  assert (train_dir / 'model.ckpt-10.index').exists()
  tags = summary_tags(train_dir)
  assert {'loss', 'accuracy'} <= tags
  assert any(tag.startswith('input/image') for tag in tags)
  assert len(read_scalars(train_dir)['loss']) == 4

  resumed = train(mnist_data, train_dir, '--max_steps=30', *common)
  assert f'Resuming from {train_dir / "model.ckpt-20"}.' in resumed.stdout
  assert re.findall(r'^step (\d+),', resumed.stdout, re.M) == ['20', '25']
  assert tf1.train.latest_checkpoint(str(train_dir)).endswith(
      'model.ckpt-30')

  done = train(mnist_data, train_dir, '--max_steps=30', *common)
  assert 'already at step 30' in done.stdout

  fresh = train(mnist_data, train_dir, '--max_steps=5', '--fresh', *common)
  assert 'Resuming' not in fresh.stdout
  assert tf1.train.latest_checkpoint(str(train_dir)).endswith(
      'model.ckpt-5')
  assert not (train_dir / 'model.ckpt-30.index').exists()


@pytest.mark.smoke
def test_mlp_logs_like_mechanics_101_and_eval_agrees(mnist_data, tmp_path):
  train_dir = tmp_path / 'train'
  result = train(mnist_data, train_dir, '--model=mlp', '--max_steps=40',
                 '--checkpoint_every=20', '--log_every=10',
                 '--learning_rate=0.5', '--validation_size=100', '--seed=2')
  assert re.findall(r'^Step (\d+): loss = \d+\.\d\d \(\d+\.\d{3} sec\)$',
                    result.stdout, re.M) == ['0', '10', '20', '30']
  evals = re.findall(r'^(\w+) Data Eval:\n  Num examples: (\d+)  Num '
                     r'correct: (\d+)  Precision @ 1: ([\d.]+)$',
                     result.stdout, re.M)
  assert [(name, n) for name, n, _, _ in evals] == [
      ('Training', '200'), ('Validation', '100'), ('Test', '50')] * 2
  test_correct = int(evals[-1][2])

  # eval streams the test files through the queue reader in batches of
  # 20 (20 + 20 + 10) and must count exactly what the feed path counted.
  evaluated = run_module('mnist.eval', '--run_once', '--batch_size=20',
                         f'--data_dir={mnist_data}',
                         f'--checkpoint_dir={train_dir}',
                         f'--eval_dir={tmp_path / "eval"}')
  assert '(step 40, model mlp)' in evaluated.stdout
  assert (f'Num examples: 50  Num correct: {test_correct}  Precision @ 1: '
          f'{test_correct / 50:0.04f}') in evaluated.stdout
  assert read_scalars(tmp_path / 'eval')['Precision @ 1'] == [
      (40, pytest.approx(test_correct / 50))]


def test_deep_with_queue_input_runs(mnist_data, tmp_path):
  result = train(mnist_data, tmp_path, '--model=deep', '--input=queue',
                 '--max_steps=3', '--batch_size=8', '--log_every=2',
                 '--validation_size=0', '--seed=3', '--trace_steps=1')
  assert re.findall(r'^step (\d+), training accuracy', result.stdout,
                    re.M) == ['0', '2']
  assert re.search(r'^test accuracy [\d.]+$', result.stdout, re.M)
  assert (tmp_path / 'model.ckpt-3.index').exists()
  # --trace_steps, through the shared training loop.
  assert sorted(p.name for p in tmp_path.glob('timeline-*')) == [
      'timeline-1.json']
  trace = json.loads((tmp_path / 'timeline-1.json').read_text())
  assert any(e['args']['op'].endswith('Conv2DBackpropFilter')
             for e in trace['traceEvents'] if e['ph'] == 'X')


def test_eval_without_checkpoint_and_bad_file_fail_clearly(mnist_data,
                                                          tmp_path):
  missing = run_module('mnist.eval', '--run_once',
                       f'--data_dir={mnist_data}',
                       f'--checkpoint_dir={tmp_path / "none"}', check=False)
  assert missing.returncode == 1
  assert 'No checkpoint found in' in missing.stderr
  assert 'python -m mnist.train' in missing.stderr
  assert 'Traceback' not in missing.stderr

  bad_dir = tmp_path / 'bad'
  bad_dir.mkdir()
  for name in os.listdir(mnist_data):
    (bad_dir / name).write_bytes((mnist_data / name).read_bytes())
  write_idx(bad_dir / 'train-labels-idx1-ubyte.gz', np.zeros(5), 2049)
  bad = train(bad_dir, tmp_path / 't', '--seed=0', check=False)
  assert bad.returncode == 1
  assert 'holds 300 images but' in bad.stderr
  assert 'train-labels-idx1-ubyte.gz holds 5 labels' in bad.stderr
  assert 'Traceback' not in bad.stderr


def test_another_models_train_dir_is_not_resumed(mnist_data, tmp_path):
  train(mnist_data, tmp_path, '--model=softmax', '--max_steps=2',
        '--validation_size=100', '--seed=0')
  result = train(mnist_data, tmp_path, '--model=mlp', '--max_steps=4',
                 '--validation_size=100', '--seed=0', check=False)
  assert result.returncode == 1
  assert f'{tmp_path} holds a softmax model' in result.stderr
  assert '--fresh' in result.stderr and 'Traceback' not in result.stderr


def test_scratch_writes_curves(mnist_data, tmp_path):
  result = train(mnist_data, tmp_path, '--model=scratch', '--max_steps=12',
                 '--batch_size=100', '--seed=0')
  # 300 training examples / 100 per batch: an epoch every 3 iterations.
  assert re.findall(r'^epoch (\d+) \(iteration (\d+)\)', result.stdout,
                    re.M) == [('0', '0'), ('1', '3'), ('2', '6'),
                              ('3', '9')]
  assert sum(1 for _ in open(tmp_path / 'loss.csv')) == 13
  assert sum(1 for _ in open(tmp_path / 'accuracy.csv')) == 5
  events, = tmp_path.glob('events.out.tfevents.*')
  assert f'Wrote {events}' in result.stdout
  assert (f'Curves: tensorboard --logdir={tmp_path}, or python '
          f'scripts/plot_curves.py {tmp_path} -o curves.png') in result.stdout


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(mnist_data,
                                                           tmp_path):
  common = ['--model=mlp', '--validation_size=100', '--seed=5',
            '--checkpoint_every=5']
  train(mnist_data, tmp_path, '--max_steps=10', *common)
  result = train(mnist_data, tmp_path, '--max_steps=100',
                 '--learning_rate=1e30', *common, check=False)
  assert result.returncode == 1
  assert 'Traceback' not in result.stderr
  kept = tf1.train.latest_checkpoint(str(tmp_path))
  assert (f'Error: Model diverged with loss = NaN. The last checkpoint, '
          f'{kept}, was written before the loss diverged and is kept.'
          ) in result.stderr
  assert '--learning_rate' in result.stderr
  reader = tf.train.load_checkpoint(kept)
  for name, dtype in reader.get_variable_to_dtype_map().items():
    if dtype.is_floating:
      assert np.all(np.isfinite(reader.get_tensor(name))), name


def test_scratch_ctrl_c_saves_weights_and_curves_and_resumes_exactly(
    mnist_data, tmp_path):
  interrupted, straight = tmp_path / 'interrupted', tmp_path / 'straight'
  common = [f'--data_dir={mnist_data}', '--model=scratch', '--seed=6']
  out = interrupt_cleanly('mnist.train', *common,
                          f'--train_dir={interrupted}',
                          '--max_steps=1000000', pattern=r'^epoch 3 ')
  stopped_at = int(re.search(
      rf'^Stopped by SIGINT at iteration (\d+); saved '
      rf'{interrupted}/two_layer_net\.npz\.$', out, re.M).group(1))
  assert stopped_at >= 9
  assert sum(1 for _ in open(interrupted / 'loss.csv')) == stopped_at + 1
  assert len(read_scalars(interrupted)['loss']) == stopped_at

  goal = f'--max_steps={stopped_at + 7}'
  resumed = run_module('mnist.train', *common, f'--train_dir={interrupted}',
                       goal)
  assert (f'Resuming from {interrupted}/two_layer_net.npz at iteration '
          f'{stopped_at}.') in resumed.stdout
  run_module('mnist.train', *common, f'--train_dir={straight}', goal)
  # The minibatch generator was saved too: the same run as one without a
  # stop, to the last bit.
  for name in ('loss.csv', 'accuracy.csv'):
    assert (interrupted / name).read_text() == (straight / name).read_text()
  with np.load(interrupted / 'two_layer_net.npz') as a, \
      np.load(straight / 'two_layer_net.npz') as b:
    for name in ('W1', 'b1', 'W2', 'b2'):
      np.testing.assert_array_equal(a[name], b[name])
  # Each point once in TensorBoard, across the two event files.
  assert [step for step, _ in read_scalars(interrupted)['loss']] == list(
      range(stopped_at + 7))


def _test_set(data_dir):
  """The test images (float [n, 784] in [0, 1]) and labels, read from the
  IDX files here rather than through mnist.input."""
  with gzip.open(data_dir / 't10k-images-idx3-ubyte.gz') as f:
    images = np.frombuffer(f.read()[16:], np.uint8).reshape(-1, 784)
  with gzip.open(data_dir / 't10k-labels-idx1-ubyte.gz') as f:
    labels = np.frombuffer(f.read()[8:], np.uint8)
  return images / 255.0, labels


def test_eval_run_once_counts_what_numpy_counts(mnist_data, mnist_mlp_train_dir,
                                                tmp_path):
  result = run_module('mnist.eval', '--run_once',
                      f'--data_dir={mnist_data}',
                      f'--checkpoint_dir={mnist_mlp_train_dir}',
                      f'--eval_dir={tmp_path}')
  found = int(re.search(r'Num examples: 50  Num correct: (\d+)',
                        result.stdout).group(1))
  checkpoint = tf1.train.latest_checkpoint(str(mnist_mlp_train_dir))
  activations, labels = _test_set(mnist_data)
  for layer in ('hidden1', 'hidden2', 'softmax_linear'):
    activations = (activations @ tf.train.load_variable(
        checkpoint, f'{layer}/weights') + tf.train.load_variable(
            checkpoint, f'{layer}/biases'))
    if layer != 'softmax_linear':
      activations = np.maximum(activations, 0)
  assert found == np.sum(activations.argmax(1) == labels)
  # The tiny run is neither hopeless nor perfect, so the count tells.
  assert 0 < found < 50


def test_eval_loop_scores_checkpoints_until_ctrl_c(mnist_data,
                                                   mnist_mlp_train_dir,
                                                   tmp_path):
  out = interrupt_cleanly(
      'mnist.eval', f'--data_dir={mnist_data}',
      f'--checkpoint_dir={mnist_mlp_train_dir}', f'--eval_dir={tmp_path}',
      '--eval_interval_secs=1', pattern=r'Num examples: 50')
  assert 'Stopped by SIGINT.' in out
  assert out.count('(step 10, model mlp)') == 1


def test_helpfull_documents_every_flag():
  # absl's help flags exit with status 1 by design.
  result = run_module('mnist.train', '--helpfull', check=False)
  assert result.returncode == 1
  for flag in ['model', 'max_steps', 'batch_size', 'learning_rate',
               'train_dir', 'data_dir', 'source_url', 'fresh', 'input',
               'seed', 'checkpoint_every', 'log_frequency',
               'save_summaries_steps', 'save_checkpoint_secs',
               'summary_every', 'log_every', 'validation_size']:
    assert re.search(rf'--\[?(no)?\]?{flag}: \S', result.stdout), flag
  evaluated = run_module('mnist.eval', '--helpfull', check=False)
  for flag in ['checkpoint_dir', 'eval_dir', 'run_once',
               'eval_interval_secs', 'model', 'batch_size', 'data_dir']:
    assert re.search(rf'--\[?(no)?\]?{flag}: \S', evaluated.stdout), flag


@pytest.mark.skipif(not REAL_DATA.is_dir(),
                    reason=f'real MNIST not found at {REAL_DATA}')
def test_softmax_reaches_91_percent_on_real_mnist(tmp_path):
  result = train(REAL_DATA, tmp_path, '--model=softmax', '--seed=0')
  accuracy = float(re.search(r'^test accuracy ([\d.]+)$', result.stdout,
                             re.M).group(1))
  assert accuracy >= 0.91


def test_a_full_disk_while_writing_summaries_is_one_paragraph_then_resumes(
    mnist_data, small_filesystem):
  # 400 KB hold the graph and the first checkpoint, then fill up with
  # summaries (input images at every step) long before a second checkpoint.
  small_filesystem.resize(0.4)
  train_dir = small_filesystem.path / 'train'
  args = ['--model=softmax', '--summary_every=1', '--checkpoint_every=100000',
          '--seed=1', '--validation_size=100']
  full = train(mnist_data, train_dir, '--max_steps=100000', *args,
               check=False)
  assert_stopped_by_a_full_disk(full, train_dir)
  small_filesystem.resize(12)
  resumed = train(mnist_data, train_dir, '--max_steps=10', *args)
  assert 'Resuming from %s/model.ckpt-0.' % train_dir in resumed.stdout
  assert tf1.train.latest_checkpoint(str(train_dir)).endswith('model.ckpt-10')


def test_a_warm_start_takes_the_weights_it_names_at_step_0(mnist_data,
                                                          tmp_path):
  source, target = tmp_path / 'source', tmp_path / 'target'
  common = ['--data_dir=%s' % mnist_data, '--model=mlp', '--batch_size=10',
            '--validation_size=10', '--seed=1']
  run_module('mnist.train', *common, '--train_dir=%s' % source,
             '--max_steps=4')
  result = run_module('mnist.train', *common, '--train_dir=%s' % target,
                      '--max_steps=2', '--warm_start_from=%s' % source,
                      '--warm_start_exclude=^softmax_linear/')
  assert ('Warm start from %s/model.ckpt-4 (its raw weights): 4 of 6 '
          'weights taken' % source) in result.stdout
  for name in ('hidden1/weights', 'hidden2/biases'):
    assert np.array_equal(
        tf.train.load_variable(str(source / 'model.ckpt-4'), name),
        tf.train.load_variable(str(target / 'model.ckpt-0'), name))
  assert not np.array_equal(
      tf.train.load_variable(str(source / 'model.ckpt-4'),
                             'softmax_linear/weights'),
      tf.train.load_variable(str(target / 'model.ckpt-0'),
                             'softmax_linear/weights'))
  assert tf.train.load_variable(str(target / 'model.ckpt-0'),
                                'global_step') == 0

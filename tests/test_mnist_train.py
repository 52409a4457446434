"""mnist.train and mnist.eval run end to end as a user runs them."""

import gzip
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]
REAL_DATA = PROJECT_ROOT.parent / 'shared' / 'data' / 'mnist'


def write_idx(path, array, magic):
  array = np.asarray(array, np.uint8)
  header = magic.to_bytes(4, 'big') + b''.join(
      d.to_bytes(4, 'big') for d in array.shape)
  with gzip.open(path, 'wb') as f:
    f.write(header + array.tobytes())


@pytest.fixture(scope='module')
def tiny_data(tmp_path_factory):
  """Learnable synthetic MNIST: class k lights up image row 2k+4."""
  data_dir = tmp_path_factory.mktemp('mnist_data')
  rng = np.random.RandomState(0)
  for prefix, count in [('train', 300), ('t10k', 50)]:
    labels = rng.randint(0, 10, count)
    images = rng.randint(0, 60, (count, 28, 28))
    images[np.arange(count), 2 * labels + 4, :] = 255
    write_idx(data_dir / f'{prefix}-images-idx3-ubyte.gz', images, 2051)
    write_idx(data_dir / f'{prefix}-labels-idx1-ubyte.gz', labels, 2049)
  return data_dir


def run(module, *args, check=True, env=None):
  result = subprocess.run([sys.executable, '-m', module, *args],
                          cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=300, env=env)
  if check:
    assert result.returncode == 0, (
        f'{module} exited {result.returncode}\n{result.stdout}\n'
        f'{result.stderr}')
  return result


def test_softmax_trains_checkpoints_summarises_and_resumes(tiny_data,
                                                           tmp_path):
  from mnist.quiet_tf import tf

  train_dir = tmp_path / 'train'
  common = [f'--data_dir={tiny_data}', f'--train_dir={train_dir}',
            '--model=softmax', '--checkpoint_every=10', '--log_every=5',
            '--summary_every=5', '--seed=1', '--validation_size=100']
  first = run('mnist.train', '--max_steps=20', *common)
  assert re.findall(r'^step (\d+), training accuracy [\d.]+$',
                    first.stdout, re.M) == ['0', '5', '10', '15']
  assert 'Resuming' not in first.stdout
  assert float(re.search(r'^test accuracy ([\d.]+)$', first.stdout,
                         re.M).group(1)) > 0.5
  assert tf.train.latest_checkpoint(str(train_dir)).endswith(
      'model.ckpt-20')
  assert (train_dir / 'model.ckpt-10.index').exists()
  tags = set()
  for events in train_dir.glob('events.out.tfevents.*'):
    for event in tf.compat.v1.train.summary_iterator(str(events)):
      tags.update(v.tag for v in event.summary.value)
  assert {'loss', 'accuracy'} <= tags
  assert any(tag.startswith('input/image') for tag in tags)

  resumed = run('mnist.train', '--max_steps=30', *common)
  assert f'Resuming from {train_dir / "model.ckpt-20"} at step 20' in \
      resumed.stdout
  assert re.findall(r'^step (\d+),', resumed.stdout, re.M) == ['20', '25']
  assert tf.train.latest_checkpoint(str(train_dir)).endswith(
      'model.ckpt-30')

  done = run('mnist.train', '--max_steps=30', *common)
  assert 'already at step 30' in done.stdout

  fresh = run('mnist.train', '--max_steps=5', '--fresh', *common)
  assert 'Resuming' not in fresh.stdout
  assert tf.train.latest_checkpoint(str(train_dir)).endswith(
      'model.ckpt-5')
  assert not (train_dir / 'model.ckpt-30.index').exists()


def test_mlp_logs_like_mechanics_101_and_eval_agrees(tiny_data, tmp_path):
  train_dir = tmp_path / 'train'
  train = run('mnist.train', '--model=mlp', '--max_steps=40',
              '--checkpoint_every=20', '--log_every=10',
              '--learning_rate=0.5', '--validation_size=100',
              f'--data_dir={tiny_data}', f'--train_dir={train_dir}')
  assert re.findall(r'^Step (\d+): loss = \d+\.\d\d \(\d+\.\d{3} sec\)$',
                    train.stdout, re.M) == ['0', '10', '20', '30']
  evals = re.findall(r'^(\w+) Data Eval:\n  Num examples: (\d+)  Num '
                     r'correct: (\d+)  Precision @ 1: ([\d.]+)$',
                     train.stdout, re.M)
  assert [(name, n) for name, n, _, _ in evals] == [
      ('Training', '200'), ('Validation', '100'), ('Test', '50')] * 2
  test_correct = int(evals[-1][2])

  # eval streams the test files through the queue reader in batches of
  # 20 (20 + 20 + 10) and must count exactly what the feed path counted.
  evaluated = run('mnist.eval', '--run_once', '--batch_size=20',
                  f'--data_dir={tiny_data}', f'--train_dir={train_dir}',
                  f'--eval_dir={tmp_path / "eval"}')
  assert '(step 40, model mlp)' in evaluated.stdout
  assert (f'Num examples: 50  Num correct: {test_correct}  Precision @ 1: '
          f'{test_correct / 50:0.04f}') in evaluated.stdout
  assert list((tmp_path / 'eval').glob('events.out.tfevents.*'))


def test_deep_with_queue_input_runs(tiny_data, tmp_path):
  result = run('mnist.train', '--model=deep', '--input=queue',
               '--max_steps=3', '--batch_size=8', '--log_every=2',
               '--validation_size=0',
               f'--data_dir={tiny_data}', f'--train_dir={tmp_path}')
  assert re.findall(r'^step (\d+), training accuracy', result.stdout,
                    re.M) == ['0', '2']
  assert re.search(r'^test accuracy [\d.]+$', result.stdout, re.M)
  assert (tmp_path / 'model.ckpt-3.index').exists()


def test_eval_without_checkpoint_and_bad_file_fail_clearly(tiny_data,
                                                          tmp_path):
  missing = run('mnist.eval', '--run_once', f'--data_dir={tiny_data}',
                f'--train_dir={tmp_path / "none"}', check=False)
  assert missing.returncode == 1
  assert 'No checkpoint found in' in missing.stderr
  assert 'Traceback' not in missing.stderr

  bad_dir = tmp_path / 'bad'
  bad_dir.mkdir()
  for name in os.listdir(tiny_data):
    (bad_dir / name).write_bytes((tiny_data / name).read_bytes())
  write_idx(bad_dir / 'train-labels-idx1-ubyte.gz', np.zeros(5), 2049)
  bad = run('mnist.train', f'--data_dir={bad_dir}',
            f'--train_dir={tmp_path / "t"}', check=False)
  assert bad.returncode == 1
  assert 'holds 300 images but' in bad.stderr
  assert 'train-labels-idx1-ubyte.gz holds 5 labels' in bad.stderr
  assert 'Traceback' not in bad.stderr


def test_scratch_writes_curves(tiny_data, tmp_path):
  result = run('mnist.train', '--model=scratch', '--max_steps=12',
               '--batch_size=100', '--seed=0', f'--data_dir={tiny_data}',
               f'--train_dir={tmp_path}')
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


def test_helpfull_documents_every_flag():
  # absl's help flags exit with status 1 by design.
  result = run('mnist.train', '--helpfull', check=False)
  assert result.returncode == 1
  for flag in ['model', 'max_steps', 'batch_size', 'learning_rate',
               'train_dir', 'data_dir', 'source_url', 'fresh', 'input',
               'seed', 'checkpoint_every', 'summary_every', 'log_every']:
    assert re.search(rf'--\[?(no)?\]?{flag}: \S', result.stdout), flag


@pytest.mark.skipif(not REAL_DATA.is_dir(),
                    reason=f'real MNIST not found at {REAL_DATA}')
def test_softmax_reaches_91_percent_on_real_mnist(tmp_path):
  result = run('mnist.train', '--model=softmax', '--seed=0',
               f'--data_dir={REAL_DATA}', f'--train_dir={tmp_path}')
  accuracy = float(re.search(r'^test accuracy ([\d.]+)$', result.stdout,
                             re.M).group(1))
  assert accuracy >= 0.91

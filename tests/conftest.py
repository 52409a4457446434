"""Shared fixtures: tiny CIFAR-10 record files and running the binaries."""
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import cifar10  # noqa: F401  (quiets TensorFlow before anything imports it)

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / 'shared' / 'data'

RECORD_BYTES = 3073
# Colours that make the synthetic classes learnable: they survive random
# brightness, per-channel contrast and standardization (channel differences).
CLASS_COLOURS = np.array([[200, 40, 40], [40, 200, 40], [40, 40, 200],
                          [200, 200, 40]], np.float64)


def write_records(path, images: np.ndarray, labels) -> None:
  """Writes CIFAR-10 binary records: label byte, then R, G, B planes."""
  images = np.asarray(images, np.uint8)
  records = np.empty((len(images), RECORD_BYTES), np.uint8)
  records[:, 0] = labels
  records[:, 1:] = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
  records.tofile(str(path))


def learnable_examples(count: int, seed: int):
  """uint8 images [count, 32, 32, 3] whose colour gives the label (0-3)."""
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, len(CLASS_COLOURS), count)
  noise = rng.normal(0, 40, (count, 32, 32, 3))
  images = np.clip(CLASS_COLOURS[labels][:, None, None, :] + noise, 0, 255)
  return images.astype(np.uint8), labels.astype(np.uint8)


def write_dataset(root: pathlib.Path, per_file: int = 40,
                  test_count: int = 60) -> pathlib.Path:
  """A complete tiny dataset in root/cifar-10-batches-bin; returns root."""
  batches = root / 'cifar-10-batches-bin'
  batches.mkdir(parents=True, exist_ok=True)
  for i in range(1, 6):
    write_records(batches / ('data_batch_%d.bin' % i),
                  *learnable_examples(per_file, seed=i))
  write_records(batches / 'test_batch.bin',
                *learnable_examples(test_count, seed=100))
  (batches / 'batches.meta.txt').write_text(
      'airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n')
  return root


@pytest.fixture(scope='session')
def cifar_data(tmp_path_factory) -> pathlib.Path:
  """A tiny synthetic CIFAR-10 data_dir shared by the tests (read only)."""
  return write_dataset(tmp_path_factory.mktemp('cifar10_data'))


# Flags that make the binaries quick on the tiny dataset. (With batches of 16
# the tutorial's learning rate of 0.1 diverges on it after about 40 steps.)
QUICK_TRAIN_FLAGS = ['--batch_size=32', '--min_queue_fraction=0.002',
                     '--log_frequency=5']


def run_module(module: str, *args: str, timeout: float = 180,
               check: bool = True) -> subprocess.CompletedProcess:
  """Runs `python -m module args` from the project root, as a user would."""
  env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT))
  result = subprocess.run([sys.executable, '-m', module, *args],
                          cwd=PROJECT_ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)
  if check and result.returncode != 0:
    raise AssertionError('%s exited %d\nstdout:\n%s\nstderr:\n%s' % (
        module, result.returncode, result.stdout, result.stderr))
  return result

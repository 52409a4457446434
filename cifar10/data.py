"""Where the CIFAR-10 files are, whether they are sound, and fetching them."""
import os
import re
from typing import Sequence

import numpy as np

from cifar10 import records
from tfclassic import download
from tfclassic.errors import DataError

DATA_URL = 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz'
DATA_MD5 = 'c32a1d4ab5d03f1284b67883e8d87530'


def find_batches_dir(data_dir: str) -> str:
  """Where the .bin files are: `data_dir/cifar-10-batches-bin`, or data_dir.

  The tutorial keeps the extracted folder inside data_dir; users who point
  --data_dir at that folder itself are understood too, also when it holds
  only batches.meta.txt (a model's class names shipped without its data).
  """
  if any(os.path.isfile(os.path.join(data_dir, name))
         for name in (records.TRAIN_FILES[0], records.TEST_FILES[0],
                      records.META_FILE)):
    return data_dir
  return os.path.join(data_dir, records.BATCHES_DIR)


def data_files(data_dir: str, eval_data: bool = False) -> list[str]:
  """The record files for training (eval_data False) or testing."""
  names = records.TEST_FILES if eval_data else records.TRAIN_FILES
  batches_dir = find_batches_dir(data_dir)
  return [os.path.join(batches_dir, name) for name in names]


def check_data_files(filenames: Sequence[str],
                     num_classes: int = records.NUM_CLASSES) -> int:
  """Checks that the files hold whole CIFAR-10 records with valid labels.

  The TF readers would otherwise fail late and far from the cause (a bad file
  shows up as "RandomShuffleQueue ... insufficient elements", or a hang).

  Args:
    filenames: the record files.
    num_classes: labels must be below this.

  Returns:
    The total number of records in the files.

  Raises:
    DataError: naming the first bad file and what is wrong with it.
  """
  return sum(len(records.map_records(f, num_classes)) for f in filenames)


def read_class_names(data_dir: str) -> list[str]:
  """Class names from batches.meta.txt, one per line; numbers if absent.

  The number of names is the number of classes: datasets of your own (see
  scripts/images_to_cifar10.py) may have other than 10.
  """
  path = os.path.join(find_batches_dir(data_dir), records.META_FILE)
  if not os.path.isfile(path):
    return [str(i) for i in range(records.NUM_CLASSES)]
  with open(path) as f:
    return [line.strip() for line in f if line.strip()]


def read_record(spec: str, data_dir: str,
                num_classes: int) -> tuple[np.ndarray, int]:
  """The image and label of a record given as FILE:INDEX.

  Args:
    spec: "FILE:INDEX"; FILE is a path, or a file name in data_dir's batches.
    data_dir: as --data_dir.
    num_classes: labels must be below this.

  Returns:
    (uint8 [32, 32, 3], label).

  Raises:
    ValueError: spec is not FILE:INDEX.
    IndexError: no such record.
    DataError: the file is missing or not CIFAR-10 records.
  """
  filename, _, index = spec.rpartition(':')
  if not filename or not re.fullmatch('-?[0-9]+', index):
    raise ValueError('expected FILE:INDEX, e.g. test_batch.bin:0')
  if not os.path.exists(filename):
    in_data_dir = os.path.join(find_batches_dir(data_dir), filename)
    filename = in_data_dir if os.path.exists(in_data_dir) else filename
  return records.Cifar10Reader([filename], num_classes)[int(index)]


def maybe_download_and_extract(data_dir: str, url: str = DATA_URL,
                               md5: str = DATA_MD5) -> str:
  """Makes sure the CIFAR-10 binary files are in data_dir.

  Work already done is skipped: files in place mean no network at all, and a
  verified archive is not downloaded again.

  Args:
    data_dir: where the data lives (or should).
    url: the archive cifar-10-binary.tar.gz.
    md5: its checksum.

  Returns:
    The folder holding the .bin files.

  Raises:
    DataError: with one paragraph on what is missing and how to provide it,
      if the files are absent and cannot be fetched.
  """
  expected = list(records.TRAIN_FILES + records.TEST_FILES)
  batches_dir = find_batches_dir(data_dir)
  if all(os.path.isfile(os.path.join(batches_dir, f)) for f in expected):
    return batches_dir
  download.make_data_dir(data_dir)
  archive = os.path.join(data_dir, os.path.basename(url))
  try:
    if not (os.path.isfile(archive) and download.md5sum(archive) == md5):
      download.download(url, archive, md5)
    download.safe_extract(archive, data_dir)
  except (OSError, DataError) as e:
    raise DataError(
        'The CIFAR-10 data is not in %s: expected the binary version\'s files '
        '%s in %s (or directly in --data_dir). Fetching %s failed: %s. '
        'Download cifar-10-binary.tar.gz on a machine with internet access '
        'and extract it into --data_dir (it creates %s/), or pass '
        '--data_dir=FOLDER where the .bin files already are.'
        % (data_dir, ', '.join(expected),
           os.path.join(data_dir, records.BATCHES_DIR), url, e,
           records.BATCHES_DIR)) from e
  batches_dir = find_batches_dir(data_dir)
  missing = [f for f in expected
             if not os.path.isfile(os.path.join(batches_dir, f))]
  if missing:
    raise DataError('%s did not provide %s in %s.'
                    % (archive, ', '.join(missing), batches_dir))
  return batches_dir

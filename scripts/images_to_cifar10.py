#!/usr/bin/env python3
"""Turns a folder of images, one subfolder per class, into CIFAR-10 binaries.

  python scripts/images_to_cifar10.py ~/pictures /tmp/my_data
  python -m cifar10.train --data_dir=/tmp/my_data
  python -m cifar10.eval --data_dir=/tmp/my_data --run_once
  python -m cifar10.predict --data_dir=/tmp/my_data photo.jpg

SRC_DIR/<class>/... holds each class's images, in any format Pillow reads and
of any size (subfolders of a class folder count as that class). Classes are
the class folders' names in sorted order: label 0 is the first, and
batches.meta.txt lists them, so the cifar10 binaries use their number.

Images are converted to RGB (alpha dropped, EXIF orientation ignored, as
cifar10.predict does) and resized to 32x32 as cifar10.predict resizes. Of
each class, the --test_percent of its images that come first in the order of
a hash of their paths go to test_batch.bin, so the split is the same on every
run and stays mostly the same when images are added; the training images are
shuffled (with a fixed seed) and spread over data_batch_1.bin ..
data_batch_5.bin, the five files the training input reads. Files that cannot
be read as images are skipped and listed with the reason.
"""
import argparse
import hashlib
import os
import sys
from typing import Optional, Sequence

import numpy as np

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, PROJECT_ROOT)

from cifar10 import records  # noqa: E402
from cifar10 import serving  # noqa: E402
from tfclassic import flags as shared_flags  # noqa: E402
from tfclassic import paths  # noqa: E402

# Each class keeps at least one test and one training image in a thousand.
MIN_TEST_PERCENT = 0.1
MAX_TEST_PERCENT = 99.9

OUTPUT_FILES = records.TRAIN_FILES + records.TEST_FILES + (records.META_FILE,)
MAX_CLASSES = 256  # The label is one byte.
SHUFFLE_SEED = 0

# An image, uint8 [32, 32, 3], and its label.
Example = tuple[np.ndarray, int]


def _import_pillow():
  try:
    from PIL import Image
  except ImportError:
    sys.exit("Error: reading images needs Pillow: pip install "
             "'tfclassic[images]' (or pip install pillow).")
  return Image


def find_images(src_dir: str) -> tuple[list[str], list[list[str]],
                                       list[tuple[str, str]]]:
  """The classes and their files under src_dir.

  Returns:
    class_names: the class folders' names, sorted.
    files: for each class, its files' paths relative to src_dir, sorted.
    skipped: (path, reason) of what is in src_dir but not a class folder.
  """
  class_names, skipped = [], []
  for name in sorted(os.listdir(src_dir)):
    if not os.path.isdir(os.path.join(src_dir, name)):
      skipped.append((name, 'not in a class folder'))
    elif name.startswith('.'):
      # Such as .git or .ipynb_checkpoints: not meant as a class.
      skipped.append((name, 'hidden folder, not a class'))
    else:
      class_names.append(name)
  files = []
  for name in class_names:
    class_files = []
    for folder, subfolders, filenames in os.walk(os.path.join(src_dir, name)):
      subfolders.sort()
      class_files += [os.path.relpath(os.path.join(folder, f), src_dir)
                      for f in sorted(filenames)]
    files.append(class_files)
  return class_names, files, skipped


def read_image(path: str) -> np.ndarray:
  """An image file as uint8 [32, 32, 3], resized as cifar10.predict does.

  Raises:
    ValueError: with the reason, if Pillow cannot read it.
  """
  image_module = _import_pillow()
  try:
    with image_module.open(path) as image:
      pixels = np.asarray(image.convert('RGB'))
  except image_module.UnidentifiedImageError:
    raise ValueError('not an image Pillow can read') from None
  except (OSError, SyntaxError, ValueError,
          image_module.DecompressionBombError) as e:
    raise ValueError('corrupt or unreadable image: %s' % e) from None
  if pixels.shape[:2] == tuple(serving.RECORD_SHAPE[:2]):
    return pixels
  return serving.resize_image(pixels).numpy()


def split_order(relative_path: str) -> str:
  """The key that orders a class's files for the train/test split."""
  return hashlib.sha256(relative_path.encode()).hexdigest()


def split(src_dir: str, files: Sequence[Sequence[str]], test_percent: float
          ) -> tuple[list[Example], list[Example], list[tuple[str, str]]]:
  """Reads each class's images and splits them into training and test.

  Args:
    src_dir: the folder of class folders.
    files: for each class, its files relative to src_dir.
    test_percent: the share of each class for testing.

  Returns:
    train: (image, label) examples, in a fixed random order.
    test: (image, label) examples, by class.
    skipped: (path, reason) of the files that are no readable images.
  """
  train, test, skipped = [], [], []
  for label, class_files in enumerate(files):
    readable = []
    for relative in sorted(class_files, key=split_order):
      try:
        readable.append((read_image(os.path.join(src_dir, relative)), label))
      except ValueError as e:
        skipped.append((relative, str(e)))
    num_test = round(len(readable) * test_percent / 100)
    test += readable[:num_test]
    train += readable[num_test:]
  order = np.random.default_rng(SHUFFLE_SEED).permutation(len(train))
  return [train[i] for i in order], test, skipped


def write_batches(out_dir: str, class_names: Sequence[str],
                  train: Sequence[Example], test: Sequence[Example]) -> None:
  """Writes the five training files, the test file and batches.meta.txt."""
  os.makedirs(out_dir, exist_ok=True)
  parts = np.array_split(np.arange(len(train)), len(records.TRAIN_FILES))
  outputs = [(name, [train[i] for i in part])
             for name, part in zip(records.TRAIN_FILES, parts)]
  outputs.append((records.TEST_FILES[0], test))
  for name, examples in outputs:
    records.write_records(os.path.join(out_dir, name),
                          np.stack([image for image, _ in examples]),
                          [label for _, label in examples])
  with open(os.path.join(out_dir, records.META_FILE), 'w') as f:
    f.write(''.join(name + '\n' for name in class_names))


def convert(src_dir: str, out_dir: str, test_percent: float,
            overwrite: bool) -> None:
  """Converts src_dir's class folders to CIFAR-10 binaries in out_dir.

  Prints what was written and what was skipped.

  Raises:
    SystemExit: with a message, if there is nothing usable to write or
      out_dir already holds a dataset and overwrite is False.
  """
  _import_pillow()
  if not os.path.isdir(src_dir):
    sys.exit('Error: %s is not a folder.' % src_dir)
  existing = [f for f in OUTPUT_FILES
              if os.path.exists(os.path.join(out_dir, f))]
  if existing and not overwrite:
    sys.exit('Error: %s already holds %s: pass --overwrite to replace them.'
             % (out_dir, ', '.join(existing)))
  class_names, files, skipped = find_images(src_dir)
  if not 2 <= len(class_names) <= MAX_CLASSES:
    sys.exit('Error: %s has %d class folders; a classifier needs 2 to %d.'
             % (src_dir, len(class_names), MAX_CLASSES))
  train, test, unreadable = split(src_dir, files, test_percent)
  skipped += unreadable
  if len(train) < len(records.TRAIN_FILES) or not test:
    sys.exit('Error: %d training and %d test images: need at least %d '
             'training images (one per data_batch file) and one test image.'
             % (len(train), len(test), len(records.TRAIN_FILES)))
  write_batches(out_dir, class_names, train, test)
  print('Wrote %d training images (data_batch_1..%d.bin) and %d test images '
        '(test_batch.bin) of %d classes to %s:'
        % (len(train), len(records.TRAIN_FILES), len(test),
           len(class_names), out_dir))
  train_counts = np.bincount([label for _, label in train],
                             minlength=len(class_names))
  test_counts = np.bincount([label for _, label in test],
                            minlength=len(class_names))
  for label, name in enumerate(class_names):
    print('  %3d %s: %d train, %d test'
          % (label, name, train_counts[label], test_counts[label]))
  if skipped:
    print('Skipped %d files:' % len(skipped))
    for path, reason in sorted(skipped):
      print('  %s: %s' % (os.path.join(src_dir, path), reason))


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('src_dir', help='folder of class folders of images',
                      type=shared_flags.argparse_path(paths.INPUT_DIR))
  parser.add_argument('out_dir', help='where the .bin files go (use it as '
                      '--data_dir)',
                      type=shared_flags.argparse_path(paths.OUTPUT_DIR))
  parser.add_argument('--test_percent', default=100 / 6,
                      type=shared_flags.argparse_number(
                          float, MIN_TEST_PERCENT, MAX_TEST_PERCENT),
                      help='share of each class for test_batch.bin, in '
                      'percent (default: 16.7, as CIFAR-10\'s 10,000 of '
                      '60,000)')
  parser.add_argument('--overwrite', action='store_true',
                      help='replace a dataset already in out_dir')
  return parser


def main(argv: Optional[Sequence[str]] = None) -> None:
  args = build_parser().parse_args(argv)
  convert(args.src_dir, args.out_dir, args.test_percent, args.overwrite)


if __name__ == '__main__':
  main()

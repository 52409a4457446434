"""scripts/images_to_cifar10.py: image folders to CIFAR-10 binaries that the
cifar10 binaries train, evaluate and predict on."""
import collections
import contextlib
import io
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from cifar10 import data
from cifar10 import records
from cifar10 import serving
from conftest import (CIFAR10_SEED_FLAG, PROJECT_ROOT, QUICK_TRAIN_FLAGS,
                      assert_eval_matches_numpy, checkpoint_steps,
                      learnable_examples, run_module)

sys.path.insert(0, str(PROJECT_ROOT / 'scripts'))
import images_to_cifar10  # noqa: E402

SCRIPT = PROJECT_ROOT / 'scripts' / 'images_to_cifar10.py'
CLASSES = ['blue', 'green', 'red']  # Colours 2, 1, 0 of learnable_examples.
PER_CLASS = 12


def convert(*args: str) -> str:
  """Runs the script's main() with args; returns what it printed."""
  printed = io.StringIO()
  with contextlib.redirect_stdout(printed):
    images_to_cifar10.main([str(a) for a in args])
  return printed.getvalue()


@pytest.fixture(scope='module')
def source(tmp_path_factory):
  """Class folders of 32x32 PNGs, plus files to skip and a JPEG to resize.

  Returns:
    The folder, and {(label, image bytes): count} of the images it should
    give, the JPEG resized as predict resizes.
  """
  src = tmp_path_factory.mktemp('source')
  images, colours = learnable_examples(200, seed=4)
  want = collections.Counter()
  for label, name in enumerate(CLASSES):
    folder = src / name
    (folder / 'more').mkdir(parents=True)
    for i, image in enumerate(images[colours == 2 - label][:PER_CLASS]):
      # Every other one in a subfolder, which belongs to the class too.
      Image.fromarray(image).save(
          (folder / 'more' if i % 2 else folder) / ('%02d.png' % i))
      want[label, image.tobytes()] += 1
  large = np.random.default_rng(9).integers(0, 256, (50, 40, 3), np.uint8)
  Image.fromarray(large).save(src / 'red' / 'large.jpg')
  with Image.open(src / 'red' / 'large.jpg') as jpeg:
    want[2, serving.resize_image(np.asarray(jpeg)).numpy().tobytes()] += 1
  (src / 'green' / 'notes.txt').write_text('not an image')
  whole = (src / 'blue' / '00.png').read_bytes()
  (src / 'blue' / 'truncated.png').write_bytes(whole[:len(whole) // 2])
  (src / 'README').write_text('not in a class folder')
  (src / '.ipynb_checkpoints').mkdir()
  (src / '.ipynb_checkpoints' / 'copy.png').write_bytes(whole)
  return src, want


@pytest.fixture(scope='module')
def converted(source, tmp_path_factory):
  """The output folder and the report of converting source."""
  src, _ = source
  out = tmp_path_factory.mktemp('converted')
  return out, convert(src, out)


def read_records(data_dir, eval_data):
  return records.Cifar10Reader(
      data.data_files(str(data_dir), eval_data), len(CLASSES))


def test_pixels_and_labels_round_trip_exactly(source, converted):
  _, want = source
  out, _ = converted
  got = collections.Counter()
  for eval_data in (False, True):
    reader = read_records(out, eval_data)
    got.update((label, image.tobytes())
               for image, label in (reader[i] for i in range(len(reader))))
  assert got == want
  assert data.read_class_names(str(out)) == CLASSES


def test_report_lists_the_split_and_what_was_skipped(source, converted):
  src, _ = source
  out, report = converted
  # Of 12 or 13 images per class, round(1/6 of them) = 2 are for testing.
  lines = report.splitlines()
  assert lines[:5] == [
      'Wrote 31 training images (data_batch_1..5.bin) and 6 test images '
      '(test_batch.bin) of 3 classes to %s:' % out,
      '    0 blue: 10 train, 2 test',
      '    1 green: 10 train, 2 test',
      '    2 red: 11 train, 2 test',
      'Skipped 4 files:']
  assert lines[5:7] == [
      '  %s/.ipynb_checkpoints: hidden folder, not a class' % src,
      '  %s/README: not in a class folder' % src]
  assert lines[7].startswith('  %s/blue/truncated.png: corrupt or unreadable '
                             'image: image file is truncated' % src)
  assert lines[8:] == ['  %s/green/notes.txt: not an image Pillow can read'
                       % src]
  _, test_labels = read_records(out, eval_data=True).batch(range(6))
  assert sorted(test_labels) == [0, 0, 1, 1, 2, 2]
  assert [(out / name).stat().st_size // records.RECORD_BYTES
          for name in records.TRAIN_FILES] == [7, 6, 6, 6, 6]


def test_the_split_is_deterministic(source, converted, tmp_path):
  src, _ = source
  out, _ = converted
  convert(src, tmp_path)
  for name in images_to_cifar10.OUTPUT_FILES:
    assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), name


def test_refuses_to_overwrite_a_dataset(source, converted):
  src, _ = source
  out, _ = converted
  with pytest.raises(SystemExit, match=re.escape(
      'Error: %s already holds data_batch_1.bin' % out)):
    convert(src, out)


def test_too_few_images_or_classes_fail_clearly(source, tmp_path):
  src, _ = source
  few = tmp_path / 'few'
  for name in CLASSES[:2]:
    (few / name).mkdir(parents=True)
    for png in ('00.png', '02.png'):
      (few / name / png).write_bytes((src / name / png).read_bytes())
  with pytest.raises(SystemExit, match=re.escape(
      'Error: 4 training and 0 test images: need at least 5 training images '
      '(one per data_batch file) and one test image.')):
    convert(few, tmp_path / 'out')
  with pytest.raises(SystemExit, match='has 1 class folders'):
    convert(src / 'red', tmp_path / 'out')


def test_train_eval_and_predict_use_the_three_classes(source, converted,
                                                      tmp_path):
  src, _ = source
  out, _ = converted
  run_module('cifar10.train', '--data_dir=%s' % out,
             '--train_dir=%s' % tmp_path, '--max_steps=6',
             *QUICK_TRAIN_FLAGS, CIFAR10_SEED_FLAG)
  assert checkpoint_steps(tmp_path)[-1] == 6
  # The three-class model's checkpoint, scored as numpy scores it, on all 6
  # test images.
  result = assert_eval_matches_numpy(out, tmp_path, 6, '--num_examples=10000',
                                     '--batch_size=4')
  assert 'The test data holds 6 examples; scoring all of them.' in (
      result.stdout)
  _, label = read_records(out, eval_data=True)[0]
  result = run_module('cifar10.predict', '--data_dir=%s' % out,
                      '--checkpoint_dir=%s' % tmp_path,
                      '--record=test_batch.bin:0', str(src / 'red' / '00.png'))
  lines = result.stdout.splitlines()
  assert [line.split(': ')[0] for line in lines] == [
      str(src / 'red' / '00.png'), 'test_batch.bin:0 (label %s)'
      % CLASSES[label]]
  for line in lines:
    classes = dict(item.rsplit(' ', 1)
                   for item in line.split(': ')[1].split(', '))
    assert sorted(classes) == CLASSES
    assert sum(float(p) for p in classes.values()) == pytest.approx(
        1, abs=2e-4)


def test_without_pillow_says_how_to_install_it(source, tmp_path):
  """Run from another folder, as a user would, with PIL made unimportable."""
  src, _ = source
  hide_pillow = ("import runpy, sys; sys.modules['PIL'] = None; "
                 "sys.argv = sys.argv[1:]; "
                 "runpy.run_path(sys.argv[0], run_name='__main__')")
  result = subprocess.run(
      [sys.executable, '-c', hide_pillow, str(SCRIPT), str(src),
       str(tmp_path / 'out')], cwd=tmp_path, capture_output=True, text=True,
      timeout=120)
  assert result.returncode == 1
  assert result.stderr.strip() == (
      "Error: reading images needs Pillow: pip install 'tfclassic[images]' "
      "(or pip install pillow).")
  assert not (tmp_path / 'out').exists()

"""scripts/plot_curves.py: curves and CSV from the event files."""
import contextlib
import csv
import io
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from conftest import PROJECT_ROOT, read_scalars
from mnist import two_layer_net

sys.path.insert(0, str(PROJECT_ROOT / 'scripts'))
import plot_curves  # noqa: E402

tf1 = tf.compat.v1

PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


@pytest.fixture(scope='module')
def run_dirs(short_run):
  return short_run.train_dir, short_run.eval_dir


def plot(*args) -> str:
  """Runs the script's main() with args; returns what it printed."""
  printed = io.StringIO()
  with contextlib.redirect_stdout(printed):
    plot_curves.main([str(a) for a in args])
  return printed.getvalue()


def logged(logdir, tags):
  """(tag, step, value) of the tags' scalars, as the event files hold them."""
  return [(tag, step, value) for tag, points in read_scalars(logdir).items()
          if tag in tags for step, value in points]


def assert_valid_png(path):
  data = path.read_bytes()
  assert data.startswith(PNG_SIGNATURE)
  with Image.open(path) as image:
    image.load()
    assert image.width > 100 and image.height > 100


def test_csv_holds_the_logged_values_and_the_png_is_drawn(run_dirs,
                                                          tmp_path):
  train_dir, eval_dir = run_dirs
  printed = plot(train_dir, eval_dir, '-o', tmp_path / 'curves.png', '--csv',
                 tmp_path / 'curves.csv')
  assert printed.splitlines() == ['Wrote %s' % (tmp_path / 'curves.csv'),
                                  'Wrote %s' % (tmp_path / 'curves.png')]
  assert_valid_png(tmp_path / 'curves.png')
  with open(tmp_path / 'curves.csv', newline='') as f:
    rows = list(csv.reader(f))
  assert rows[0] == ['run', 'tag', 'step', 'value']
  got = sorted((run, tag, int(step), float(value))
               for run, tag, step, value in rows[1:])
  want = sorted(
      [('train',) + row for row in logged(
          train_dir, {'total_loss', 'total_loss_raw', 'learning_rate'})] +
      [('eval',) + row for row in logged(eval_dir, {'Precision @ 1'})])
  assert got == want
  # Summaries every 3 steps of 12, and one eval of the last checkpoint.
  assert sorted({step for run, _, step, _ in got if run == 'train'}) == [
      1, 4, 7, 10]
  assert [step for run, _, step, _ in got if run == 'eval'] == [12]


def test_mnist_scratch_curves_are_drawn_by_the_same_helper(tmp_path):
  history = two_layer_net.History(losses=[2.3, 1.5, 0.9, 0.7],
                                  epochs=[(0, 0.1, 0.12), (2, 0.8, 0.79)])
  two_layer_net.write_curves(history, str(tmp_path))
  plot(tmp_path, '-o', tmp_path / 'curves.png', '--csv',
       tmp_path / 'curves.csv')
  assert_valid_png(tmp_path / 'curves.png')
  with open(tmp_path / 'curves.csv', newline='') as f:
    rows = [(tag, int(step), float(value))
            for _, tag, step, value in list(csv.reader(f))[1:]]
  assert sorted(rows) == sorted(
      [('loss', i, float(np.float32(v)))
       for i, v in enumerate(history.losses)] +
      [(tag, i, float(np.float32(v))) for i, train, test in history.epochs
       for tag, v in (('accuracy/train', train), ('accuracy/test', test))])


def test_plot_curves_draws_plain_series(tmp_path):
  steps = np.arange(0, 500, 10)
  plot_curves.plot_curves(
      {'loss': {'train': (steps, np.exp(-steps / 100)),
                'validation': (steps[::5], np.exp(-steps[::5] / 90))},
       'accuracy': {'validation': ([0, 250, 490], [0.1, 0.8, 0.9])}},
      str(tmp_path / 'plain.png'), title='two-layer net')
  assert_valid_png(tmp_path / 'plain.png')


def test_later_values_of_a_step_replace_earlier_ones(tmp_path):
  """As after a resume from a checkpoint older than the last summaries."""
  for suffix, wall_time, values in (('.first', 100.0, {5: 2.0, 6: 1.5}),
                                    ('.resumed', 200.0, {6: 1.75, 7: 1.25})):
    with tf.Graph().as_default():
      writer = tf1.summary.FileWriter(str(tmp_path), filename_suffix=suffix)
      for step, value in values.items():
        writer.add_event(tf1.Event(
            wall_time=wall_time, step=step, summary=tf1.Summary(value=[
                tf1.Summary.Value(tag='total_loss', simple_value=value)])))
      writer.close()
  assert plot_curves.read_scalars(str(tmp_path)) == {
      'total_loss': ([5, 6, 7], [2.0, 1.75, 1.25])}


def test_without_matplotlib_says_how_to_install_it_and_csv_still_works(
    run_dirs, tmp_path, monkeypatch):
  train_dir, _ = run_dirs
  monkeypatch.setitem(sys.modules, 'matplotlib', None)
  with pytest.raises(SystemExit) as exit_info:
    plot(train_dir, '-o', tmp_path / 'curves.png')
  assert exit_info.value.code == (
      "Error: drawing needs matplotlib: pip install 'tfclassic[plot]' (or pip "
      "install matplotlib). --csv works without it.")
  assert plot(train_dir, '--csv', tmp_path / 'only.csv') == (
      'Wrote %s\n' % (tmp_path / 'only.csv'))
  assert not (tmp_path / 'curves.png').exists()


def test_a_folder_without_the_scalars_fails_clearly(tmp_path):
  with pytest.raises(SystemExit) as exit_info:
    plot(tmp_path)
  assert exit_info.value.code == (
      'Error: no event file in %s has the scalars total_loss, total_loss_raw, '
      'loss, learning_rate, accuracy, accuracy/train, accuracy/test.'
      % tmp_path)

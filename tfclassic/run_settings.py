"""The settings (hyperparameters) a training run used, kept in its
train_dir and shown in TensorBoard.

record() writes them to train_dir/settings.json and says which differ from
those the run before recorded there, so a resumed run with another learning
rate does not pass unnoticed. SettingsSummaryHook writes them once as a
table to TensorBoard's Text tab, at the step the run starts from.
"""
import json
import os
from typing import Mapping, Union

import tensorflow as tf
from tensorboard.summary import v1 as tensorboard_summary

tf1 = tf.compat.v1

SETTINGS_FILE = 'settings.json'
SUMMARY_TAG = 'settings'

Value = Union[str, int, float, bool]


def record(train_dir: str, settings: Mapping[str, Value],
           log_prefix: str = '') -> list[str]:
  """Writes settings to train_dir/settings.json, replacing the previous
  run's, and prints one line naming those that changed.

  Args:
    train_dir: the run's train_dir (it exists).
    settings: flag name -> value.
    log_prefix: put before the line.

  Returns:
    The names whose value differs from the previous run's record.
  """
  path = os.path.join(train_dir, SETTINGS_FILE)
  previous = {}
  if os.path.exists(path):
    with open(path) as f:
      try:
        previous = json.load(f)
      except ValueError:
        previous = {}  # Cut short by a crash: nothing to compare with.
  changed = [name for name in settings
             if name in previous and previous[name] != settings[name]]
  if changed:
    print('%sThis run changes settings of the run it resumes (%s): %s.' % (
        log_prefix, path, ', '.join(
            '--%s=%s (was %s)' % (name, settings[name], previous[name])
            for name in changed)), flush=True)
  temporary = path + '.tmp'
  with open(temporary, 'w') as f:
    json.dump(dict(settings), f, indent=1)
    f.flush()
    os.fsync(f.fileno())
  os.replace(temporary, path)
  return changed


def markdown_table(settings: Mapping[str, Value]) -> str:
  """The settings as a two-column Markdown table (TensorBoard renders it)."""
  rows = ['| setting | value |', '| --- | --- |']
  rows += ['| --%s | %s |' % (name, value) for name, value in settings.items()]
  return '\n'.join(rows)


class SettingsSummaryHook(tf1.train.SessionRunHook):
  """Writes the settings as a text summary to train_dir's event file once,
  at the global step the session starts at."""

  def __init__(self, train_dir: str, settings: Mapping[str, Value]):
    self._train_dir = train_dir
    self._settings = dict(settings)

  def after_create_session(self, session, coord):
    step = session.run(tf1.train.get_global_step())
    # The writer the summary hook uses, so both go to one event file.
    writer = tf1.summary.FileWriterCache.get(self._train_dir)
    writer.add_summary(tensorboard_summary.text_pb(
        SUMMARY_TAG, markdown_table(self._settings)).SerializeToString(),
                       step)
    writer.flush()

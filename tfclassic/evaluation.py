"""The eval loop: score each new checkpoint as training writes it; or let
training score its own checkpoints, in its own process.

`--run_once` scores the latest checkpoint and returns; otherwise the loop
waits for a first checkpoint, scores every new one, skips one already
scored, and looks again every interval. Ctrl-C ends it after the
evaluation in progress, with one line.

InTrainingEvaluationHook scores the same way from inside training (the
binaries' --eval_every_steps): no second process competes for the cores or
holds a second copy of the model.
"""
import csv
import dataclasses
import io
import os
import time
from typing import Callable, Mapping, Sequence

import tensorflow as tf

from tfclassic import checkpoints
from tfclassic import signals

tf1 = tf.compat.v1

# How often the wait between looks checks for Ctrl-C.
_POLL_SECS = 0.2
# What tf.compat.v1.train.CheckpointSaverHook names checkpoints.
CHECKPOINT_BASENAME = 'model.ckpt'


def eval_loop(checkpoint_dir: str, evaluate: Callable[[str], None],
              run_once: bool, interval_secs: float,
              train_command: str = '') -> None:
  """Calls evaluate(checkpoint) for the checkpoints in checkpoint_dir.

  Args:
    checkpoint_dir: the train_dir being evaluated.
    evaluate: scores one checkpoint (its path).
    run_once: score the latest checkpoint once and return.
    interval_secs: seconds between looks for a new checkpoint.
    train_command: how to train, named when run_once finds no checkpoint.

  Raises:
    errors.UserError: run_once and no checkpoint, or what evaluate raises.
  """
  if run_once:
    evaluate(checkpoints.latest_checkpoint(checkpoint_dir, train_command))
    return
  last_scored = None
  announced_wait = False
  with signals.StopSignal('stopping after this evaluation (press Ctrl-C '
                          'again to stop at once)') as stop:
    while stop.requested is None:
      checkpoint = checkpoints.newest_checkpoint(checkpoint_dir)
      if checkpoint is None:
        if not announced_wait:
          announced_wait = True
          print('No checkpoint in %s yet; looking again every %d s.'
                % (checkpoint_dir, interval_secs), flush=True)
      elif checkpoint != last_scored:
        evaluate(checkpoint)
        last_scored = checkpoint
      deadline = time.time() + interval_secs
      while stop.requested is None and time.time() < deadline:
        time.sleep(min(_POLL_SECS, max(deadline - time.time(), 0)))
  print('Stopped by %s.' % stop.requested, flush=True)


# The file in train_dir where in-training evaluation records each score.
RECORD_FILE = 'evaluations.csv'


@dataclasses.dataclass
class InTrainingEvaluation:
  """What training needs to score its own checkpoints (run_training's
  `evaluation`).

  Attributes:
    every_steps: score every this many global steps, and at the end.
    evaluate: scores one checkpoint; returns its figures by name, e.g.
      {'precision_at_1': 0.86, 'examples': 10000}.
  """
  every_steps: int
  evaluate: Callable[[str], Mapping[str, float]]


def read_records(train_dir: str) -> list[dict[str, float]]:
  """The rows of train_dir's evaluations.csv, oldest first (none if it has
  none); a line a crash cut short (no newline yet) is left out."""
  path = os.path.join(train_dir, RECORD_FILE)
  if not os.path.exists(path):
    return []
  with open(path, newline='') as f:
    lines = [line for line in f.readlines() if line.endswith('\n')]
  rows = []
  for row in csv.DictReader(lines):
    try:
      rows.append({key: float(value) for key, value in row.items()})
    except (TypeError, ValueError):
      continue
  return rows


def _append_record(train_dir: str, row: Mapping[str, float]) -> None:
  """Appends row as one line, in one write, after a header if the file is
  new; a line a crash cut short is removed first."""
  path = os.path.join(train_dir, RECORD_FILE)
  if os.path.exists(path):
    with open(path, 'rb+') as f:
      content = f.read()
      if content and not content.endswith(b'\n'):
        f.truncate(content.rfind(b'\n') + 1)
  text = io.StringIO()
  writer = csv.DictWriter(text, fieldnames=list(row), lineterminator='\n')
  if not os.path.exists(path) or os.path.getsize(path) == 0:
    writer.writeheader()
  writer.writerow(row)
  with open(path, 'a', newline='') as f:
    f.write(text.getvalue())
    f.flush()
    os.fsync(f.fileno())


def score_unless_recorded(evaluation: InTrainingEvaluation, train_dir: str,
                          checkpoint: str, step: int) -> bool:
  """Scores the checkpoint of `step` unless evaluations.csv holds that step;
  appends the figures there. Returns whether it scored."""
  if any(int(row['global_step']) == step for row in read_records(train_dir)):
    return False
  start = time.time()
  figures = evaluation.evaluate(checkpoint)
  _append_record(train_dir, dict(
      global_step=step, unix_time=round(time.time(), 3),
      eval_secs=round(time.time() - start, 3), **figures))
  return True


class InTrainingEvaluationHook(tf1.train.SessionRunHook):
  """Scores the training's own checkpoint every `every_steps` global steps
  and when training ends, in the training process.

  A step due for scoring gets a checkpoint of its own (unless the checkpoint
  hook, which runs first, has just written one), which evaluate() scores as
  cifar10.eval would. Each score is appended to train_dir/evaluations.csv,
  so a resumed run scores only steps not scored yet.
  """

  def __init__(self, evaluation: InTrainingEvaluation, saver: tf1.train.Saver,
               train_dir: str, last_step: int,
               score_at_end: Callable[[], bool],
               listeners: Sequence[tf1.train.CheckpointSaverListener] = ()):
    """
    Args:
      evaluation: what to score, how often.
      saver: writes the checkpoints of due steps (the checkpoint hook's).
      train_dir: where checkpoints and evaluations.csv are.
      last_step: max_steps: scored in end(), after the checkpoint hook's
        last checkpoint, not in a checkpoint of its own.
      score_at_end: whether end() scores (not after a stop by a signal).
      listeners: called around each checkpoint this hook writes, as around
        the checkpoint hook's.
    """
    if evaluation.every_steps < 1:
      raise ValueError('every_steps must be at least 1')
    self._evaluation = evaluation
    self._saver = saver
    self._train_dir = train_dir
    self._last_step = last_step
    self._score_at_end = score_at_end
    self._listeners = list(listeners)

  def begin(self):
    self._global_step = tf1.train.get_global_step()
    self._next_due = None

  def _due_after(self, step: int) -> int:
    every = self._evaluation.every_steps
    return (step // every + 1) * every

  def after_create_session(self, session, coord):
    step = session.run(self._global_step)
    self._next_due = self._due_after(step)
    # A run stopped between a due step's checkpoint and its score.
    if step and step % self._evaluation.every_steps == 0:
      self._score(session, step)

  def before_run(self, run_context):
    return tf1.train.SessionRunArgs(self._global_step)

  def after_run(self, run_context, run_values):
    # The fetch may already hold the step's own increment, or not.
    if run_values.results + 1 < self._next_due:
      return
    step = run_context.session.run(self._global_step)
    if self._next_due <= step < self._last_step:
      self._score(run_context.session, step)
      self._next_due = self._due_after(step)

  def end(self, session):
    if self._score_at_end():
      self._score(session, session.run(self._global_step))

  def _checkpoint_of(self, session, step: int) -> str:
    """The checkpoint of `step` in train_dir, written if it has none."""
    latest = checkpoints.newest_checkpoint(self._train_dir)
    if latest and checkpoints.checkpoint_step_from_name(latest) == step:
      return latest
    for listener in self._listeners:
      listener.before_save(session, step)
    checkpoint = self._saver.save(
        session, os.path.join(self._train_dir, CHECKPOINT_BASENAME),
        global_step=step)
    for listener in self._listeners:
      listener.after_save(session, step)
    return checkpoint

  def _score(self, session, step: int) -> None:
    if any(int(row['global_step']) == step
           for row in read_records(self._train_dir)):
      return
    score_unless_recorded(self._evaluation, self._train_dir,
                          self._checkpoint_of(session, step), step)

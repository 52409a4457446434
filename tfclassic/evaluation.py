"""The eval loop: score each new checkpoint as training writes it; or let
training score its own checkpoints, in its own process.

`--run_once` scores the latest checkpoint and returns; otherwise the loop
waits for a first checkpoint, scores every new one, skips one already
scored, and looks again every interval. Ctrl-C ends it after the
evaluation in progress, with one line. A checkpoint whose files go away
before it is read (training's max_to_keep rotates them while evaluation
runs beside it) is passed over for the newest that exists.

InTrainingEvaluationHook scores the same way from inside training (the
binaries' --eval_every_steps): no second process competes for the cores or
holds a second copy of the model. with_best_and_stop() adds to those
evaluations what --keep_best and --stop_at_precision ask: the best-scoring
checkpoint copied to train_dir/best, and training ended once a score is
reached.
"""
import csv
import dataclasses
import io
import json
import os
import re
import time
from typing import Callable, Mapping, Optional, Sequence

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
    _evaluate_newest(
        checkpoint_dir, evaluate,
        checkpoints.latest_checkpoint(checkpoint_dir, train_command))
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
        try:
          last_scored = _evaluate_newest(checkpoint_dir, evaluate, checkpoint)
        except checkpoints.CheckpointGone:
          continue
      deadline = time.time() + interval_secs
      while stop.requested is None and time.time() < deadline:
        time.sleep(min(_POLL_SECS, max(deadline - time.time(), 0)))
  print('Stopped by %s.' % stop.requested, flush=True)


def _evaluate_newest(checkpoint_dir: str, evaluate: Callable[[str], None],
                     checkpoint: str) -> str:
  """evaluate(checkpoint), or, if its files go before it is read, the newest
  checkpoint that exists then; returns the one scored.

  Raises:
    checkpoints.CheckpointGone: no checkpoint is left to score.
  """
  while True:
    try:
      evaluate(checkpoint)
      return checkpoint
    except checkpoints.CheckpointGone as gone:
      newest = checkpoints.newest_checkpoint(checkpoint_dir)
      if newest is None or newest == checkpoint:
        raise
      print('%s is gone (rotated away by training, or deleted); scoring '
            'the newest checkpoint, %s.' % (gone.checkpoint, newest),
            flush=True)
      checkpoint = newest


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


# The folder of train_dir where keep_best_checkpoint() keeps the best one.
BEST_DIR = 'best'
# The figure a best checkpoint is chosen by.
BEST_FIGURE = 'precision_at_1'
# A checkpoint file: its index or a data shard (not a save's temporary).
_CHECKPOINT_FILE = re.compile(r'\.(index|data-\d{5}-of-\d{5})$')


def best_record(train_dir: str) -> Optional[dict[str, float]]:
  """The figures of the checkpoint kept in train_dir/best (global_step,
  precision_at_1, ...); None if none is kept."""
  best_dir = os.path.join(train_dir, BEST_DIR)
  state = tf1.train.get_checkpoint_state(best_dir)
  if not (state and state.model_checkpoint_path):
    return None
  try:
    with open(state.model_checkpoint_path + '.json') as f:
      return json.load(f)
  except FileNotFoundError:
    return None


def _write_atomically(path: str, data: bytes) -> None:
  temporary = path + '.tmp'
  with open(temporary, 'wb') as f:
    f.write(data)
    f.flush()
    os.fsync(f.fileno())
  os.replace(temporary, path)


def keep_best_checkpoint(train_dir: str, checkpoint: str,
                         figures: Mapping[str, float]) -> bool:
  """Copies `checkpoint` to train_dir/best if its figures[BEST_FIGURE] beats
  the one kept there (a tie keeps the earlier); returns whether it did.

  best/ holds one checkpoint, its figures beside it as
  model.ckpt-N.json, and a `checkpoint` state file, so eval, predict and
  export read it as a train_dir. The state file, replaced atomically after
  the copy is complete, is what makes a copy current: a crash leaves the
  previous best whole, and the next copy removes what it left.
  """
  best = best_record(train_dir)
  if best is not None and figures[BEST_FIGURE] <= best[BEST_FIGURE]:
    return False
  best_dir = os.path.join(train_dir, BEST_DIR)
  os.makedirs(best_dir, exist_ok=True)
  name = os.path.basename(checkpoint)
  copied = set()
  for source in tf.io.gfile.glob(checkpoint + '.*'):
    if _CHECKPOINT_FILE.search(source[len(checkpoint):]):
      target = os.path.join(best_dir, os.path.basename(source))
      with open(source, 'rb') as f:
        _write_atomically(target, f.read())
      copied.add(os.path.basename(source))
  record = {key: float(value) for key, value in figures.items()}
  record['global_step'] = checkpoints.checkpoint_step_from_name(checkpoint)
  _write_atomically(os.path.join(best_dir, name + '.json'),
                    json.dumps(record, indent=1).encode())
  copied.add(name + '.json')
  tf1.train.update_checkpoint_state(best_dir, name,
                                    all_model_checkpoint_paths=[name])
  for leftover in set(os.listdir(best_dir)) - copied - {'checkpoint'}:
    os.remove(os.path.join(best_dir, leftover))
  return True


class StopHook(tf1.train.SessionRunHook):
  """Ends training after the step in which `reason` was set (by an
  evaluation): the checkpoint hook then writes the final checkpoint."""

  def __init__(self):
    self.reason: Optional[str] = None

  def after_run(self, run_context, run_values):
    if self.reason:
      run_context.request_stop()


def with_best_and_stop(evaluation: InTrainingEvaluation, train_dir: str,
                       keep_best: bool, stop_at: Optional[float],
                       log_prefix: str = ''
                       ) -> tuple[InTrainingEvaluation, list[StopHook]]:
  """The evaluation, also keeping the best checkpoint in train_dir/best
  and stopping training once figures[BEST_FIGURE] reaches stop_at.

  Returns:
    The evaluation to give run_training, and the hooks to give it with it.
  """
  stop = StopHook()

  def evaluate(checkpoint: str) -> Mapping[str, float]:
    figures = evaluation.evaluate(checkpoint)
    score = figures[BEST_FIGURE]
    if keep_best and keep_best_checkpoint(train_dir, checkpoint, figures):
      print('%sKept %s in %s: precision @ 1 = %.3f, the best so far.' % (
          log_prefix, os.path.basename(checkpoint),
          os.path.join(train_dir, BEST_DIR), score), flush=True)
    if stop_at is not None and score >= stop_at and not stop.reason:
      stop.reason = ('precision @ 1 = %.3f at step %s reached '
                     '--stop_at_precision=%g' % (
                         score, checkpoints.checkpoint_step_from_name(
                             checkpoint), stop_at))
      print('%sStopping: %s.' % (log_prefix, stop.reason), flush=True)
    return figures
  return (InTrainingEvaluation(evaluation.every_steps, evaluate),
          [stop] if stop_at is not None else [])

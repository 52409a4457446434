"""Finding checkpoints and restoring them, with errors a user can act on.

TensorFlow reports a missing, corrupt or mismatched checkpoint with a long
stack of op context; these functions turn each case into one paragraph.
"""
import os
import re
from typing import Mapping, Optional, Sequence, Union

import tensorflow as tf

from tfclassic import errors

tf1 = tf.compat.v1


class CheckpointGone(errors.UserError):
  """A checkpoint's files were deleted after it was found: rotated away by
  training's max_to_keep, or deleted by hand. Not a corrupt one: a reader
  that looks again finds the newest that exists."""

  def __init__(self, checkpoint: str):
    super().__init__(
        '%s is gone: its files were deleted (rotated away by training, or by '
        'hand) after it was found.' % checkpoint)
    self.checkpoint = checkpoint


def exists(checkpoint: str) -> bool:
  """Whether checkpoint's index file is there (a checkpoint is its files)."""
  return bool(tf.io.gfile.glob(checkpoint + '.index'))


def raise_if_gone(checkpoint: str) -> None:
  """Raises CheckpointGone if checkpoint's files are no longer there: called
  when reading it failed, so that a deleted checkpoint is not called
  corrupt."""
  if not exists(checkpoint):
    raise CheckpointGone(checkpoint)


def variable_shapes(checkpoint: str) -> dict[str, list[int]]:
  """The variables `checkpoint` holds, by name, with their shapes.

  Raises:
    CheckpointGone: its files are gone.
    errors.UserError: it cannot be read (corrupt or truncated).
  """
  try:
    return tf.train.load_checkpoint(checkpoint).get_variable_to_shape_map()
  except tf.errors.OpError as e:
    raise_if_gone(checkpoint)
    raise errors.UserError(corrupt_message(
        checkpoint, damage(checkpoint) or op_error_reason(e))) from e


def latest_checkpoint(checkpoint_dir: str, train_command: str = '') -> str:
  """The newest checkpoint in checkpoint_dir.

  Args:
    checkpoint_dir: a train_dir.
    train_command: how to train one, e.g. 'python -m cifar10.train'; named
      in the message.

  Raises:
    errors.UserError: there is none.
  """
  checkpoint = newest_checkpoint(checkpoint_dir)
  if checkpoint is None:
    how = ('Train first (%s --train_dir=%s) or point' % (
        train_command, checkpoint_dir) if train_command else 'Point')
    raise errors.UserError('No checkpoint found in %s. %s --checkpoint_dir '
                           'at a train_dir.' % (checkpoint_dir, how))
  return checkpoint


def newest_checkpoint(checkpoint_dir: str) -> Optional[str]:
  """The checkpoint that checkpoint_dir's state file names or, if its files
  are gone (deleted, e.g. being corrupt), the newest one there; None if
  there is none.

  Unlike tf.compat.v1.train.latest_checkpoint, which logs an error and
  finds nothing when the named one is gone, and without changing the
  directory (evaluation reads a train_dir that training writes).
  """
  state = tf1.train.get_checkpoint_state(checkpoint_dir)
  if state and state.model_checkpoint_path and exists(
      state.model_checkpoint_path):
    return state.model_checkpoint_path
  existing = _checkpoints_in(checkpoint_dir)
  return existing[0] if existing else None


def checkpoint_step(checkpoint: str) -> Optional[int]:
  """The global step saved in `checkpoint`; None if it has none."""
  reader = tf.train.load_checkpoint(checkpoint)
  if not reader.has_tensor('global_step'):
    return None
  return int(reader.get_tensor('global_step'))


def _checkpoints_in(checkpoint_dir: str) -> list[str]:
  """Every checkpoint whose index file is in checkpoint_dir, newest (highest
  step) first."""
  paths = [index[:-len('.index')] for index in tf.io.gfile.glob(
      os.path.join(checkpoint_dir, '*.index'))]
  return sorted((path for path in paths
                 if checkpoint_step_from_name(path) is not None),
                key=checkpoint_step_from_name, reverse=True)


def damage(checkpoint: str) -> Optional[str]:
  """Why `checkpoint` cannot be read whole (e.g. 'Read less bytes than
  requested'); None if every tensor in it reads back intact.

  Each tensor is read, so that its stored checksum is verified.
  """
  try:
    reader = tf.train.load_checkpoint(checkpoint)
    for name in reader.get_variable_to_shape_map():
      reader.get_tensor(name)
  except tf.errors.OpError as e:
    return op_error_reason(e)
  except (IndexError, ValueError) as e:
    return str(e) or type(e).__name__
  return None


def newest_intact(checkpoint_dir: str, older_than: str) -> Optional[str]:
  """The newest checkpoint in checkpoint_dir older than `older_than` that
  reads back whole; None if there is none."""
  step = checkpoint_step_from_name(older_than)
  for checkpoint in _checkpoints_in(checkpoint_dir):
    if (step is None or checkpoint_step_from_name(checkpoint) < step) and (
        damage(checkpoint) is None):
      return checkpoint
  return None


def checkpoint_step_from_name(checkpoint: str) -> Optional[int]:
  """N of a checkpoint named PREFIX-N; None for other names."""
  match = re.search(r'-(\d+)$', checkpoint)
  return int(match.group(1)) if match else None


def corrupt_message(checkpoint: str, reason: str,
                    use_intact: str = 'The newest intact one is %s.',
                    otherwise: str = '') -> str:
  """One paragraph: checkpoint is damaged, why, and the newest intact
  checkpoint beside it.

  Args:
    checkpoint: the damaged checkpoint.
    reason: what is wrong with it.
    use_intact: what to say when there is an intact older one (%s: it).
    otherwise: what to say when there is none.
  """
  intact = newest_intact(os.path.dirname(checkpoint), checkpoint)
  message = '%s is corrupt or truncated (%s).' % (checkpoint,
                                                  reason.rstrip('.'))
  if intact:
    return '%s %s' % (message, use_intact % intact)
  return ' '.join(filter(None, [
      message, 'There is no intact older checkpoint beside it.', otherwise]))


def repair_state(checkpoint_dir: str) -> Optional[str]:
  """Points checkpoint_dir's state file at its newest checkpoint if the one
  it names has lost its files (deleted, e.g. being corrupt), so that
  TensorFlow resumes from it rather than from nothing.

  Returns:
    What was done, to tell the user; None if nothing needed doing.
  """
  state = tf1.train.get_checkpoint_state(checkpoint_dir)
  if not state or not state.model_checkpoint_path or exists(
      state.model_checkpoint_path):
    return None
  existing = _checkpoints_in(checkpoint_dir)
  if not existing:
    return None
  # Relative names, as the training Saver writes them (a moved train_dir
  # stays resumable).
  tf1.train.update_checkpoint_state(
      checkpoint_dir, os.path.basename(existing[0]),
      all_model_checkpoint_paths=[os.path.basename(path)
                                  for path in existing[::-1]])
  return ('%s\'s latest checkpoint, %s, is gone; its newest is now %s.' % (
      checkpoint_dir, state.model_checkpoint_path, existing[0]))


def op_error_reason(error: tf.errors.OpError) -> str:
  """The reason a graph op failed, e.g. "Invalid PNG data, size 200".

  It is the message's last unindented line: the lines before it place the op
  in the graph and the program, those after it are indented.
  """
  lines = [line for line in error.message.splitlines()
           if line and not line[0].isspace()]
  return lines[-1] if lines else type(error).__name__


def mismatch(checkpoint: str,
             expected: Mapping[str, tf.TensorShape]) -> Optional[str]:
  """Why `checkpoint` cannot fill variables of the `expected` names and
  shapes, e.g. 'conv1/weights has shape [5, 5, 3, 64] there, [3, 3, 3, 64]
  here'; None if it can.

  Raises:
    tf.errors.OpError: the checkpoint cannot be read.
  """
  saved = tf.train.load_checkpoint(checkpoint).get_variable_to_shape_map()
  for name, shape in expected.items():
    if name not in saved:
      return 'it has no variable %s' % name
    if not tf.TensorShape(shape).is_compatible_with(saved[name]):
      return '%s has shape %s there, %s here' % (
          name, saved[name], tf.TensorShape(shape).as_list())
  return None


class Restorer:
  """Restores checkpoints into a graph's variables, checking them first.

  Build it with the graph (it adds a Saver's ops), then restore() any number
  of checkpoints. A checkpoint lacking a variable, or holding it in another
  shape, is reported before TensorFlow's restore runs: resource variables
  would otherwise take a value of the wrong shape without a word.
  """

  def __init__(self, var_list: Optional[Union[Mapping[str, tf.Variable],
                                              Sequence[tf.Variable]]] = None):
    """Args:
      var_list: checkpoint names -> variables (e.g. moving averages into
        the weights), or variables saved under their own names; default:
        all global variables.
    """
    if var_list is None:
      var_list = tf1.global_variables()
    if not isinstance(var_list, Mapping):
      var_list = {v.op.name: v for v in var_list}
    self._expected = {name: v.shape for name, v in var_list.items()}
    self.saver = tf1.train.Saver(dict(var_list))

  def restore(self, sess: tf1.Session, checkpoint: str) -> None:
    """Restores `checkpoint` into the variables.

    Raises:
      CheckpointGone: its files are gone, before or while it is read.
      errors.UserError: the checkpoint is corrupt, truncated or written by
        another model.
    """
    raise_if_gone(checkpoint)
    # TensorFlow's restore does not verify the tensors' checksums: a
    # damaged checkpoint would be restored as if whole.
    reason = damage(checkpoint)
    if reason:
      raise_if_gone(checkpoint)
      raise errors.UserError(corrupt_message(checkpoint, reason))
    try:
      self._restore(sess, checkpoint)
    except errors.UserError:
      raise_if_gone(checkpoint)
      raise

  def _restore(self, sess: tf1.Session, checkpoint: str) -> None:
    try:
      reason = mismatch(checkpoint, self._expected)
      if reason:
        raise errors.UserError(
            '%s does not match this model (was it written by another model '
            'or setting?): %s.' % (checkpoint, reason))
      self.saver.restore(sess, checkpoint)
    except (tf.errors.NotFoundError, tf.errors.InvalidArgumentError) as e:
      raise errors.UserError(
          '%s does not match this model (was it written by another model or '
          'setting?): %s' % (checkpoint, op_error_reason(e))) from e
    except (tf.errors.OpError, IndexError, ValueError) as e:
      raise errors.UserError(corrupt_message(
          checkpoint, op_error_reason(e) if isinstance(e, tf.errors.OpError)
          else str(e))) from e

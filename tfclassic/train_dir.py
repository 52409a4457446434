"""The training directory: created on first use, resumed after, --fresh
empties it, and one trainer at a time.

The tutorial deleted its train_dir at every start, so an interrupted run lost
everything; here a train_dir is continued from its latest checkpoint unless
the user asks for a fresh start. Two trainers on one train_dir would resume
from the same checkpoint and interleave their saves, so a trainer holds an
OS lock on it (a lock file inside) for as long as it runs: the kernel drops
the lock with the process, however it ends, so nothing is left to clean up.
"""
import contextlib
import errno
import fcntl
import os
import shlex
import sys
from typing import Iterator

import tensorflow as tf

from tfclassic import checkpoints
from tfclassic import errors
from tfclassic import paths

# The lock file inside a train_dir: it holds the trainer's pid and command.
LOCK_FILE = '.lock'


def _is_local(path: str) -> bool:
  return '://' not in path


def _holder(lock_path: str) -> str:
  """Who holds the lock, as its lock file says: 'process PID (COMMAND)'."""
  try:
    with open(lock_path, encoding='utf-8', errors='replace') as f:
      pid, _, command = f.read().strip().partition(' ')
  except OSError:
    return 'another process'
  return 'process %s (%s)' % (pid, command) if command else (
      'process %s' % pid if pid else 'another process')


def _lock(train_dir: str) -> int:
  """Takes train_dir's lock; returns the open lock file's descriptor.

  Raises:
    errors.UserError: another process holds it.
  """
  lock_path = os.path.join(train_dir, LOCK_FILE)
  fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
  try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except OSError as e:
    os.close(fd)
    if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
      raise
    raise errors.UserError(
        '%s is in use by %s: two trainers on one train_dir would overwrite '
        'each other\'s checkpoints. Wait for it to end (or stop it), or '
        'give another --train_dir.' % (train_dir, _holder(lock_path))) from e
  os.ftruncate(fd, 0)
  os.write(fd, ('%d %s\n' % (os.getpid(), shlex.join(
      [os.path.basename(sys.executable), *sys.orig_argv[1:]]))).encode())
  return fd


def _empty(train_dir: str) -> None:
  """Deletes everything in train_dir but its lock file."""
  for name in tf.io.gfile.listdir(train_dir):
    path = os.path.join(train_dir, name.rstrip('/'))
    if name == LOCK_FILE:
      continue
    if tf.io.gfile.isdir(path):
      tf.io.gfile.rmtree(path)
    else:
      tf.io.gfile.remove(path)


def saved_step(train_dir: str) -> int:
  """The global step of train_dir's newest checkpoint, where a run resumes;
  0 for none (a fresh start)."""
  checkpoint = checkpoints.newest_checkpoint(train_dir)
  return (checkpoints.checkpoint_step_from_name(checkpoint) or 0) if (
      checkpoint) else 0


@contextlib.contextmanager
def prepare_train_dir(train_dir: str, fresh: bool) -> Iterator[None]:
  """Creates train_dir (emptied first when `fresh`; otherwise training
  resumes) and holds it for this process until the block ends.

  Raises:
    errors.UserError: another trainer holds train_dir, or it cannot be
      created or written.
  """
  problem = paths.output_dir_problem(train_dir)
  if problem:
    raise errors.UserError(paths.describe('--train_dir', train_dir, problem))
  tf.io.gfile.makedirs(train_dir)
  fd = _lock(train_dir) if _is_local(train_dir) else None
  try:
    if fresh:
      _empty(train_dir)
    yield
  finally:
    if fd is not None:
      os.close(fd)

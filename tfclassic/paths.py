"""What is wrong with a path a user gave, said before any work starts.

Each check returns None for a usable path, or the end of a sentence that
begins with the flag and its value: 'names a file, not a folder: ...'.
tfclassic.flags turns them into flag validators, so a bad path stops a
binary at flag parsing, before TensorFlow builds anything; library code
calls them where a path comes from elsewhere (a data folder's files).

Nothing here creates or changes anything: a folder's writability is asked
of the nearest folder that exists (os.access answers for read-only mounts
too, where permission bits do not bind root). Paths on other filesystems
(gs://, hdfs://, ...) are TensorFlow's to reach, and left unchecked.
"""
import errno
import functools
import os
from typing import Callable, Optional

# The kinds of path a flag can name, as tfclassic.flags registers them.
OUTPUT_DIR = 'output folder'
INPUT_DIR = 'input folder'
DATA_DIR = 'data folder'
OUTPUT_FILE = 'output file'
INPUT_FILE = 'input file'
CHECKPOINT = 'checkpoint or folder'


def _is_local(path: str) -> bool:
  return '://' not in path


def _unreachable(path: str) -> Optional[str]:
  """Why path cannot be looked at (a symlink loop, a file where a folder
  is in the way, no permission to look); None if it can, or is simply
  missing."""
  try:
    os.stat(path)
  except FileNotFoundError:
    if os.path.islink(path):
      return ('is a symbolic link to %s, which does not exist: point it '
              'somewhere real, or give another path'
              % os.readlink(path))
    return None
  except OSError as e:
    if e.errno == errno.ELOOP:
      return ('is a symbolic link that leads back to itself (a loop): '
              'fix the link, or give another path')
    if e.errno == errno.ENOTDIR:
      return ('cannot exist: part of it, %s, is a file, not a folder'
              % _file_on_the_way(path))
    if e.errno == errno.EACCES:
      return ('cannot be reached: no permission to look inside %s'
              % _nearest_existing(os.path.dirname(os.path.abspath(path))))
    if e.errno == errno.ENAMETOOLONG:
      return 'is too long a name for the filesystem'
    return 'cannot be reached (%s)' % os.strerror(e.errno)
  return None


def _file_on_the_way(path: str) -> str:
  """The first part of path that is a file (path has one)."""
  parts = os.path.abspath(path).split(os.sep)
  for end in range(2, len(parts) + 1):
    prefix = os.sep.join(parts[:end])
    if os.path.exists(prefix) and not os.path.isdir(prefix):
      return prefix
  return path


def _nearest_existing(path: str) -> str:
  """path, or its nearest ancestor that exists."""
  path = os.path.abspath(path)
  while not os.path.lexists(path) and os.path.dirname(path) != path:
    path = os.path.dirname(path)
  return path


def _unwritable(folder: str) -> Optional[str]:
  """Why nothing can be written in the existing `folder`; None if it can."""
  if os.access(folder, os.W_OK | os.X_OK):
    return None
  if _read_only_filesystem(folder):
    return 'is on a read-only filesystem'
  return 'is not writable by this user'


def _read_only_filesystem(folder: str) -> bool:
  try:
    return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
  except OSError:
    return False


def _checked(what: str) -> Callable[[Callable[[str], Optional[str]]],
                                     Callable[[str], Optional[str]]]:
  """Puts the checks every kind shares before a kind's own: an empty path,
  a path on another filesystem (unchecked), one that cannot be looked at."""
  def wrap(check: Callable[[str], Optional[str]]
           ) -> Callable[[str], Optional[str]]:
    @functools.wraps(check)
    def problem(path: str) -> Optional[str]:
      if not path:
        return 'is empty: give %s' % what
      if not _is_local(path):
        return None
      return _unreachable(path) or check(path)
    return problem
  return wrap


def _readable_folder_problem(path: str, file_advice: str) -> Optional[str]:
  """What is wrong with an existing path that must be a readable folder."""
  if not os.path.isdir(path):
    return 'names a file, not a folder: %s' % file_advice
  if not os.access(path, os.R_OK | os.X_OK):
    return 'cannot be read by this user: give a folder you can read'
  return None


@_checked('a folder')
def output_dir_problem(path: str) -> Optional[str]:
  """A folder the program writes in, created if missing (train_dir,
  eval_dir, export_dir)."""
  if os.path.exists(path):
    if not os.path.isdir(path):
      return ('names a file, not a folder: give a folder (it is created if '
              'missing), or move the file away')
    why = _unwritable(path)
    return ('%s: nothing can be written there. Give a folder you can write '
            'to' % why) if why else None
  parent = _nearest_existing(os.path.dirname(os.path.abspath(path)))
  why = _unwritable(parent)
  return ('cannot be created: %s, where it would go, %s. Give a folder you '
          'can write to' % (parent, why)) if why else None


@_checked('a folder')
def input_dir_problem(path: str) -> Optional[str]:
  """A folder the program only reads (a checkpoint_dir). A missing one is
  not a problem here: the program may wait for it, or say what it
  expected there."""
  if not os.path.exists(path):
    return None
  return _readable_folder_problem(path, 'give the folder it is in')


@_checked('a folder')
def data_dir_problem(path: str) -> Optional[str]:
  """A folder the program reads data from, and downloads the data into
  when it is missing: it must be a folder if it exists; whether it must be
  writable is known only once the data is found missing (download)."""
  if not os.path.exists(path):
    return None
  return _readable_folder_problem(
      path, 'give the folder that holds the data files')


@_checked('a file name')
def output_file_problem(path: str) -> Optional[str]:
  """A file the program writes (a --json report, an image), replaced if it
  exists; its folder is created if missing."""
  if os.path.isdir(path):
    return 'names a folder, not a file: give a file name'
  folder = os.path.dirname(os.path.abspath(path))
  if os.path.exists(path):
    return None if os.access(path, os.W_OK) else (
        'cannot be replaced: %s. Give another file name'
        % (_unwritable(folder) or 'it is not writable by this user'))
  problem = output_dir_problem(folder)
  return 'cannot be written: its folder, %s, %s' % (folder, problem) if (
      problem) else None


@_checked('a file')
def input_file_problem(path: str) -> Optional[str]:
  """A file the program reads, which must exist."""
  if not os.path.exists(path):
    return 'does not exist: check the name'
  if os.path.isdir(path):
    return 'names a folder, not a file: give a file'
  if not os.access(path, os.R_OK):
    return 'cannot be read by this user'
  return None


@_checked('a checkpoint or a folder')
def checkpoint_problem(path: str) -> Optional[str]:
  """A checkpoint the program reads: a folder of checkpoints, a
  checkpoint's prefix (PREFIX.index exists) or one of its files. Whether a
  checkpoint is there is the reader's to say."""
  if os.path.exists(path) and not os.access(path, os.R_OK):
    return 'cannot be read by this user'
  return None


PROBLEM_OF_KIND: dict[str, Callable[[str], Optional[str]]] = {
    OUTPUT_DIR: output_dir_problem,
    INPUT_DIR: input_dir_problem,
    DATA_DIR: data_dir_problem,
    OUTPUT_FILE: output_file_problem,
    INPUT_FILE: input_file_problem,
    CHECKPOINT: checkpoint_problem,
}


def describe(name: str, path: str, problem: str) -> str:
  """The sentence for a path that has `problem`: name is what gave it
  (e.g. '--train_dir' or 'the data file')."""
  return '%s=%s %s.' % (name, path, problem) if name.startswith('--') else (
      '%s %s %s.' % (name, path, problem))

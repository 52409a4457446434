"""What goes wrong in a way the user can fix, and the one-paragraph exit.

Library code raises UserError (or DataError) with a message that names the
file or flag at fault and says what to do; binaries wrap their main() in
exit_on_error(), which prints that paragraph instead of a traceback. Ctrl-C
outside a training loop (which saves and stops by itself) ends with one
line, too.
"""
import contextlib
import errno
import logging
import os
import re
import sys
from typing import Iterator, Optional

# The shell's exit status for a process ended by SIGINT.
INTERRUPTED_EXIT_CODE = 130


class UserError(Exception):
  """A problem the user can fix; the message says how."""


class DataError(UserError):
  """Data files are missing, incomplete or not in the expected format."""


_NO_SPACE = 'No space left on device'


def is_disk_full(error: BaseException) -> bool:
  """Whether error (Python's or TensorFlow's) says a disk is full."""
  if isinstance(error, OSError) and error.errno == errno.ENOSPC:
    return True
  return _NO_SPACE in str(getattr(error, 'message', None) or error)


def disk_full_message(error: BaseException,
                      directory: Optional[str] = None) -> str:
  """One paragraph for is_disk_full(error): the directory that could not be
  written (default: the nearest existing folder of the file the error
  names), and what to do."""
  if directory is None:
    text = str(getattr(error, 'message', None) or error)
    match = re.search(r'(/\S+?)[;:,]? ' + _NO_SPACE, text)
    directory = getattr(error, 'filename', None) or (match and match.group(1))
    while directory and not os.path.isdir(directory):
      directory = os.path.dirname(directory)
  return ('No space left on the device to write in %s. Free some space '
          'there (or choose another directory) and run again.' % directory
          if directory else 'No space left on the device. Free some space '
          'and run again.')


@contextlib.contextmanager
def without_tf_log_lines(*beginnings: str) -> Iterator[None]:
  """Within it, TensorFlow's logger drops the lines that begin so: its own
  report of an error that the program reports better, in one paragraph."""
  def keep(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith(beginnings)
  logger = logging.getLogger('tensorflow')
  logger.addFilter(keep)
  try:
    yield
  finally:
    logger.removeFilter(keep)


@contextlib.contextmanager
def exit_on_error() -> Iterator[None]:
  """Ends the program with one message, not a traceback, for fixable errors.

  UserError exits with status 1 and 'Error: <message>' on stderr, and so
  does a full disk; Ctrl-C (KeyboardInterrupt) exits with 130 and
  'Interrupted.'.
  """
  try:
    yield
  except UserError as e:
    sys.exit('Error: %s' % e)
  except Exception as e:  # pylint: disable=broad-except
    if not is_disk_full(e):
      raise
    sys.exit('Error: %s' % disk_full_message(e))
  except KeyboardInterrupt:
    print('\nInterrupted.', file=sys.stderr, flush=True)
    sys.exit(INTERRUPTED_EXIT_CODE)

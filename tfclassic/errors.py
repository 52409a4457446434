"""What goes wrong in a way the user can fix, and the one-paragraph exit.

Library code raises UserError (or DataError) with a message that names the
file or flag at fault and says what to do; binaries wrap their main() in
exit_on_error(), which prints that paragraph instead of a traceback. Ctrl-C
outside a training loop (which saves and stops by itself) ends with one
line, too.
"""
import contextlib
import sys
from typing import Iterator

# The shell's exit status for a process ended by SIGINT.
INTERRUPTED_EXIT_CODE = 130


class UserError(Exception):
  """A problem the user can fix; the message says how."""


class DataError(UserError):
  """Data files are missing, incomplete or not in the expected format."""


@contextlib.contextmanager
def exit_on_error() -> Iterator[None]:
  """Ends the program with one message, not a traceback, for fixable errors.

  UserError exits with status 1 and 'Error: <message>' on stderr; Ctrl-C
  (KeyboardInterrupt) exits with 130 and 'Interrupted.'.
  """
  try:
    yield
  except UserError as e:
    sys.exit('Error: %s' % e)
  except KeyboardInterrupt:
    print('\nInterrupted.', file=sys.stderr, flush=True)
    sys.exit(INTERRUPTED_EXIT_CODE)

"""Ctrl-C and SIGTERM as a request to stop cleanly, not a traceback.

A long loop (a training loop, the numpy network's iterations, the eval
loop) installs a StopSignal for its duration and checks `requested` between
steps, so it can save what it has and end normally. A second signal aborts
at once, also while the main thread waits inside a Session call (a starved
input queue, a lost parameter server), where Python's own handlers would
not run until the call returned.
"""
import os
import signal
import sys
import threading
from typing import Optional

from tfclassic import errors

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignal:
  """While active, the first SIGINT or SIGTERM sets `requested`.

  Attributes:
    requested: the signal's name ('SIGINT', 'SIGTERM') once one arrived.
  """

  def __init__(self, announcement: str = 'stopping after this step and '
               'saving a checkpoint (press Ctrl-C again to abort without '
               'saving)'):
    """Args:
      announcement: printed when the first signal arrives, after its name.
    """
    self.requested: Optional[str] = None
    self._announcement = announcement
    self._previous = {}
    self._wakeup = None

  def __enter__(self) -> 'StopSignal':
    self._previous = {s: signal.signal(s, self._handle)
                      for s in HANDLED_SIGNALS}
    # The C-level handler writes each signal's number to this pipe at once;
    # the watcher thread sees it even while the main thread is blocked.
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    self._wakeup = (read_end, write_end,
                    signal.set_wakeup_fd(write_end, warn_on_full_buffer=False))
    self._watcher = threading.Thread(target=self._watch, args=(read_end,),
                                     daemon=True)
    self._watcher.start()
    return self

  def __exit__(self, *unused_exc) -> None:
    read_end, write_end, previous_fd = self._wakeup
    signal.set_wakeup_fd(previous_fd)
    os.close(write_end)
    # The watcher prints what it has read, then sees the pipe end.
    self._watcher.join()
    for s, handler in self._previous.items():
      signal.signal(s, handler)

  def _handle(self, signum: int, unused_frame) -> None:
    if self.requested is None:
      self.requested = signal.Signals(signum).name

  def _watch(self, read_end: int) -> None:
    signals_seen = 0
    with os.fdopen(read_end, 'rb', buffering=0) as pipe:
      while signum := pipe.read(1):
        signals_seen += 1
        if signals_seen == 1:
          _write_line('\n%s received: %s.' % (
              signal.Signals(signum[0]).name, self._announcement))
        else:
          _write_line('Aborted without saving.')
          os._exit(errors.INTERRUPTED_EXIT_CODE)


def _write_line(text: str) -> None:
  # Past Python's buffered stdout, which the main thread may be using.
  try:
    os.write(sys.stdout.fileno(), (text + '\n').encode())
  except (OSError, ValueError):
    pass

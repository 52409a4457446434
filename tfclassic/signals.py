"""Ctrl-C and SIGTERM as a request to stop cleanly, not a traceback.

A long loop (a training loop, the numpy network's iterations) installs a
StopSignal for its duration and checks `requested` between steps, so it can
save what it has and end normally. A second signal aborts at once with
KeyboardInterrupt, for a user who does not want to wait.
"""
import signal
from typing import Optional

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignal:
  """While active, the first SIGINT or SIGTERM sets `requested`.

  Attributes:
    requested: the signal's name ('SIGINT', 'SIGTERM') once one arrived.
  """

  def __init__(self, announcement: str = 'stopping after this step and '
               'saving a checkpoint'):
    """Args:
      announcement: printed when the signal arrives, after its name.
    """
    self.requested: Optional[str] = None
    self._announcement = announcement
    self._previous = {}

  def __enter__(self) -> 'StopSignal':
    self._previous = {s: signal.signal(s, self._handle)
                      for s in HANDLED_SIGNALS}
    return self

  def __exit__(self, *unused_exc) -> None:
    for s, handler in self._previous.items():
      signal.signal(s, handler)

  def _handle(self, signum: int, unused_frame) -> None:
    if self.requested is not None:
      raise KeyboardInterrupt
    self.requested = signal.Signals(signum).name
    print('\n%s received: %s (press Ctrl-C again to abort without saving).'
          % (self.requested, self._announcement), flush=True)

"""A worker noticing that a parameter server or the chief is gone.

TensorFlow's MonitoredSession answers a lost server by creating a new
session, which waits for that server forever; and a worker whose chief has
died trains on with nobody saving its work, or, in synchronous mode, waits
for a step that never comes. A worker here stops instead, with one paragraph
saying which server is gone and how to resume.
"""
import contextlib
import os
import socket
import sys
import threading
from typing import Callable, Optional, Sequence

import tensorflow as tf

from tfclassic import errors

tf1 = tf.compat.v1

# How long a probe waits for a server to accept a connection.
PROBE_TIMEOUT_SECS = 5
# How often a worker looks whether the chief is still there.
CHIEF_POLL_SECS = 1
# How long a worker whose chief is gone lets its own training end by itself
# first: when the chief finishes, its server goes too, a moment before the
# other workers see the last step.
CHIEF_GRACE_SECS = 3
# How long it then gives its current step to end before exiting at once: a
# synchronous worker may be waiting for a token only the chief hands out.
BLOCKED_STEP_SECS = 3


def unreachable(address: str,
                timeout_secs: float = PROBE_TIMEOUT_SECS) -> Optional[str]:
  """Why nothing accepts connections at host:port; None if something does."""
  host, port = address.rsplit(':', 1)
  try:
    socket.create_connection((host, int(port)), timeout=timeout_secs).close()
  except OSError as e:
    return e.strerror or str(e)
  return None


class _NoWaitForLostServers(tf1.train.SessionCreator):
  """Creates the training session; asked again (MonitoredSession's recovery
  from an Unavailable or Aborted error), it first checks that every server
  still accepts connections, and raises errors.UserError naming the first
  that does not instead of waiting for it."""

  def __init__(self, creator: tf1.train.SessionCreator,
               servers: Sequence[str], lost_message: Callable[[str, str], str]):
    self._creator = creator
    self._servers = list(servers)
    self._lost_message = lost_message
    self._created = False

  def create_session(self) -> tf1.Session:
    if self._created:
      for address in self._servers:
        reason = unreachable(address)
        if reason:
          raise errors.UserError(self._lost_message(address, reason))
    session = self._creator.create_session()
    self._created = True
    return session


def no_wait_for_lost_servers(
    creator: tf1.train.SessionCreator, servers: Sequence[str],
    lost_message: Callable[[str, str], str]) -> tf1.train.SessionCreator:
  """creator, made to stop rather than wait when a server has gone.

  Args:
    creator: the session creator of MonitoredSession.
    servers: the host:port of each server the session needs (the parameter
      servers).
    lost_message: (address, reason) -> the paragraph to stop with.
  """
  return _NoWaitForLostServers(creator, servers, lost_message)


# The one ERROR line MonitoredSession logs on its way to recovering from a
# lost server (closing the old session), ahead of the paragraph that says
# which server was lost.
_RECOVERY_ERROR_LOG = 'An error occurred when attempting to close the session'


def quiet_recovery_log() -> contextlib.AbstractContextManager:
  """Within it, TensorFlow's logger drops MonitoredSession's recovery ERROR
  line."""
  return errors.without_tf_log_lines(_RECOVERY_ERROR_LOG)


class ChiefWatch:
  """Within `with`, a thread looks every poll_secs whether the chief still
  accepts connections.

  Once it has not for grace_secs, check() raises errors.UserError with
  lost_message(reason); if the worker's step does not end within
  blocked_step_secs more (so nothing calls check()), the thread prints that
  paragraph as exit_on_error would and ends the process with status 1. A
  non-chief worker holds no files, so nothing is lost.
  """

  def __init__(self, chief_address: str, lost_message: Callable[[str], str],
               poll_secs: float = CHIEF_POLL_SECS,
               grace_secs: float = CHIEF_GRACE_SECS,
               blocked_step_secs: float = BLOCKED_STEP_SECS):
    self._address = chief_address
    self._lost_message = lost_message
    self._poll_secs = poll_secs
    self._grace_secs = grace_secs
    self._blocked_step_secs = blocked_step_secs
    self._done = threading.Event()
    self._picked_up = threading.Event()
    self._lost: Optional[str] = None
    self._thread = threading.Thread(target=self._watch, daemon=True,
                                    name='chief-watch')

  def __enter__(self) -> 'ChiefWatch':
    self._thread.start()
    return self

  def __exit__(self, *exc_info) -> None:
    self._done.set()
    self._thread.join()

  def check(self) -> None:
    """Raises errors.UserError if the chief is gone."""
    if self._lost:
      self._picked_up.set()
      raise errors.UserError(self._lost)

  def _watch(self) -> None:
    while not self._done.wait(self._poll_secs):
      reason = unreachable(self._address)
      if reason is None:
        continue
      if self._done.wait(self._grace_secs):
        return
      self._lost = self._lost_message(reason)
      if (self._done.wait(self._blocked_step_secs)
          or self._picked_up.is_set()):
        return
      print('Error: %s' % self._lost, file=sys.stderr, flush=True)
      sys.stdout.flush()
      os._exit(1)  # pylint: disable=protected-access

"""tfclassic.cluster_health against real loopback listeners."""
import socket
import time

import pytest
import tensorflow as tf

from tfclassic import cluster_health
from tfclassic import errors

tf1 = tf.compat.v1


def listener() -> tuple[socket.socket, str]:
  """A socket listening on a free loopback port, and its host:port."""
  server = socket.socket()
  server.bind(('127.0.0.1', 0))
  server.listen()
  return server, '127.0.0.1:%d' % server.getsockname()[1]


def test_unreachable_says_why_and_nothing_for_a_listener():
  server, address = listener()
  with server:
    assert cluster_health.unreachable(address) is None
  assert cluster_health.unreachable(address) == 'Connection refused'


class CountingCreator(tf1.train.SessionCreator):
  """Makes real in-process sessions, counting them."""

  def __init__(self):
    self.sessions = 0

  def create_session(self):
    self.sessions += 1
    return tf1.Session(graph=tf.Graph())


def test_a_session_is_made_again_only_while_every_server_answers():
  server, address = listener()
  creator = CountingCreator()
  wrapped = cluster_health.no_wait_for_lost_servers(
      creator, [address], lambda gone, reason: '%s: %s' % (gone, reason))
  with server:
    wrapped.create_session().close()
    wrapped.create_session().close()
  assert creator.sessions == 2
  with pytest.raises(errors.UserError,
                     match='^%s: Connection refused$' % address):
    wrapped.create_session()
  assert creator.sessions == 2


def quick_watch(address: str) -> cluster_health.ChiefWatch:
  return cluster_health.ChiefWatch(
      address, lambda reason: 'the chief is gone (%s)' % reason,
      poll_secs=0.05, grace_secs=2, blocked_step_secs=60)


def test_a_lost_chief_is_reported_after_the_grace_period():
  server, address = listener()
  with quick_watch(address) as watch:
    time.sleep(0.3)
    watch.check()
    server.close()
    time.sleep(0.1)
    watch.check()  # within the grace period: training may be ending
    deadline = time.time() + 10
    with pytest.raises(errors.UserError,
                       match=r'^the chief is gone \(Connection refused\)$'):
      while time.time() < deadline:
        watch.check()
        time.sleep(0.05)


def test_training_that_ends_within_the_grace_period_is_not_stopped():
  server, address = listener()
  watch = quick_watch(address)
  with watch:
    server.close()
    time.sleep(0.1)
  watch.check()
  assert not watch._thread.is_alive()  # pylint: disable=protected-access

"""TensorBoard on a train_dir and eval_dir shows what the tutorial promised.

Starts the real tensorboard program on a free loopback port and asks its
HTTP API, as the browser front end does.
"""
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any, Callable

import pytest

from conftest import free_ports

STARTUP_SECS = 60


class TensorBoard:
  """HTTP access to a running tensorboard."""

  def __init__(self, port: int, process: subprocess.Popen, log_path):
    self._base = 'http://127.0.0.1:%d' % port
    self._process = process
    self._log_path = log_path

  def get(self, route: str) -> bytes:
    with urllib.request.urlopen(self._base + route, timeout=30) as response:
      return response.read()

  def json(self, route: str) -> Any:
    return json.loads(self.get(route))

  def wait_for(self, route: str, ready: Callable[[Any], bool]) -> Any:
    """route's JSON, once ready(json) holds; fails after STARTUP_SECS.

    The server answers before it has read the event files, so the first
    answers may lack runs and tags.
    """
    deadline = time.monotonic() + STARTUP_SECS
    answer = None
    while time.monotonic() < deadline:
      assert self._process.poll() is None, self.log()
      try:
        answer = self.json(route)
        if ready(answer):
          return answer
      except (urllib.error.URLError, ConnectionError):
        pass
      time.sleep(0.5)
    pytest.fail('%s not ready after %d s; last answer %r\n%s'
                % (route, STARTUP_SECS, answer, self.log()))

  def log(self) -> str:
    return 'tensorboard output:\n' + self._log_path.read_text()


@pytest.fixture(scope='module')
def tensorboard(short_run, tmp_path_factory):
  train_dir, eval_dir = short_run.train_dir, short_run.eval_dir
  assert train_dir.parent == eval_dir.parent
  port, = free_ports(1)
  log_path = tmp_path_factory.mktemp('tensorboard') / 'output.txt'
  with open(log_path, 'w') as log:
    process = subprocess.Popen(
        [sys.executable, '-m', 'tensorboard.main',
         '--logdir', str(train_dir.parent), '--port', str(port),
         '--host', '127.0.0.1', '--reload_interval', '1'],
        stdout=log, stderr=subprocess.STDOUT)
  try:
    yield TensorBoard(port, process, log_path)
  finally:
    process.terminate()
    try:
      process.wait(timeout=20)
    except subprocess.TimeoutExpired:
      process.kill()
      process.wait()


def test_plugins_with_data_are_active(tensorboard):
  tensorboard.wait_for(
      '/data/plugins_listing',
      lambda plugins: all(plugins.get(name, {}).get('enabled') for name in
                          ('scalars', 'images', 'histograms', 'graphs')))


def test_scalars_of_training_and_eval(tensorboard):
  tensorboard.wait_for(
      '/data/plugin/scalars/tags',
      lambda tags: {'total_loss', 'total_loss_raw', 'learning_rate',
                    'cross_entropy', 'conv1/conv1/sparsity'} <= set(
                        tags.get('train', ())) and
      'Precision @ 1' in tags.get('eval', ()))
  # Summaries every 3 steps of 12; [wall time, step, value] each.
  points = tensorboard.wait_for(
      '/data/plugin/scalars/scalars?run=train&tag=learning_rate',
      lambda points: len(points) == 4)
  assert [step for _, step, _ in points] == [1, 4, 7, 10]
  assert all(value == pytest.approx(0.1) for _, _, value in points)


def test_input_images_and_histograms(tensorboard):
  tensorboard.wait_for(
      '/data/plugin/images/tags',
      lambda tags: 'images/image/0' in tags.get('train', ()))
  tensorboard.wait_for(
      '/data/plugin/histograms/tags',
      lambda tags: {'conv1/weights', 'conv1/weights/gradients',
                    'conv1/conv1/activations', 'softmax_linear/biases'} <= set(
                        tags.get('train', ())))


def test_graph_of_the_model(tensorboard):
  tensorboard.wait_for('/data/plugin/graphs/info',
                       lambda info: info.get('train', {}).get('run_graph'))
  graph = tensorboard.get('/data/plugin/graphs/graph?run=train'
                          '&limit_attr_size=1024'
                          '&large_attrs_key=_too_large_attrs').decode()
  for node in ('conv1/weights', 'softmax_linear/softmax_linear',
               'total_loss'):
    assert 'name: "%s"' % node in graph, node

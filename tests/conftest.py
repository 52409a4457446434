"""What the tests share: tiny datasets, running a binary, loopback servers,
ports and event files. Test modules import from here, never from each other.
"""
import contextlib
import gzip
import http.server
import os
import pathlib
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Iterator, NamedTuple

import numpy as np
import pytest

import tfclassic  # noqa: F401  (quiets TensorFlow before anything imports it)
import tensorflow as tf
import forkserver
import numpy_model
from cifar10 import data as cifar10_data
from cifar10 import records
from tfclassic import errors

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / 'shared' / 'data'

# Colours that make the synthetic classes learnable: they survive random
# brightness, per-channel contrast and standardization (channel differences).
CLASS_COLOURS = np.array([[200, 40, 40], [40, 200, 40], [40, 40, 200],
                          [200, 200, 40]], np.float64)


def write_records(path, images: np.ndarray, labels) -> None:
  """Writes CIFAR-10 binary records: label byte, then R, G, B planes.

  Encoded here, apart from cifar10.records, so that the readers are tested
  against the layout as the dataset documents it, not against themselves.
  """
  images = np.asarray(images, np.uint8)
  planes = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
  np.concatenate([np.asarray(labels, np.uint8).reshape(-1, 1), planes],
                 axis=1).tofile(str(path))


def learnable_examples(count: int, seed: int,
                       num_classes: int = len(CLASS_COLOURS)):
  """uint8 images [count, 32, 32, 3] whose colour gives the label (0 to
  num_classes - 1, at most 3)."""
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, num_classes, count)
  noise = rng.normal(0, 40, (count, 32, 32, 3))
  images = np.clip(CLASS_COLOURS[labels][:, None, None, :] + noise, 0, 255)
  return images.astype(np.uint8), labels.astype(np.uint8)


def write_dataset(root: pathlib.Path, per_file: int = 40,
                  test_count: int = 60,
                  num_classes: int = len(CLASS_COLOURS)) -> pathlib.Path:
  """A complete tiny dataset in root/cifar-10-batches-bin, its labels below
  num_classes; returns root."""
  batches = root / 'cifar-10-batches-bin'
  batches.mkdir(parents=True, exist_ok=True)
  for i in range(1, 6):
    write_records(batches / ('data_batch_%d.bin' % i),
                  *learnable_examples(per_file, seed=i,
                                      num_classes=num_classes))
  write_records(batches / 'test_batch.bin',
                *learnable_examples(test_count, seed=100,
                                    num_classes=num_classes))
  (batches / 'batches.meta.txt').write_text(
      'airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n')
  return root


# The behaviour this test process runs TensorFlow with: 'v2', or 'v1' as a
# classic TF1 program that calls tf.compat.v1.disable_v2_behavior() first
# (no eager, reference variables, Dimension shapes, v1 control flow). It is
# chosen at start-up, as a TF1 program does; test_tf1_behaviour.py runs the
# graph-builder tests again in a process that chose 'v1'.
TF_BEHAVIOUR_ENV = 'TFCLASSIC_TESTS_TF_BEHAVIOUR'
TF_BEHAVIOUR = os.environ.get(TF_BEHAVIOUR_ENV, 'v2')
if TF_BEHAVIOUR == 'v1':
  tf.compat.v1.disable_v2_behavior()


@pytest.fixture
def tf_behaviour() -> str:
  """For graph-builder tests, which must pass under both behaviours: this
  process's ('v2' or 'v1'). Tests using it are marked `tf_behaviour`."""
  return TF_BEHAVIOUR


def pytest_configure(config):
  config.addinivalue_line(
      'markers', 'tf_behaviour: a graph-builder test, run under TF2 and TF1 '
      'behaviour')
  config.addinivalue_line(
      'markers', 'smoke: train, eval, resume, predict and export of each '
      'package, the few minutes .ci/run also runs on the oldest TensorFlow '
      'setup.py accepts')


def pytest_collection_modifyitems(items):
  for item in items:
    if 'tf_behaviour' in getattr(item, 'fixturenames', ()):
      item.add_marker('tf_behaviour')


class Tf1Child(NamedTuple):
  """The pytest process that runs the graph-builder tests under TF1
  behaviour, the files of its output, and its folder (removed at the end)."""
  process: subprocess.Popen
  stdout: pathlib.Path
  stderr: pathlib.Path
  work: pathlib.Path


# Started as soon as the tests are collected, if test_tf1_behaviour.py is
# among them, so that it runs beside the other tests; that test awaits it.
_tf1_child: Tf1Child | None = None


def pytest_collection_finish(session):
  global _tf1_child
  if TF_BEHAVIOUR == 'v2' and any(
      item.nodeid.startswith('tests/test_tf1_behaviour.py::')
      for item in session.items):
    work = pathlib.Path(tempfile.mkdtemp(prefix='tf1-behaviour-'))
    stdout, stderr = work / 'stdout', work / 'stderr'
    with open(stdout, 'w') as out, open(stderr, 'w') as err:
      process = subprocess.Popen(
          [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
           '--basetemp=%s' % (work / 'tmp'), '-m', 'tf_behaviour', 'tests'],
          cwd=PROJECT_ROOT, env=module_env(**{TF_BEHAVIOUR_ENV: 'v1'}),
          stdout=out, stderr=err)
    _tf1_child = Tf1Child(process, stdout, stderr, work)


def pytest_sessionfinish(session):
  if _tf1_child:
    if _tf1_child.process.poll() is None:
      _tf1_child.process.kill()
      _tf1_child.process.wait()
    shutil.rmtree(_tf1_child.work, ignore_errors=True)


def tf1_child() -> Tf1Child:
  """The TF1-behaviour pytest child started at collection."""
  assert _tf1_child, 'started only when test_tf1_behaviour.py is collected'
  return _tf1_child


@pytest.fixture(scope='session')
def cifar_data(tmp_path_factory) -> pathlib.Path:
  """A tiny synthetic CIFAR-10 data_dir shared by the tests (read only)."""
  return write_dataset(tmp_path_factory.mktemp('cifar10_data'))


# Flags that make the binaries quick on the tiny dataset. (With batches of 16
# the tutorial's learning rate of 0.1 diverges on it after about 40 steps.)
QUICK_TRAIN_FLAGS = ['--batch_size=32', '--min_queue_fraction=0.002',
                     '--log_frequency=5']


# Every child process a test starts ends by then, or the test fails.
CHILD_TIMEOUT_SECS = 300


def module_env(**extra: str) -> dict:
  """The environment a binary runs in: the project importable, plus extra."""
  return dict(os.environ, PYTHONPATH=str(PROJECT_ROOT), **extra)


def run_module(module: str, *args: str, timeout: float = CHILD_TIMEOUT_SECS,
               check: bool = True, env: dict | None = None
               ) -> subprocess.CompletedProcess:
  """Runs `python -m module args` from the project root, as a user would
  (through the fork server: see forkserver.py)."""
  result = forkserver.run(module, args, str(PROJECT_ROOT),
                          env or module_env(), timeout)
  if check and result.returncode != 0:
    raise AssertionError('%s exited %d\nstdout:\n%s\nstderr:\n%s' % (
        module, result.returncode, result.stdout, result.stderr))
  return result


def start_module(module: str, *args: str, stdout=subprocess.PIPE,
                 stderr=subprocess.PIPE, env: dict | None = None):
  """Starts `python -u -m module args` from the project root; returns a
  subprocess.Popen-like handle (pid, stdout, stderr, poll, wait,
  send_signal, kill)."""
  return forkserver.spawn(module, args, str(PROJECT_ROOT), env or module_env(),
                          unbuffered=True, stdout=stdout, stderr=stderr)


def interrupt_when(module: str, *args: str, pattern: str,
                   signum: int = signal.SIGINT,
                   timeout: float = CHILD_TIMEOUT_SECS,
                   while_running=None) -> tuple[int, str, str, float]:
  """Starts `python -m module args`, sends `signum` once a line of its
  stdout matches `pattern` (a regex), and waits for it to end.

  while_running(pid), if given, is called between the match and the signal.

  Returns:
    (exit code, stdout, stderr, seconds from the signal to the exit).

  Raises:
    AssertionError: the pattern never showed, or the process outlived
      `timeout`.
  """
  process = start_module(module, *args)
  lines = []
  # Read on the side, so that a child writing much to stderr never blocks.
  errors_read = []
  drain = threading.Thread(target=lambda: errors_read.append(
      process.stderr.read()), daemon=True)
  drain.start()
  killer = threading.Timer(timeout, process.kill)
  killer.start()
  try:
    for line in process.stdout:
      lines.append(line)
      if re.search(pattern, line):
        break
    else:
      process.wait()
      drain.join()
      raise AssertionError('%s ended before printing %r:\n%s%s' % (
          module, pattern, ''.join(lines), ''.join(errors_read)))
    if while_running:
      while_running(process.pid)
    signalled = time.time()
    process.send_signal(signum)
    out = process.stdout.read()
    process.wait()
    exited = time.time()
    drain.join()
    return (process.returncode, ''.join(lines) + out, ''.join(errors_read),
            exited - signalled)
  finally:
    killer.cancel()
    if process.poll() is None:
      process.kill()
      process.wait()


class SmallFilesystem(NamedTuple):
  """A real tmpfs mounted for one test.

  Attributes:
    path: where it is mounted.
    resize: resize(megabytes) grows (or shrinks) it in place.
  """
  path: pathlib.Path
  resize: object


@contextlib.contextmanager
def mounted_tmpfs(mount_point: pathlib.Path, megabytes: float,
                  why: str) -> Iterator[pathlib.Path]:
  """A real tmpfs of `megabytes` mounted at mount_point (created) for the
  block. Needs the right to mount (root); skips the test otherwise, saying
  `why` it needs one."""
  mount_point.mkdir()
  mounted = subprocess.run(['mount', '-t', 'tmpfs', '-o',
                            'size=%dk' % (megabytes * 1024), 'tmpfs',
                            str(mount_point)], capture_output=True, text=True)
  if mounted.returncode != 0:
    pytest.skip('cannot mount a tmpfs here (%s): %s need to run as root'
                % (mounted.stderr.strip(), why))
  try:
    yield mount_point
  finally:
    subprocess.run(['umount', '--lazy', str(mount_point)], check=True)


def remount(mount_point: pathlib.Path, options: str) -> None:
  """Changes a mounted_tmpfs's options, e.g. 'ro' or 'size=2048k'."""
  subprocess.run(['mount', '-o', 'remount,' + options, str(mount_point)],
                 check=True)


@pytest.fixture
def small_filesystem(tmp_path) -> Iterator[SmallFilesystem]:
  """A 12 MB tmpfs at tmp_path/small: a disk that fills up for real."""
  with mounted_tmpfs(tmp_path / 'small', 12,
                     'the disk-full tests') as mount_point:
    yield SmallFilesystem(mount_point, lambda megabytes: remount(
        mount_point, 'size=%dk' % (megabytes * 1024)))


def assert_stopped_by_a_full_disk(result: subprocess.CompletedProcess,
                                  train_dir: pathlib.Path) -> None:
  """A training run stopped with the one full-disk paragraph, leaving its
  first checkpoint (model.ckpt-0) named and nothing half-written."""
  assert result.returncode == 1, result.stderr
  assert result.stderr == (
      'Error: No space left on the device to write in %s. Free some space '
      'there (or choose another directory) and run again. Its last complete '
      'checkpoint is %s/model.ckpt-0: run again once there is space to '
      'resume from it.\n' % (train_dir, train_dir))
  assert tf.compat.v1.train.latest_checkpoint(str(train_dir)) == str(
      train_dir / 'model.ckpt-0')
  assert not [p.name for p in train_dir.iterdir() if 'temp' in p.name]


def free_ports(count: int) -> list[int]:
  """`count` distinct loopback ports, all bound at once so none repeats.

  They are released on return, for the caller's servers to bind.
  """
  with contextlib.ExitStack() as stack:
    sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
    for s in sockets:
      s.bind(('127.0.0.1', 0))
    return [s.getsockname()[1] for s in sockets]


class LoopbackServer:
  """A real HTTP server on 127.0.0.1 serving `files` (path -> bytes).

  Attributes:
    files: what it serves; tests add to it.
    requests: the paths asked for, in order.
    cut: paths whose transfer breaks off halfway (Content-Length says all).
    url: 'http://127.0.0.1:PORT'.
  """

  def __init__(self):
    self.files: dict[str, bytes] = {}
    self.requests: list[str] = []
    self.cut: set[str] = set()
    server = self

    class Handler(http.server.BaseHTTPRequestHandler):
      def do_GET(self):
        server.requests.append(self.path)
        if self.path not in server.files:
          self.send_error(404)
          return
        body = server.files[self.path]
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body[:len(body) // 2] if self.path in server.cut
                         else body)

      def log_message(self, *args):
        pass

    self._httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    self.url = 'http://127.0.0.1:%d' % self._httpd.server_address[1]
    self._thread = threading.Thread(target=self._httpd.serve_forever,
                                    daemon=True)
    self._thread.start()

  def close(self) -> None:
    self._httpd.shutdown()
    self._httpd.server_close()


@pytest.fixture
def loopback_server() -> Iterator[LoopbackServer]:
  """A LoopbackServer for one test."""
  server = LoopbackServer()
  yield server
  server.close()


def closed_port_url() -> str:
  """A loopback URL where nothing listens: a download there fails at once."""
  return 'http://127.0.0.1:%d/' % free_ports(1)[0]


def read_scalars(log_dir) -> dict[str, list[tuple[int, float]]]:
  """The scalar summaries of every event file in log_dir: tag -> [(step,
  value)] in the order written."""
  scalars: dict[str, list[tuple[int, float]]] = {}
  for path in sorted(pathlib.Path(log_dir).glob('events.out.tfevents.*')):
    for event in tf.compat.v1.train.summary_iterator(str(path)):
      for value in event.summary.value:
        if value.HasField('simple_value'):
          scalars.setdefault(value.tag, []).append(
              (event.step, value.simple_value))
  return scalars


def summary_tags(log_dir) -> set[str]:
  """Every summary tag (scalars, histograms, images) written in log_dir."""
  tags = set()
  for path in pathlib.Path(log_dir).glob('events.out.tfevents.*'):
    for event in tf.compat.v1.train.summary_iterator(str(path)):
      tags.update(value.tag for value in event.summary.value)
  return tags


def write_idx(path, array, magic: int) -> None:
  """Writes a gzipped MNIST IDX file: magic, dimensions, then the bytes."""
  array = np.asarray(array, np.uint8)
  header = magic.to_bytes(4, 'big') + b''.join(
      d.to_bytes(4, 'big') for d in array.shape)
  with gzip.open(path, 'wb') as f:
    f.write(header + array.tobytes())


def write_mnist_dataset(data_dir: pathlib.Path, train_count: int = 300,
                        test_count: int = 50, seed: int = 0) -> pathlib.Path:
  """Learnable synthetic MNIST in data_dir: class k lights image row 2k+4."""
  data_dir.mkdir(parents=True, exist_ok=True)
  rng = np.random.RandomState(seed)
  for prefix, count in [('train', train_count), ('t10k', test_count)]:
    labels = rng.randint(0, 10, count)
    images = rng.randint(0, 60, (count, 28, 28))
    images[np.arange(count), 2 * labels + 4, :] = 255
    write_idx(data_dir / f'{prefix}-images-idx3-ubyte.gz', images, 2051)
    write_idx(data_dir / f'{prefix}-labels-idx1-ubyte.gz', labels, 2049)
  return data_dir


@pytest.fixture(scope='session')
def mnist_data(tmp_path_factory) -> pathlib.Path:
  """A tiny learnable MNIST data_dir shared by the tests (read only)."""
  return write_mnist_dataset(tmp_path_factory.mktemp('mnist_data'))


# cifar10: the tests' training runs, and figures of their checkpoints
# computed without the cifar10 model (tests/numpy_model.py).

# Every cifar10 training run on the tiny data starts from a fixed seed: the
# tutorial's learning rate diverges on it from some random starts.
CIFAR10_SEED_FLAG = '--seed=1'
# The steps of the shared short_run.
SHORT_RUN_STEPS = 12


def checkpoint_steps(train_dir) -> list[int]:
  """The global steps of the checkpoints in train_dir, ascending."""
  return sorted(int(re.search(r'ckpt-(\d+)\.index$', path.name).group(1))
                for path in pathlib.Path(train_dir).glob('model.ckpt-*.index'))


class ShortRun(NamedTuple):
  """What the short_run fixture made.

  Attributes:
    train_dir: cifar10.train's train_dir after SHORT_RUN_STEPS steps.
    eval_dir: cifar10.eval's eval_dir after scoring the last checkpoint.
    train: the training run (its output).
    checkpoint: the last checkpoint's path.
  """
  train_dir: pathlib.Path
  eval_dir: pathlib.Path
  train: subprocess.CompletedProcess

  @property
  def checkpoint(self) -> pathlib.Path:
    return self.train_dir / ('model.ckpt-%d' % SHORT_RUN_STEPS)


@pytest.fixture(scope='session')
def short_run(cifar_data, tmp_path_factory) -> ShortRun:
  """SHORT_RUN_STEPS quick steps of cifar10.train (summaries every 3) and an
  eval of the last checkpoint, made once per session: the trained model of
  every test that reads one without changing it.

  The folders are train/ and eval/ of one logdir, as TensorBoard wants them.
  """
  logdir = tmp_path_factory.mktemp('short_run')
  train_dir, eval_dir = logdir / 'train', logdir / 'eval'
  train = run_module('cifar10.train', '--data_dir=%s' % cifar_data,
                     '--train_dir=%s' % train_dir,
                     '--max_steps=%d' % SHORT_RUN_STEPS,
                     '--save_summaries_steps=3', *QUICK_TRAIN_FLAGS,
                     CIFAR10_SEED_FLAG)
  run_module('cifar10.eval', '--data_dir=%s' % cifar_data,
             '--checkpoint_dir=%s' % train_dir, '--eval_dir=%s' % eval_dir,
             '--run_once', '--batch_size=16')
  return ShortRun(train_dir, eval_dir, train)


def damage_checkpoint(checkpoint, part: str, how: str) -> None:
  """Damages a checkpoint's 'data' (its largest shard) or 'index' file:
  'truncate' cuts it in half, 'flip' inverts 16 bytes in its middle."""
  files = pathlib.Path(checkpoint).parent.glob(
      pathlib.Path(checkpoint).name + ('.data-*' if part == 'data'
                                       else '.index'))
  path = max(files, key=os.path.getsize)
  content = bytearray(path.read_bytes())
  middle = len(content) // 2
  if how == 'truncate':
    del content[middle:]
  else:
    content[middle:middle + 16] = bytes(b ^ 0xFF for b in
                                        content[middle:middle + 16])
  path.write_bytes(bytes(content))


def numpy_predictions(checkpoint, data_dir, num_examples: int,
                      moving_average: bool = True
                      ) -> tuple[np.ndarray, np.ndarray]:
  """The labels of the first num_examples test records, and the
  predictions of the checkpoint's moving-average (or raw) weights, in
  numpy."""
  test_file = cifar10_data.data_files(str(data_dir), eval_data=True)
  images, labels = records.Cifar10Reader(test_file).batch(
      range(num_examples))
  return labels, numpy_model.probabilities(checkpoint, images,
                                           moving_average).argmax(1)


def numpy_precision(checkpoint, data_dir, num_examples: int,
                    moving_average: bool = True) -> float:
  """Precision @ 1 of the checkpoint's moving-average (or raw) weights, in
  numpy."""
  labels, predictions = numpy_predictions(checkpoint, data_dir, num_examples,
                                          moving_average)
  return float(np.mean(predictions == labels))


def assert_eval_matches_numpy(data_dir, train_dir, num_examples: int,
                              *eval_flags: str) -> subprocess.CompletedProcess:
  """Runs cifar10.eval --run_once on train_dir's latest checkpoint and checks
  the precision it prints against numpy's count, for the same checkpoint, on
  the first num_examples test records.

  Args:
    data_dir, train_dir: the data and the trained model.
    num_examples: the records eval scores (its --num_examples, unless
      eval_flags gives another).
    eval_flags: more flags for eval, after the others.

  Returns:
    The eval run.
  """
  train_dir = pathlib.Path(train_dir)
  result = run_module('cifar10.eval', '--data_dir=%s' % data_dir,
                      '--checkpoint_dir=%s' % train_dir,
                      '--eval_dir=%s' % (train_dir / 'eval'), '--run_once',
                      '--num_examples=%d' % num_examples, '--batch_size=16',
                      *eval_flags)
  printed = re.findall(r': precision @ 1 = (\d\.\d{3})$', result.stdout,
                       re.M)
  checkpoint = train_dir / ('model.ckpt-%d' % checkpoint_steps(train_dir)[-1])
  assert printed == ['%.3f' % numpy_precision(checkpoint, data_dir,
                                              num_examples)], result.stdout
  return result


def summary_values(log_dir, tag: str
                   ) -> list[tuple[int, tf.compat.v1.Summary.Value]]:
  """(step, value) of every summary tagged `tag` in log_dir, in the order
  written: scalars, images, histograms alike."""
  values = []
  for path in sorted(pathlib.Path(log_dir).glob('events.out.tfevents.*')):
    for event in tf.compat.v1.train.summary_iterator(str(path)):
      values += [(event.step, value) for value in event.summary.value
                 if value.tag == tag]
  return values


@pytest.fixture(scope='session')
def mnist_mlp_train_dir(mnist_data, tmp_path_factory) -> pathlib.Path:
  """A train_dir of mlp after 10 steps on mnist_data (read only): part
  trained, so its test count is neither 0 nor all."""
  train_dir = tmp_path_factory.mktemp('mnist_mlp_train')
  run_module('mnist.train', '--model=mlp', '--max_steps=10', '--seed=0',
             '--validation_size=100', '--checkpoint_every=5',
             '--data_dir=%s' % mnist_data, '--train_dir=%s' % train_dir)
  return train_dir


def check_benchmark_row(figures: dict, ceiling_seconds: list[float],
                        table_cells: list[str], batch_size: int,
                        timed_steps: int) -> None:
  """Asserts that one row of a benchmark's --json figures agrees with the
  step times it recorded, with its ceiling's, and with its table cells."""
  seconds = figures['step_seconds']
  assert len(seconds) == figures['timed_steps'] == timed_steps
  median = statistics.median(seconds)
  assert figures['ms_per_step'] == pytest.approx(1000 * median)
  assert figures['examples_per_sec'] == pytest.approx(batch_size / median)
  assert figures['ratio_to_ceiling'] == pytest.approx(
      statistics.median(ceiling_seconds) / median)
  assert figures['mean_ratio_to_ceiling'] == pytest.approx(
      statistics.mean(ceiling_seconds) / statistics.mean(seconds))
  # A process that has loaded TensorFlow holds well over 100 MB.
  assert figures['peak_rss_mb'] > 100
  assert table_cells == [
      '%.2f' % figures['ms_per_step'], '%.0f' % figures['examples_per_sec'],
      '%.2f' % figures['ratio_to_ceiling'],
      '%.2f' % figures['mean_ms_per_step'],
      '%.2f' % figures['mean_ratio_to_ceiling'], '%d' % timed_steps,
      '%.0f' % figures['peak_rss_mb']]


# A run stopped by Ctrl-C ends within this many seconds of the signal.
STOP_SECS = 10


PROFILE_HEADER = re.compile(r'^(\S.*) \((\d+) traced steps; step '
                            r'(\d+\.\d\d) ms\):$')
PROFILE_LINE = re.compile(r'^  (\S.*?) +(\d+\.\d\d) ms +(\d+\.\d)%$')


def profile_section(stdout: str) -> dict[str, list[tuple[str, float, float]]]:
  """A benchmark's --profile section: row -> [(op type, ms per step,
  share %)], the "(N others)" line included."""
  profiles, row = {}, None
  for line in stdout.splitlines():
    header = PROFILE_HEADER.match(line)
    if header:
      row = header.group(1)
      profiles[row] = []
    elif row and PROFILE_LINE.match(line):
      kind, ms, share = PROFILE_LINE.match(line).groups()
      profiles[row].append((kind, float(ms), float(share)))
  return profiles


def interrupt_cleanly(module: str, *args: str, pattern: str) -> str:
  """interrupt_when() with SIGINT, asserting that the run then ended as a
  Ctrl-C'd binary must: status 0 or 130, within STOP_SECS, no traceback.

  Returns:
    Its stdout.
  """
  code, out, err, secs = interrupt_when(module, *args, pattern=pattern)
  assert code in (0, errors.INTERRUPTED_EXIT_CODE), err
  assert secs < STOP_SECS, secs
  assert 'Traceback' not in err, err
  return out


def latest_step(train_dir) -> int:
  """The global step of train_dir's latest checkpoint."""
  checkpoint = tf.compat.v1.train.latest_checkpoint(str(train_dir))
  return int(tf.train.load_variable(checkpoint, 'global_step'))


def interrupt_training(module: str, *args: str, train_dir,
                       pattern: str) -> tuple[str, int]:
  """interrupt_cleanly() a training binary writing to train_dir, asserting
  that it said which checkpoint it saved on stopping.

  Returns:
    (its stdout, the global step of that checkpoint).
  """
  out = interrupt_cleanly(module, *args, pattern=pattern)
  step = latest_step(train_dir)
  assert 'Stopped by SIGINT; saved %s/model.ckpt-%d.' % (train_dir, step) in (
      out), out
  return out, step

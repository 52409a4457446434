"""`python -m MODULE ARGS` for the tests, without TensorFlow's import each time.

Importing TensorFlow takes 5-8 s on 2 CPU cores, longer than most of the
tests' runs themselves. A server process imports it and the project's
library modules once; each run is then a fork of that server that executes
MODULE as `python -m` does (`runpy`, `__main__`, sys.argv, sys.path[0], the
caller's cwd, environment, stdin/stdout/stderr and signals), so what a test
sees is what a user running the binary sees, minus the import time.

What differs from a fresh interpreter, and how the tests keep to fresh
ones there:
- Modules imported by the server are not imported again: a test that
  checks what importing prints, or that changes an environment variable
  TensorFlow reads at import (TF_*, CUDA_*, OMP_*, ...), runs a real
  subprocess; `spawn` does that by itself for such environments.
- The binaries themselves are never imported by the server (absl flags are
  defined when a binary is imported), so each run defines its flags afresh.

The server runs `python tests/forkserver.py SOCKET` and lives while its
stdin is open (the test process holds the other end).
"""
import atexit
import io
import json
import os
import runpy
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import traceback
from typing import Optional

# Imported once by the server: everything slow that the binaries share.
PRELOAD = (
    'tfclassic', 'tensorflow', 'numpy', 'absl.app', 'absl.flags',
    'tfclassic.training', 'tfclassic.evaluation', 'tfclassic.benchmark',
    'tfclassic.flags', 'cifar10.model', 'cifar10.inputs', 'cifar10.towers',
    'cifar10.train_graph', 'mnist.model', 'mnist.input', 'linear.model',
)
# Environment variables whose value at TensorFlow's import matters: a run
# whose environment differs from the server's in one of them gets a fresh
# interpreter.
IMPORT_TIME_PREFIXES = ('TF_', 'CUDA', 'OMP_', 'KMP_', 'MKL', 'XLA_',
                        'OPENBLAS', 'PYTHON', 'LD_', 'MPLBACKEND')
_MAX_REQUEST = 1 << 20


# -- server side ------------------------------------------------------------


def _text_stream(fd: int, mode: str, unbuffered: bool) -> io.TextIOWrapper:
  """A sys.stdin/stdout/stderr over fd, buffered as python buffers it."""
  raw = io.FileIO(fd, mode, closefd=False)
  if mode == 'r':
    return io.TextIOWrapper(io.BufferedReader(raw), encoding='utf-8')
  binary = raw if unbuffered else io.BufferedWriter(raw)
  return io.TextIOWrapper(binary, encoding='utf-8',
                          errors='backslashreplace' if fd == 2 else 'strict',
                          line_buffering=fd == 2 and not unbuffered,
                          write_through=unbuffered)


def _exit_code(exit: SystemExit) -> int:
  """The status python exits with for an uncaught SystemExit."""
  if exit.code is None:
    return 0
  if isinstance(exit.code, int):
    return exit.code
  print(exit.code, file=sys.stderr)
  return 1


def _run_child(request: dict, fds: list) -> None:
  """In the forked child: become `python -m MODULE ARGS` and exit."""
  for target, fd in enumerate(fds):
    os.dup2(fd, target)
    os.close(fd)
  os.chdir(request['cwd'])
  os.environ.clear()
  os.environ.update(request['env'])
  signal.signal(signal.SIGINT, signal.default_int_handler)
  for signum in (signal.SIGTERM, signal.SIGCHLD, signal.SIGHUP):
    signal.signal(signum, signal.SIG_DFL)
  unbuffered = request['unbuffered'] or bool(os.environ.get(
      'PYTHONUNBUFFERED'))
  sys.stdin = _text_stream(0, 'r', unbuffered)
  sys.stdout = _text_stream(1, 'w', unbuffered)
  sys.stderr = _text_stream(2, 'w', unbuffered)
  sys.argv = ['-m', *request['args']]
  sys.orig_argv = [sys.executable, '-m', request['module'], *request['args']]
  sys.path[0] = request['cwd']
  code = 1
  try:
    runpy._run_module_as_main(request['module'])  # what `python -m` runs
    code = 0
  except SystemExit as exit:
    code = _exit_code(exit)
  except KeyboardInterrupt:
    traceback.print_exc()
    code = -signal.SIGINT
  except BaseException:  # pylint: disable=broad-except
    traceback.print_exc()
  try:
    threading._shutdown()  # pylint: disable=protected-access
    atexit._run_exitfuncs()  # pylint: disable=protected-access
    sys.stdout.flush()
    sys.stderr.flush()
  finally:
    if code == -signal.SIGINT:  # as python ends on an uncaught Ctrl-C
      signal.signal(signal.SIGINT, signal.SIG_DFL)
      os.kill(os.getpid(), signal.SIGINT)
    os._exit(code & 0xFF)


def _serve_one(connection: socket.socket, listener: socket.socket) -> None:
  """In a forked monitor: start the child, report its pid, then its status."""
  message, fds, _, _ = socket.recv_fds(connection, _MAX_REQUEST, 3)
  request = json.loads(message)
  child = os.fork()
  if child == 0:
    try:
      listener.close()
      connection.close()
      _run_child(request, fds)
    except BaseException:  # pylint: disable=broad-except
      traceback.print_exc()
    finally:
      os._exit(70)
  for fd in fds:
    os.close(fd)
  connection.sendall(b'%d\n' % child)
  _, status = os.waitpid(child, 0)
  connection.sendall(b'%d\n' % os.waitstatus_to_exitcode(status))


def serve(path: str) -> None:
  """The server: preload, listen on the Unix socket `path`, fork per run."""
  import importlib  # pylint: disable=import-outside-toplevel
  for module in PRELOAD:
    importlib.import_module(module)
  listener = socket.socket(socket.AF_UNIX)
  listener.bind(path)
  listener.listen(16)
  sys.stdout.write('ready\n')
  sys.stdout.flush()
  while True:
    readable, _, _ = select.select([listener, sys.stdin], [], [])
    if sys.stdin in readable and not os.read(0, 1024):
      return  # the test process is gone
    if listener in readable:
      connection, _ = listener.accept()
      if os.fork() == 0:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        try:
          _serve_one(connection, listener)
        finally:
          os._exit(0)
      connection.close()
    while True:  # reap the monitors that have finished
      try:
        if os.waitpid(-1, os.WNOHANG)[0] == 0:
          break
      except ChildProcessError:
        break


# -- test side --------------------------------------------------------------


class Child:
  """A run started by the server: the part of subprocess.Popen the tests use.

  Attributes:
    pid: the child's process id (signals go straight to it).
    stdout, stderr: text streams of its output, or None where not piped.
    returncode: its exit status once ended (negative: killed by a signal).
  """

  def __init__(self, connection: socket.socket, stdout, stderr):
    self._connection = connection
    self._replies = connection.makefile('r')
    self.pid = int(self._replies.readline())
    self.stdout, self.stderr = stdout, stderr
    self.returncode: Optional[int] = None

  def poll(self) -> Optional[int]:
    if self.returncode is None:
      readable, _, _ = select.select([self._connection], [], [], 0)
      if readable:
        self._read_status()
    return self.returncode

  def wait(self, timeout: Optional[float] = None) -> int:
    if self.returncode is None:
      readable, _, _ = select.select([self._connection], [], [], timeout)
      if not readable:
        raise subprocess.TimeoutExpired('pid %d' % self.pid, timeout)
      self._read_status()
    return self.returncode

  def communicate(self) -> tuple:
    """Reads stdout and stderr to their ends, waits; returns (out, err)."""
    read = {}
    readers = [threading.Thread(target=lambda stream=stream: read.__setitem__(
        stream, stream.read()), daemon=True)
               for stream in (self.stdout, self.stderr) if stream]
    for reader in readers:
      reader.start()
    for reader in readers:
      reader.join()
    self.wait()
    return tuple(read.get(stream) for stream in (self.stdout, self.stderr))

  def _read_status(self) -> None:
    line = self._replies.readline()
    # A monitor killed from outside reports nothing: treat as killed.
    self.returncode = int(line) if line else -signal.SIGKILL
    self._replies.close()
    self._connection.close()

  def send_signal(self, signum: int) -> None:
    if self.returncode is None:
      try:
        os.kill(self.pid, signum)
      except ProcessLookupError:
        pass

  def kill(self) -> None:
    self.send_signal(signal.SIGKILL)

  def terminate(self) -> None:
    self.send_signal(signal.SIGTERM)


class _Server:
  """The one server process of this test session, started on first use."""

  def __init__(self, cwd: str, env: dict):
    self._folder = tempfile.mkdtemp(prefix='forkserver-')
    self.path = os.path.join(self._folder, 'socket')
    self.env = env
    self._process = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), self.path], cwd=cwd,
        env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    if self._process.stdout.readline() != b'ready\n':
      raise RuntimeError('the test fork server did not start (exit %s)'
                         % self._process.wait())
    atexit.register(self.close)

  def close(self) -> None:
    self._process.stdin.close()
    self._process.wait()
    if os.path.exists(self.path):
      os.unlink(self.path)
    os.rmdir(self._folder)


_server: Optional[_Server] = None
_server_lock = threading.Lock()


def _needs_fresh_interpreter(env: dict, server_env: dict) -> bool:
  names = set(env) | set(server_env)
  return any(env.get(name) != server_env.get(name) for name in names
             if name.startswith(IMPORT_TIME_PREFIXES))


def spawn(module: str, args, cwd: str, env: dict, unbuffered: bool = False,
          stdout=None, stderr=None, text: bool = True):
  """Starts `python [-u] -m module args` as subprocess.Popen would, with
  stdout and stderr each subprocess.PIPE, DEVNULL, None (inherit) or an
  open file, and stderr also subprocess.STDOUT.

  Returns:
    A Child, or a subprocess.Popen where the environment needs a fresh
    interpreter (or before the server could start).
  """
  global _server
  with _server_lock:
    if _server is None:
      _server = _Server(cwd, env)
  if _needs_fresh_interpreter(env, _server.env):
    return subprocess.Popen(
        [sys.executable, *(['-u'] if unbuffered else []), '-m', module,
         *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=stdout,
        stderr=stderr, text=text)
  ends, ours = [], []
  with open(os.devnull, 'rb') as stdin_null:
    ends.append(os.dup(stdin_null.fileno()))
  for spec, fd in ((stdout, 1), (stderr, 2)):
    if spec == subprocess.PIPE:
      read, write = os.pipe()
      ends.append(write)
      ours.append(open(read, 'r' if text else 'rb'))
      continue
    if spec == subprocess.DEVNULL:
      ends.append(os.open(os.devnull, os.O_WRONLY))
    elif spec == subprocess.STDOUT:
      ends.append(os.dup(ends[1]))
    elif spec is None:
      ends.append(os.dup(fd))
    else:  # an open file
      ends.append(os.dup(spec.fileno()))
    ours.append(None)
  connection = socket.socket(socket.AF_UNIX)
  try:
    connection.connect(_server.path)
    request = {'module': module, 'args': list(args), 'cwd': str(cwd),
               'env': dict(env), 'unbuffered': unbuffered}
    socket.send_fds(connection, [json.dumps(request).encode()], ends)
  finally:
    for fd in ends:
      os.close(fd)
  return Child(connection, *ours)


def run(module: str, args, cwd: str, env: dict, timeout: float
        ) -> subprocess.CompletedProcess:
  """subprocess.run(['python', '-m', module, *args], capture_output=True,
  text=True, timeout=timeout), through the server."""
  child = spawn(module, args, cwd, env, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE)
  if isinstance(child, subprocess.Popen):
    with child:
      try:
        out, err = child.communicate(timeout=timeout)
      except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        raise
    return subprocess.CompletedProcess(child.args, child.returncode, out, err)
  timed_out = threading.Event()
  killer = threading.Timer(timeout, lambda: (timed_out.set(), child.kill()))
  killer.start()
  try:
    out, err = child.communicate()
  finally:
    killer.cancel()
    child.stdout.close()
    child.stderr.close()
  command = ['python', '-m', module, *args]
  if timed_out.is_set():
    raise subprocess.TimeoutExpired(command, timeout, out, err)
  return subprocess.CompletedProcess(command, child.returncode, out, err)


if __name__ == '__main__':
  serve(sys.argv[1])

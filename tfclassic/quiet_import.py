"""Imports TensorFlow once, without its start-up noise, with oneDNN on.

The tutorials deliberately use the TF1 graph API (queues, Sessions, Savers),
so TF's per-call deprecation notices would bury the training log. TF 2.x also
prints C++ notices: at start-up (oneDNN, CUDA probing) before its own log level
applies, then ERROR lines about absent CUDA drivers that change nothing
(cuInit's failure) and XLA's and MLIR's notes on their first use.
TF_CPP_MIN_LOG_LEVEL=3 hides those later ones; TF applies it to the ones it logs
through Abseil only from 2.21 on, hence setup.py's floor. Errors that matter
still arrive as Python exceptions. Set TF_CPP_MIN_LOG_LEVEL=0 to see all of
TensorFlow's messages again.

It also turns on TensorFlow's oneDNN kernels, which TF enables by itself only
on CPUs with AVX-512 VNNI, BF16 or AMX; on others TF's own kernels are much
slower (docs/performance.md). Set TF_ENABLE_ONEDNN_OPTS=0 to keep them.
"""
import os
import sys
import tempfile


def import_tensorflow() -> None:
  """Imports TensorFlow with its import-time stderr notices held back.

  They are written before TF reads TF_CPP_MIN_LOG_LEVEL, so the only way to
  hide them is to point file descriptor 2 elsewhere while the import runs. If
  the import fails, what it printed is replayed so nothing useful is lost.
  Both environment defaults must be set before TensorFlow loads: setting
  them later changes nothing.
  """
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
  os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '1')
  if 'tensorflow' not in sys.modules and (
      os.environ['TF_CPP_MIN_LOG_LEVEL'] != '0'):
    _import_with_stderr_captured()
  import tensorflow as tf
  from tensorflow.python.util import deprecation
  deprecation._PRINT_DEPRECATION_WARNINGS = False
  tf.get_logger().setLevel('ERROR')


def _import_with_stderr_captured() -> None:
  sys.stderr.flush()
  saved_stderr = os.dup(2)
  with tempfile.TemporaryFile() as captured:
    os.dup2(captured.fileno(), 2)
    try:
      import tensorflow  # noqa: F401
    except BaseException:
      os.dup2(saved_stderr, 2)
      captured.seek(0)
      sys.stderr.write(captured.read().decode(errors='replace'))
      raise
    finally:
      os.dup2(saved_stderr, 2)
      os.close(saved_stderr)

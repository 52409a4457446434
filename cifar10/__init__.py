"""The TensorFlow CIFAR-10 tutorial, running on TF 2.x through tf.compat.v1.

Importing the package quiets TensorFlow once, for every binary and test. The
tutorial deliberately uses the TF1 graph API (queues, Sessions, Savers), so
TF's per-call deprecation notices would bury the training log, and TF 2.x
prints C++ start-up notices (oneDNN, CUDA probing) before its own log level
applies, then ERROR lines about absent CUDA drivers and oneDNN fallbacks that
change nothing. Errors that matter still arrive as Python exceptions. Set
TF_CPP_MIN_LOG_LEVEL=0 to see all of TensorFlow's messages again.

It also turns on TensorFlow's oneDNN kernels, which TF enables by itself only
on CPUs with AVX-512 VNNI, BF16 or AMX. On others its own kernels are much
slower: on a 2-core AVX2 AMD EPYC, a training step of batch 128 took 254 ms
with them and 157 ms with oneDNN. Set TF_ENABLE_ONEDNN_OPTS=0 to keep TF's
own kernels.
"""
import os
import sys
import tempfile

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
# Read once, when TensorFlow loads: setting it later changes nothing.
os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '1')


def _import_tensorflow_quietly() -> None:
  """Imports TensorFlow with its import-time stderr notices held back.

  They are written before TF reads TF_CPP_MIN_LOG_LEVEL, so the only way to
  hide them is to point file descriptor 2 elsewhere while the import runs. If
  the import fails, what it printed is replayed so nothing useful is lost.
  """
  if 'tensorflow' in sys.modules or os.environ['TF_CPP_MIN_LOG_LEVEL'] == '0':
    import tensorflow  # noqa: F401
    return
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


_import_tensorflow_quietly()

import tensorflow as tf  # noqa: E402
from tensorflow.python.util import deprecation  # noqa: E402

deprecation._PRINT_DEPRECATION_WARNINGS = False
tf.get_logger().setLevel('ERROR')

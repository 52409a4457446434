"""The one place the mnist package imports TensorFlow and quiets it.

The tutorials use TF 1 graph APIs on purpose, so TF's deprecation notices
would bury their log lines. TF 2.x also prints C++ start-up notices (oneDNN,
CUDA probing) before it reads TF_CPP_MIN_LOG_LEVEL; those are held back while
the import runs. Set TF_CPP_MIN_LOG_LEVEL=0 to see everything again.

It also turns on TensorFlow's oneDNN kernels, which TF enables by itself only
on CPUs with AVX-512 VNNI, BF16 or AMX. On others its own kernels are slower:
on a 2-core AVX2 AMD EPYC, a Deep MNIST training step took 78-81 ms with them
and 49-52 ms with oneDNN. Set TF_ENABLE_ONEDNN_OPTS=0 to keep TF's own.
"""

import os
import sys
import tempfile

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
# Read once, when TensorFlow loads: setting it later changes nothing.
os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '1')


def _import_quietly():
  """Imports TensorFlow with file descriptor 2 sent to a temporary file.

  What was captured is replayed if the import fails, so errors stay visible.
  """
  if 'tensorflow' in sys.modules or os.environ['TF_CPP_MIN_LOG_LEVEL'] == '0':
    return
  sys.stderr.flush()
  saved = os.dup(2)
  with tempfile.TemporaryFile() as captured:
    os.dup2(captured.fileno(), 2)
    try:
      import tensorflow  # noqa: F401
    except BaseException:
      os.dup2(saved, 2)
      captured.seek(0)
      sys.stderr.write(captured.read().decode(errors='replace'))
      raise
    finally:
      os.dup2(saved, 2)
      os.close(saved)


_import_quietly()

import tensorflow as tf  # noqa: E402
from tensorflow.python.util import deprecation  # noqa: E402

tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.ERROR)
deprecation._PRINT_DEPRECATION_WARNINGS = False

__all__ = ['tf']

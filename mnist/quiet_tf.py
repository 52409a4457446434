"""The one place the mnist package imports TensorFlow and quiets it.

The tutorials use TF 1 graph APIs on purpose, so TF's deprecation notices
would bury their log lines. TF 2.x also prints C++ start-up notices (oneDNN,
CUDA probing) before it reads TF_CPP_MIN_LOG_LEVEL; those are held back while
the import runs. Set TF_CPP_MIN_LOG_LEVEL=0 to see everything again.
"""

import os
import sys
import tempfile

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')


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

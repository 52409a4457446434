"""The one place the mnist package imports TensorFlow and silences its logs.

TF 1 style graph code triggers many deprecation warnings that would drown the
tutorials' own log lines, so every mnist module imports `tf` from here.
"""

import os

# Must be set before TensorFlow is imported to hide the C++ start-up chatter.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import tensorflow as tf  # noqa: E402
from tensorflow.python.util import deprecation  # noqa: E402

tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.ERROR)
deprecation._PRINT_DEPRECATION_WARNINGS = False

__all__ = ['tf']

"""The training directory: created on first use, resumed after, --fresh wipes.

The tutorial deleted its train_dir at every start, so an interrupted run lost
everything; here a train_dir is continued from its latest checkpoint unless
the user asks for a fresh start.
"""
import tensorflow as tf


def prepare_train_dir(train_dir: str, fresh: bool) -> None:
  """Creates train_dir, emptied first when `fresh` (otherwise it resumes)."""
  if fresh and tf.io.gfile.exists(train_dir):
    tf.io.gfile.rmtree(train_dir)
  tf.io.gfile.makedirs(train_dir)

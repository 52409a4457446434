"""Runs that repeat exactly (--deterministic): what every package shares.

A run's random draws must depend on its seed and on how far it has come,
never on random state that restarts with the process or on which thread
ran first. So with --deterministic the binaries draw per-step randomness
(distortions, dropout) from stateless ops seeded by (--seed, global step),
read their examples in an order computed from the seed and the step a run
starts at, and keep queues from depending on thread timing.
"""
import tensorflow as tf

tf1 = tf.compat.v1


def step_seed(seed: int) -> tf.Tensor:
  """int64 [2]: (seed, the global step of the step being run), the seed of
  that step's stateless draws.

  The step counter is read before the step's own increment, which depends
  on the read through the step's gradients. Build it in the training graph,
  after the global step (it is created if missing).
  """
  global_step = tf1.train.get_or_create_global_step()
  return tf.stack([tf.constant(seed, tf.int64),
                   tf.cast(global_step.read_value(), tf.int64)])


def skip_first(count: int, *batches: tf.Tensor) -> list[tf.Tensor]:
  """The batches (rows along axis 0, read in turn by one reader thread)
  without the first `count` rows of the stream they come from: a resumed
  run's reader passes over what the run had already read.

  Every evaluation of the result consumes one read: build it between the
  reader and the queue it feeds, where one thread runs both. The rows left
  to skip are a local variable, set up by the session's local init.
  """
  if not count:
    return list(batches)
  with tf1.variable_scope('skip_first'):
    left = tf1.get_local_variable(
        'rows_left', initializer=tf.constant(count, tf.int64),
        trainable=False)
  size = tf.cast(tf.shape(batches[0])[0], tf.int64)
  skip = tf.minimum(left.read_value(), size)
  with tf.control_dependencies([tf1.assign_sub(left, skip)]):
    return [tf.identity(batch[skip:]) for batch in batches]

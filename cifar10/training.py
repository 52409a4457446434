"""What every CIFAR-10 training binary shares: flags, session, hooks, resume.

A binary builds its graph (input, towers, train op) and hands the train op
and loss to run_training(), which runs the tutorial's MonitoredTrainingSession
loop and adds what its users missed:

- resume: an existing train_dir is continued from its latest checkpoint (the
  tutorial deleted it); --fresh starts over on purpose;
- Ctrl-C (SIGINT) or SIGTERM stops after the current step and saves a
  checkpoint; a second Ctrl-C aborts at once;
- a NaN loss stops training with a message saying what to do, before any
  checkpoint of the diverged weights is written;
- data problems are reported in one paragraph instead of a traceback.
"""
import contextlib
import dataclasses
import datetime
import signal
import time
from typing import Callable, Iterator, Optional

import tensorflow as tf
from absl import flags

from cifar10 import input as cifar10_input
from cifar10 import runtime

tf1 = tf.compat.v1

flags.DEFINE_string('train_dir', '/tmp/cifar10_train',
                    'Where checkpoints and event logs are written. An '
                    'existing train_dir is resumed from its last checkpoint.')
flags.DEFINE_integer('max_steps', 100000,
                     'Total number of training steps (global step to stop '
                     'at, counting steps done before a resume).')
flags.DEFINE_integer('log_frequency', 10,
                     'How often, in steps, to log loss and speed.')
flags.DEFINE_boolean('fresh', False,
                     'Delete train_dir and start from step 0 instead of '
                     'resuming.')
flags.DEFINE_integer('save_checkpoint_secs', 600,
                     'Seconds between checkpoints (one more is written at '
                     'the end).')
flags.DEFINE_integer('save_summaries_steps', 100,
                     'Steps between TensorBoard summaries.')
flags.DEFINE_integer('num_preprocess_threads', 2,
                     'Threads reading training records into the shuffling '
                     'queue; the batch is distorted after it (the tutorial '
                     'used 16 threads distorting each image; on 2 cores 1 '
                     'and 2 measure the same: see the README\'s Performance '
                     'section).')
flags.DEFINE_float('min_queue_fraction',
                   cifar10_input.MIN_FRACTION_OF_EXAMPLES_IN_QUEUE,
                   'Fraction of an epoch held in the shuffling queue before '
                   'training starts; lower it for quick runs.')

FLAGS = flags.FLAGS

# The tutorial's log line, then the estimated time left to --max_steps.
LOG_FORMAT = ('%s: step %d, loss = %.2f (%.1f examples/sec; %.3f sec/batch), '
              'ETA %s')


def prepare_train_dir(train_dir: str, fresh: bool) -> None:
  """Creates train_dir, emptied first for --fresh (the rest resume)."""
  if fresh and tf.io.gfile.exists(train_dir):
    tf.io.gfile.rmtree(train_dir)
  tf.io.gfile.makedirs(train_dir)


# How long closing waits for queue-runner threads before the session is
# closed under them. Local queues close at once; a synchronous-replicas
# chief's aggregation thread waits for gradients that will never come, and
# only closing the session frees it (the default, 120 s, just delays exit).
STOP_GRACE_SECS = 5


class LoggerHook(tf1.train.SessionRunHook):
  """Logs loss and speed every `log_frequency` global steps, as the tutorial.

  Steps are counted from the global step, so the log stays right on resume.
  """

  def __init__(self, loss: tf.Tensor, examples_per_step: int,
               log_frequency: int, max_steps: int, prefix: str = ''):
    self._loss = loss
    self._examples_per_step = examples_per_step
    self._log_frequency = log_frequency
    self._max_steps = max_steps
    self._prefix = prefix

  def begin(self):
    self._global_step = tf1.train.get_global_step()
    self._last_time = None
    self._last_step = None

  def before_run(self, run_context):
    return tf1.train.SessionRunArgs([self._global_step, self._loss])

  def after_run(self, run_context, run_values):
    step, loss_value = run_values.results
    now = time.time()
    if self._last_time is None:
      # The first step includes start-up and queue filling: time from here.
      self._last_time, self._last_step = now, step
      return
    # Other workers advance the global step too: log on crossing a multiple.
    if step // self._log_frequency == self._last_step // self._log_frequency:
      return
    steps = step - self._last_step
    duration = now - self._last_time
    self._last_time, self._last_step = now, step
    sec_per_batch = duration / steps
    eta = datetime.timedelta(
        seconds=round(max(self._max_steps - step, 0) * sec_per_batch))
    print(self._prefix + LOG_FORMAT % (
        datetime.datetime.now(), step, loss_value,
        self._examples_per_step / sec_per_batch, sec_per_batch, eta),
          flush=True)


class StopOnSignalHook(tf1.train.SessionRunHook):
  """Ends training after the current step when asked by a signal.

  Ending through the session's normal path lets the checkpoint hook write a
  final checkpoint and closes the queues, so no thread is left hanging.
  """

  def __init__(self):
    self.signal_name = None

  def request(self, signum: int, unused_frame) -> None:
    if self.signal_name is not None:
      raise KeyboardInterrupt
    self.signal_name = signal.Signals(signum).name
    print('\n%s received: stopping after this step and saving a checkpoint '
          '(press Ctrl-C again to abort without saving).' % self.signal_name,
          flush=True)

  def after_run(self, run_context, run_values):
    if self.signal_name is not None:
      run_context.request_stop()


@contextlib.contextmanager
def _handle_signals(hook: StopOnSignalHook) -> Iterator[None]:
  handled = (signal.SIGINT, signal.SIGTERM)
  previous = {s: signal.signal(s, hook.request) for s in handled}
  try:
    yield
  finally:
    for s, handler in previous.items():
      signal.signal(s, handler)


def _nan_message(train_dir: str) -> str:
  checkpoint = tf1.train.latest_checkpoint(train_dir)
  kept = ('The last checkpoint, %s, was written before the loss diverged '
          'and is kept' % checkpoint if checkpoint else
          'No checkpoint had been written yet')
  return ('Model diverged with loss = NaN. %s. Training cannot continue from '
          'diverged weights: check the input data, lower the learning rate, '
          'or drop --use_fp16, then run again (it resumes from the last '
          'checkpoint) or use --fresh.' % kept)


def run_training(train_op: tf.Operation, loss: tf.Tensor,
                 examples_per_step: int,
                 feed_fn: Optional[Callable[[], dict]] = None,
                 extra_hooks: Optional[list] = None,
                 log_prefix: str = '',
                 summary_op: Optional[tf.Tensor] = None,
                 master: str = '',
                 is_chief: bool = True,
                 config: Optional[tf1.ConfigProto] = None,
                 max_wait_secs: float = 7200) -> bool:
  """Runs train_op until FLAGS.max_steps, with the shared hooks.

  Hooks run in a fixed order: the NaN check comes before the summary and
  checkpoint hooks, so a diverged step is never saved. Only the chief writes
  summaries and checkpoints and restores from them.

  Args:
    train_op: one training step.
    loss: the loss to log and check for NaN.
    examples_per_step: examples one global step stands for (for
      examples/sec and the ETA).
    feed_fn: returns the feed_dict of each step, for placeholder input.
    extra_hooks: more hooks, run after the shared ones.
    log_prefix: put before every log line (e.g. a worker's name).
    summary_op: the summaries to write; default: all in the graph.
    master: the TensorFlow server to run on ('' = in process).
    is_chief: whether this process initializes, restores and saves.
    config: the Session config; default runtime.session_config().
    max_wait_secs: how long a non-chief waits for the chief to initialize.

  Returns:
    True if training reached --max_steps, False if a signal stopped it.

  Raises:
    runtime.UserError: the loss became NaN.
  """
  if is_chief:
    resume_from = tf1.train.latest_checkpoint(FLAGS.train_dir)
    if resume_from:
      saved_step = int(tf.train.load_variable(resume_from, 'global_step'))
      if saved_step >= FLAGS.max_steps:
        print('%s%s is already at step %d (--max_steps=%d): nothing to do. '
              'Raise --max_steps to train on, or use --fresh to start over.'
              % (log_prefix, FLAGS.train_dir, saved_step, FLAGS.max_steps))
        return True
      print('%sResuming from %s.' % (log_prefix, resume_from), flush=True)
  stop_hook = StopOnSignalHook()
  # Relative paths in the 'checkpoint' file keep a moved or copied
  # train_dir resumable from its own checkpoints.
  scaffold = tf1.train.Scaffold(summary_op=summary_op, saver=tf1.train.Saver(
      sharded=True, allow_empty=True, save_relative_paths=True))
  hooks = [
      tf1.train.NanTensorHook(loss),
      stop_hook,
      tf1.train.StopAtStepHook(last_step=FLAGS.max_steps),
      LoggerHook(loss, examples_per_step, FLAGS.log_frequency,
                 FLAGS.max_steps, log_prefix),
  ]
  if is_chief:
    hooks += [
        tf1.train.SummarySaverHook(save_steps=FLAGS.save_summaries_steps,
                                   output_dir=FLAGS.train_dir,
                                   scaffold=scaffold),
        tf1.train.CheckpointSaverHook(FLAGS.train_dir,
                                      save_secs=FLAGS.save_checkpoint_secs,
                                      scaffold=scaffold),
    ]
  hooks += extra_hooks or []
  try:
    with _handle_signals(stop_hook), tf1.train.MonitoredTrainingSession(
        master=master, is_chief=is_chief,
        checkpoint_dir=FLAGS.train_dir if is_chief else None,
        scaffold=scaffold, hooks=hooks, save_checkpoint_secs=None,
        save_summaries_steps=None, log_step_count_steps=None,
        config=config or runtime.session_config(),
        max_wait_secs=max_wait_secs,
        stop_grace_period_secs=STOP_GRACE_SECS) as mon_sess:
      while not mon_sess.should_stop():
        mon_sess.run(train_op, feed_dict=feed_fn() if feed_fn else None)
  except tf1.train.NanLossDuringTrainingError as e:
    raise runtime.UserError(_nan_message(FLAGS.train_dir)) from e
  except tf.errors.InvalidArgumentError as e:
    if 'Nan in summary histogram' not in e.message:
      raise
    raise runtime.UserError(_nan_message(FLAGS.train_dir)) from e
  if stop_hook.signal_name:
    saved = ('; saved %s' % tf1.train.latest_checkpoint(FLAGS.train_dir)
             if is_chief else '')
    print('%sStopped by %s%s.' % (log_prefix, stop_hook.signal_name, saved),
          flush=True)
    return False
  return True


@dataclasses.dataclass
class TrainGraph:
  """A training binary's graph, as run_training() takes it.

  Attributes:
    train_op: one training step.
    loss: the loss to log.
    examples_per_step: examples one step consumes.
    feed_fn: the feed_dict of each step, for placeholder input.
    summary_op: the summaries to write (default: all).
  """
  train_op: tf.Operation
  loss: tf.Tensor
  examples_per_step: int
  feed_fn: Optional[Callable[[], dict]] = None
  summary_op: Optional[tf.Tensor] = None


def train_main(build_graph: Callable[[], TrainGraph]) -> None:
  """The body every training binary's main() shares.

  Prepares train_dir and the data, builds the graph with build_graph() in a
  fresh tf.Graph and runs it; errors the user can fix end the program with a
  message instead of a traceback.

  Args:
    build_graph: makes the graph; called after the data is checked.
  """
  with runtime.exit_on_user_error():
    cifar10_input.maybe_download_and_extract(FLAGS.data_dir, FLAGS.data_url)
    prepare_train_dir(FLAGS.train_dir, FLAGS.fresh)
    with tf.Graph().as_default():
      graph = build_graph()
      run_training(graph.train_op, graph.loss, graph.examples_per_step,
                   feed_fn=graph.feed_fn, summary_op=graph.summary_op)

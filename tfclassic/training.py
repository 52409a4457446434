"""The training loop every training binary runs.

A binary builds its graph (input, model, train op) and hands the train op
and loss to run_training(), which runs the tutorial's
MonitoredTrainingSession loop and adds what its users missed:

- resume: an existing train_dir is continued from its latest checkpoint (the
  tutorial deleted it); --fresh (train_dir.prepare_train_dir) starts over;
- Ctrl-C (SIGINT) or SIGTERM stops after the current step and saves a
  checkpoint; a second Ctrl-C aborts at once;
- a NaN loss stops training with a message saying what to do, before any
  checkpoint of the diverged weights is written;
- the tutorial's log line ends with the time left to max_steps;
- --trace_steps writes Chrome traces of chosen steps (tracing), and
  --eval_every_steps scores the test set in the same process (evaluation);
- in a cluster, a lost parameter server, or a lost chief, stops a worker with
  one paragraph instead of leaving it waiting (cluster_health).
"""
import contextlib
import dataclasses
import datetime
import os
import re
import time
from typing import Callable, Optional, Sequence

import numpy as np
import tensorflow as tf

from tfclassic import checkpoints
from tfclassic import cluster_health
from tfclassic import errors
from tfclassic import evaluation as evaluation_lib
from tfclassic import session
from tfclassic import signals
from tfclassic import summaries
from tfclassic import tracing

tf1 = tf.compat.v1

# The tutorial's log line, then the estimated time left to max_steps.
LOG_FORMAT = ('%s: step %d, loss = %.2f (%.1f examples/sec; %.3f sec/batch), '
              'ETA %s')

# How long closing waits for queue-runner threads before the session is
# closed under them. Local queues close at once; a synchronous-replicas
# chief's aggregation thread waits for gradients that will never come, and
# only closing the session frees it (the default, 120 s, just delays exit).
STOP_GRACE_SECS = 5
# How often the summaries written are flushed to the event file (the
# FileWriter's own default is 120 s): what a crash can lose, and how late a
# full disk is noticed.
SUMMARY_FLUSH_SECS = 5
# How often a non-chief worker looks whether the chief has initialized the
# model (TensorFlow's own session creator looks every 30 s).
CHIEF_POLL_SECS = 0.5


@dataclasses.dataclass
class TrainConfig:
  """Where and how long to train, and how often to log and save.

  Attributes:
    train_dir: checkpoints and event files; resumed from if it has any.
    max_steps: the global step to stop at (counting steps before a resume).
    log_frequency: steps between log lines (0: never).
    save_checkpoint_secs: seconds between checkpoints (None: by steps only).
    save_checkpoint_steps: steps between checkpoints (None: by time only).
      One more checkpoint is always written at the end.
    save_summaries_steps: steps between summaries (0 or None: never).
    max_checkpoints: how many recent checkpoints to keep.
    trace_steps: global steps whose Chrome trace the chief writes to
      train_dir/timeline-<step>.json (the step logged as `step N`).
  """
  train_dir: str
  max_steps: int
  log_frequency: int = 10
  save_checkpoint_secs: Optional[float] = 600
  save_checkpoint_steps: Optional[int] = None
  save_summaries_steps: Optional[int] = 100
  max_checkpoints: int = 5
  trace_steps: Sequence[int] = ()


class _SummarySaverHook(tf1.train.SummarySaverHook):
  """tf.compat.v1.train.SummarySaverHook on a step count that does not drift.

  The stock hook takes a step's global step to be its fetch of the global
  step plus one, but that fetch races with the step's own increment: now and
  then it already holds the new value, the count runs one ahead, and every
  later summary lands a step early. Here a step ends at least one past the
  step before it (exactly that in one process; other workers may add more).
  Summaries are also flushed every SUMMARY_FLUSH_SECS, which raises a
  failure to write them (a full disk) in the training thread.
  """

  def begin(self):
    super().begin()
    self._next_flush = time.time() + SUMMARY_FLUSH_SECS

  def after_run(self, run_context, run_values):
    if self._next_step is not None and not self._request_summary:
      fetched = run_values.results['global_step']
      run_values = run_values._replace(results=dict(
          run_values.results, global_step=max(self._next_step, fetched) - 1))
    super().after_run(run_context, run_values)
    if time.time() >= self._next_flush and self._summary_writer:
      self._summary_writer.flush()
      self._next_flush = time.time() + SUMMARY_FLUSH_SECS


class _CheckpointSaverHook(tf1.train.CheckpointSaverHook):
  """tf.compat.v1.train.CheckpointSaverHook that does not write again the
  checkpoint a resumed run has just restored.

  The stock hook saves as the session is created, under the step's name:
  after a resume that is the checkpoint restored, and the save rewrites its
  index file in place. A kill (or a full disk) during that rewrite truncates
  the latest checkpoint, and the next run refuses to resume from it.
  """

  def after_create_session(self, session, coord):
    latest = tf1.train.latest_checkpoint(self._checkpoint_dir)
    step = session.run(self._global_step_tensor)
    self._restored_step = (
        step if latest and checkpoints.checkpoint_step_from_name(latest) == step
        else None)
    super().after_create_session(session, coord)

  def _save(self, session, step):
    if step == self._restored_step:
      self._restored_step = None
      return False
    return super()._save(session, step)


class LoggerHook(tf1.train.SessionRunHook):
  """Logs loss and speed every `log_frequency` global steps, as the tutorial.

  A logged step is the tutorial's step number: the global step before the
  run just done. It comes from the global step, so the log stays right on
  resume and counts every worker's steps.
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
    fetched, loss_value = run_values.results
    now = time.time()
    if self._last_time is None:
      # The first step includes start-up and queue filling: time from here.
      self._last_time, self._last_step = now, fetched
      return
    # The fetch races with the step's own increment, so it is one of two
    # steps; where either would cross a multiple of log_frequency, the
    # global step is read again, after the run, to decide exactly.
    if all((s // self._log_frequency == self._last_step //
            self._log_frequency) for s in (fetched - 1, fetched)):
      return
    step = run_context.session.run(self._global_step) - 1
    if step // self._log_frequency == self._last_step // self._log_frequency:
      return
    steps = step - self._last_step
    duration = now - self._last_time
    self._last_time, self._last_step = now, step
    sec_per_batch = duration / steps
    eta = datetime.timedelta(
        seconds=round(max(self._max_steps - step - 1, 0) * sec_per_batch))
    print(self._prefix + LOG_FORMAT % (
        datetime.datetime.now(), step, loss_value,
        self._examples_per_step / sec_per_batch, sec_per_batch, eta),
          flush=True)


class _NanGuardHook(tf1.train.SessionRunHook):
  """Stops at the first NaN loss, before later hooks can save the weights.

  tf.compat.v1.train.NanTensorHook does the same but also logs an ERROR
  line of its own ahead of the message run_training gives.
  """

  def __init__(self, loss: tf.Tensor):
    self._loss = loss

  def before_run(self, run_context):
    return tf1.train.SessionRunArgs(self._loss)

  def after_run(self, run_context, run_values):
    if np.isnan(run_values.results):
      raise tf1.train.NanLossDuringTrainingError


class _StopOnSignalHook(tf1.train.SessionRunHook):
  """Ends the session after the step during which a stop was requested.

  Ending through the session's normal path lets the checkpoint hook write a
  final checkpoint and closes the queues, so no thread is left hanging.
  """

  def __init__(self, stop: signals.StopSignal):
    self._stop = stop

  def after_run(self, run_context, run_values):
    if self._stop.requested is not None:
      run_context.request_stop()


def nan_message(train_dir: str, advice: str = '') -> str:
  """What to say when the loss became NaN, naming the checkpoint kept."""
  checkpoint = tf1.train.latest_checkpoint(train_dir)
  kept = ('The last checkpoint, %s, was written before the loss diverged '
          'and is kept' % checkpoint if checkpoint else
          'No checkpoint had been written yet')
  return ('Model diverged with loss = NaN. %s. Training cannot continue from '
          'diverged weights: check the input data, lower the learning rate%s, '
          'then run again (it resumes from the last checkpoint) or use '
          '--fresh.' % (kept, advice))


def resume_step(train_dir: str) -> Optional[int]:
  """The global step of train_dir's latest checkpoint; None if it has none.

  Raises:
    errors.UserError: the checkpoint cannot be read or has no global step.
  """
  repaired = checkpoints.repair_state(train_dir)
  if repaired:
    print(repaired, flush=True)
  checkpoint = tf1.train.latest_checkpoint(train_dir)
  if checkpoint is None:
    return None
  damage = checkpoints.damage(checkpoint)
  if damage:
    raise errors.UserError(checkpoints.corrupt_message(
        checkpoint, damage,
        use_intact='To resume from %%s, the newest intact one, delete the '
        'damaged one\'s files (%s.*) and run again; or pass --fresh to '
        'start over.' % checkpoint,
        otherwise='Pass --fresh to start over, or another --train_dir.'))
  try:
    step = checkpoints.checkpoint_step(checkpoint)
  except tf.errors.OpError as e:
    raise errors.UserError(
        '%s holds %s, which cannot be read (%s). Pass another --train_dir, '
        'or --fresh to delete it and start over.'
        % (train_dir, checkpoint, checkpoints.op_error_reason(e))) from e
  if step is None:
    raise errors.UserError(
        '%s holds %s, which has no global step: it was not written by '
        'training. Pass another --train_dir, or --fresh to delete it and '
        'start over.' % (train_dir, checkpoint))
  return step


def _check_resumable(train_dir: str, checkpoint: str) -> None:
  """Refuses to resume a checkpoint that does not fit the graph's variables.

  Raises:
    errors.UserError: naming the difference and how to go on.
  """
  reason = checkpoints.mismatch(
      checkpoint, {v.op.name: v.shape for v in tf1.global_variables()})
  if reason:
    raise errors.UserError(
        '%s holds %s, which does not fit this model (%s): it was written by '
        'another model or setting. Pass another --train_dir, or --fresh to '
        'delete it and start over.' % (train_dir, checkpoint, reason))


StepFn = Callable[[tf1.train.MonitoredSession.StepContext], None]


# What a checkpoint save cut short leaves in the train_dir, and nothing
# else: the folder TensorFlow's sharded saver writes the shards into before
# merging them into the checkpoint (`model.ckpt-N_temp`; TF 1.x added
# `_<uuid hex>`), and a shard a non-sharded saver was still writing
# (`.tempstate<random>`). A complete checkpoint is `model.ckpt-N.index` and
# `.data-*` files, which neither matches.
_PARTIAL_SAVE = re.compile(
    r'^%s-\d+(_temp(_[0-9a-f]{32})?|\.(index|data-\d{5}-of-\d{5})'
    r'\.tempstate\d+)$' % re.escape(evaluation_lib.CHECKPOINT_BASENAME))


def _remove_partial_checkpoints(train_dir: str) -> list[str]:
  """Deletes what checkpoint saves cut short (a kill, a full disk) left in
  train_dir: each can be as large as a checkpoint, and no save removes
  another's. Returns the names removed."""
  if not tf.io.gfile.isdir(train_dir):
    return []
  removed = sorted(name.rstrip('/') for name in tf.io.gfile.listdir(train_dir)
                   if _PARTIAL_SAVE.match(name.rstrip('/')))
  for name in removed:
    path = os.path.join(train_dir, name)
    if tf.io.gfile.isdir(path):
      tf.io.gfile.rmtree(path)
    else:
      tf.io.gfile.remove(path)
  return removed


def _wait_for_the_chief(master: str, config: tf1.ConfigProto,
                        max_wait_secs: float, log_prefix: str) -> None:
  """Returns once the chief has initialized every global variable.

  Raises:
    errors.UserError: it has not within max_wait_secs.
  """
  uninitialized = tf1.report_uninitialized_variables(tf1.global_variables())
  deadline = time.time() + max_wait_secs
  with tf1.Session(master, config=config) as sess:
    if not sess.run(uninitialized).size:
      return
    print('%sWaiting for the chief to initialize the model.' % log_prefix,
          flush=True)
    while sess.run(uninitialized).size:
      if time.time() > deadline:
        raise errors.UserError(
            '%sThe chief has not initialized the model after %d s. Is it '
            'running, in the same cluster?' % (log_prefix, max_wait_secs))
      time.sleep(CHIEF_POLL_SECS)


def _lost_server_message(log_prefix: str, address: str, reason: str,
                         train_dir: Optional[str]) -> str:
  """What a worker says when parameter server `address` is gone."""
  checkpoint = train_dir and tf1.train.latest_checkpoint(train_dir)
  return ('%sParameter server %s is gone (%s), and the variables it held '
          'with it: training stopped. Relaunch the whole cluster, parameter '
          'servers and workers: the chief resumes from its last checkpoint%s.'
          % (log_prefix, address, reason,
             ', %s' % checkpoint if checkpoint else ''))


def _lost_chief_message(log_prefix: str, address: str, reason: str) -> str:
  """What a non-chief worker says when the chief is gone."""
  return ('%sThe chief (%s) is gone (%s): without it nothing saves the '
          'training, and synchronous steps cannot complete, so this worker '
          'stopped. Relaunch the chief and this worker: the chief resumes '
          'from its last checkpoint and the worker rejoins.'
          % (log_prefix, address, reason))


def run_training(train_op: tf.Operation, loss: tf.Tensor,
                 examples_per_step: int, config: TrainConfig, *,
                 feed_fn: Optional[Callable[[], dict]] = None,
                 step_fn: Optional[StepFn] = None,
                 hooks: Sequence[tf1.train.SessionRunHook] = (),
                 checkpoint_listeners: Sequence[
                     tf1.train.CheckpointSaverListener] = (),
                 log_prefix: str = '',
                 summary_op: Optional[tf.Tensor] = None,
                 master: str = '',
                 is_chief: bool = True,
                 session_config: Optional[tf1.ConfigProto] = None,
                 max_wait_secs: float = 7200,
                 parameter_servers: Sequence[str] = (),
                 chief_address: Optional[str] = None,
                 evaluation: Optional[
                     evaluation_lib.InTrainingEvaluation] = None,
                 nan_advice: str = '') -> bool:
  """Runs train_op until config.max_steps, with the shared hooks.

  Hooks run in a fixed order: the NaN check comes before the summary and
  checkpoint hooks, so a diverged step is never saved. Only the chief writes
  summaries and checkpoints and restores from them.

  Args:
    train_op: one training step.
    loss: the loss to log and check for NaN.
    examples_per_step: examples one global step stands for (for
      examples/sec and the ETA).
    config: train_dir, max_steps and the logging and saving cadence.
    feed_fn: returns the feed_dict of each step, for placeholder input.
    step_fn: runs one step itself, given the MonitoredSession's step
      context (its `session` runs without hooks, `run_with_hooks` with
      them); for binaries that also run other ops between steps. Default:
      run train_op with feed_fn's feed, through the hooks.
    hooks: more hooks, run after the shared ones.
    checkpoint_listeners: called around every checkpoint the chief writes.
    log_prefix: put before every log line (e.g. a worker's name).
    summary_op: the summaries to write; default: all in the graph.
    master: the TensorFlow server to run on ('' = in process).
    is_chief: whether this process initializes, restores and saves.
    session_config: the Session config; default session.session_config().
    max_wait_secs: how long a non-chief waits for the chief to initialize.
    parameter_servers: in a cluster, each parameter server's host:port; if
      one is lost, training stops instead of waiting for it.
    chief_address: for a non-chief worker, the chief's host:port; if the
      chief is lost, training stops.
    evaluation: for the chief, scores its checkpoints every
      evaluation.every_steps steps and at the end (not after a signal
      stopped it), recording each score in train_dir/evaluations.csv.
    nan_advice: added to the NaN message's list of things to try, e.g.
      ' or drop --use_fp16'.

  Returns:
    True if training reached max_steps, False if a signal stopped it.

  Raises:
    errors.UserError: the loss became NaN, the disk is full, or a
      parameter server or the chief was lost.
  """
  if is_chief:
    # Only the chief saves, and train_dir's lock keeps other runs out: no
    # save is under way.
    removed = _remove_partial_checkpoints(config.train_dir)
    if removed:
      print('%sRemoved %s: left by checkpoint saves that were cut short.'
            % (log_prefix, ', '.join(removed)), flush=True)
    saved_step = resume_step(config.train_dir)
    if saved_step is not None:
      if saved_step >= config.max_steps:
        print('%s%s is already at step %d (--max_steps=%d): nothing to do. '
              'Raise --max_steps to train on, or use --fresh to start over.'
              % (log_prefix, config.train_dir, saved_step, config.max_steps))
        if evaluation:
          evaluation_lib.score_unless_recorded(
              evaluation, config.train_dir,
              tf1.train.latest_checkpoint(config.train_dir), saved_step)
        return True
      latest = tf1.train.latest_checkpoint(config.train_dir)
      _check_resumable(config.train_dir, latest)
      print('%sResuming from %s.' % (log_prefix, latest), flush=True)
  # Relative paths in the 'checkpoint' file keep a moved or copied
  # train_dir resumable from its own checkpoints.
  scaffold = tf1.train.Scaffold(summary_op=summary_op, saver=tf1.train.Saver(
      sharded=True, allow_empty=True, save_relative_paths=True,
      max_to_keep=config.max_checkpoints))
  stop = signals.StopSignal()
  all_hooks = [
      _NanGuardHook(loss),
      _StopOnSignalHook(stop),
      tf1.train.StopAtStepHook(last_step=config.max_steps),
  ]
  if config.log_frequency:
    all_hooks.append(LoggerHook(loss, examples_per_step, config.log_frequency,
                                config.max_steps, log_prefix))
  if is_chief:
    if config.save_summaries_steps:
      all_hooks.append(_SummarySaverHook(
          save_steps=config.save_summaries_steps,
          output_dir=config.train_dir, scaffold=scaffold))
    all_hooks.append(_CheckpointSaverHook(
        config.train_dir, save_secs=(None if config.save_checkpoint_steps
                                     else config.save_checkpoint_secs),
        save_steps=config.save_checkpoint_steps, scaffold=scaffold,
        listeners=list(checkpoint_listeners)))
    if evaluation:
      all_hooks.append(evaluation_lib.InTrainingEvaluationHook(
          evaluation, scaffold.saver, config.train_dir, config.max_steps,
          score_at_end=lambda: stop.requested is None,
          listeners=checkpoint_listeners))
    if config.trace_steps:
      all_hooks.append(tracing.TraceHook(
          config.trace_steps,
          tracing.trace_file_writer(config.train_dir, log_prefix)))
  all_hooks += list(hooks)
  if step_fn is None:
    def step_fn(step_context):
      step_context.run_with_hooks(
          train_op, feed_dict=feed_fn() if feed_fn else None)
  session_config = session_config or session.session_config()
  if is_chief and os.path.isdir(config.train_dir):
    summaries.wait_for_a_new_event_file_name(config.train_dir)
  if not is_chief:
    _wait_for_the_chief(master, session_config, max_wait_secs, log_prefix)
  # What MonitoredTrainingSession makes of these arguments, with a creator
  # that does not wait for a lost parameter server.
  if is_chief:
    creator = tf1.train.ChiefSessionCreator(
        scaffold=scaffold, master=master, config=session_config,
        checkpoint_dir=config.train_dir)
  else:
    creator = tf1.train.WorkerSessionCreator(
        scaffold=scaffold, master=master, config=session_config,
        max_wait_secs=max_wait_secs)
  if parameter_servers:
    creator = cluster_health.no_wait_for_lost_servers(
        creator, parameter_servers,
        lambda address, reason: _lost_server_message(
            log_prefix, address, reason,
            config.train_dir if is_chief else None))
  chief_watch = cluster_health.ChiefWatch(
      chief_address, lambda reason: _lost_chief_message(
          log_prefix, chief_address, reason)) if chief_address else None
  try:
    with stop, summaries.writer_errors_raised_once(), (
        chief_watch or contextlib.nullcontext()), (
        cluster_health.quiet_recovery_log() if parameter_servers
        else contextlib.nullcontext()), (
        tf1.train.MonitoredSession(
            session_creator=creator, hooks=all_hooks,
            stop_grace_period_secs=STOP_GRACE_SECS)) as mon_sess:
      while not mon_sess.should_stop():
        if chief_watch:
          chief_watch.check()
        mon_sess.run_step_fn(step_fn)
  except tf1.train.NanLossDuringTrainingError as e:
    raise errors.UserError(nan_message(config.train_dir, nan_advice)) from e
  except tf.errors.InvalidArgumentError as e:
    if 'Nan in summary histogram' not in e.message:
      raise
    raise errors.UserError(nan_message(config.train_dir, nan_advice)) from e
  except (tf.errors.OpError, OSError, RuntimeError) as e:
    # A FileWriter raises its thread's failure as a RuntimeError.
    if not (is_chief and errors.is_disk_full(e)):
      raise
    _remove_partial_checkpoints(config.train_dir)
    latest = tf1.train.latest_checkpoint(config.train_dir)
    raise errors.UserError(
        '%s%s Its last complete checkpoint is %s: run again once there is '
        'space to resume from it.' % (
            log_prefix, errors.disk_full_message(e, config.train_dir),
            latest)) from e
  if stop.requested:
    saved = ('; saved %s' % tf1.train.latest_checkpoint(config.train_dir)
             if is_chief else '')
    print('%sStopped by %s%s.' % (log_prefix, stop.requested, saved),
          flush=True)
    return False
  return True

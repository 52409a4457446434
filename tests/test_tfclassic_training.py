"""tfclassic.training: the loop every training binary runs, on a tiny graph.

The graph fits w -> 0 by gradient descent on w^2, so each step's loss is
known in closed form: w_n = w_0 (1 - 2 lr)^n.
"""
import os
import re
import signal

import pytest
import tensorflow as tf

from conftest import read_scalars
from tfclassic import errors
from tfclassic import evaluation as evaluation_lib
from tfclassic import train_dir as train_dir_lib
from tfclassic import training

tf1 = tf.compat.v1

W0 = 3.0
LEARNING_RATE = 0.1


class _Graph:
  """w^2 minimised by gradient descent, with a scalar summary."""

  def __init__(self, nan_at_step=None):
    self.global_step = tf1.train.get_or_create_global_step()
    self.w = tf1.get_variable('w', [], initializer=tf1.constant_initializer(W0))
    loss = tf.square(self.w)
    if nan_at_step is not None:
      loss = tf.where(tf.equal(self.global_step, nan_at_step),
                      tf.constant(float('nan')), loss)
    self.loss = loss
    tf1.summary.scalar('loss', loss)
    self.train_op = tf1.train.GradientDescentOptimizer(LEARNING_RATE).minimize(
        loss, global_step=self.global_step)


def _saved(train_dir, name):
  checkpoint = tf1.train.latest_checkpoint(str(train_dir))
  return checkpoint, float(tf.train.load_variable(checkpoint, name))


def _train(train_dir, max_steps, hooks=(), **kwargs):
  with tf.Graph().as_default():
    graph = _Graph(kwargs.pop('nan_at_step', None))
    config = training.TrainConfig(str(train_dir), max_steps, log_frequency=5,
                                  save_summaries_steps=4)
    return training.run_training(graph.train_op, graph.loss, 8, config,
                                 hooks=list(hooks), **kwargs)


@pytest.mark.usefixtures('tf_behaviour')
def test_trains_to_max_steps_with_the_expected_weights(tmp_path, capfd):
  assert _train(tmp_path, 12) is True
  checkpoint, w = _saved(tmp_path, 'w')
  assert checkpoint.endswith('model.ckpt-12')
  assert w == pytest.approx(W0 * (1 - 2 * LEARNING_RATE) ** 12, rel=1e-5)
  lines = re.findall(r'step (\d+), loss = [\d.]+ \([\d.]+ examples/sec; '
                     r'[\d.]+ sec/batch\), ETA \d+:\d\d:\d\d',
                     capfd.readouterr().out)
  assert [int(s) for s in lines] == [5, 10]


def test_resume_continues_and_a_finished_dir_does_nothing(tmp_path, capfd):
  _train(tmp_path, 5)
  capfd.readouterr()
  _train(tmp_path, 9)
  out = capfd.readouterr().out
  assert 'Resuming from %s' % os.path.join(str(tmp_path), 'model.ckpt-5') in out
  _, w = _saved(tmp_path, 'w')
  assert w == pytest.approx(W0 * (1 - 2 * LEARNING_RATE) ** 9, rel=1e-5)
  assert _train(tmp_path, 9) is True
  assert 'already at step 9 (--max_steps=9): nothing to do' in (
      capfd.readouterr().out)


def test_a_resume_does_not_write_again_the_checkpoint_it_restored(tmp_path):
  # Rewriting it in place would truncate it, were the run killed meanwhile.
  _train(tmp_path, 5)
  index = tmp_path / 'model.ckpt-5.index'
  written = index.stat().st_mtime_ns
  _train(tmp_path, 9)
  assert index.stat().st_mtime_ns == written
  assert _saved(tmp_path, 'global_step') == (str(tmp_path / 'model.ckpt-9'),
                                             9)


def _interrupted_save(train_dir, step):
  """What a run killed during a save of step `step` leaves: TensorFlow's
  sharded saver has written its shards to model.ckpt-<step>_temp/, and is
  killed before merging them into the checkpoint (only the shard writes of
  the save are run: the merge is what deletes the folder)."""
  with tf.Graph().as_default():
    graph = _Graph()
    saver = tf1.train.Saver(sharded=True)
    shard_writes = [op for op in tf1.get_default_graph().get_operations()
                    if op.type == 'SaveV2']
    with tf1.Session() as sess:
      sess.run(tf1.global_variables_initializer())
      sess.run(graph.global_step.assign(step))
      sess.run(shard_writes, {saver.saver_def.filename_tensor_name: str(
          train_dir / ('model.ckpt-%d' % step))})
  return train_dir / ('model.ckpt-%d_temp' % step)


def test_a_run_removes_the_folders_of_interrupted_saves_only(tmp_path,
                                                             capfd):
  _train(tmp_path, 5)
  partial = _interrupted_save(tmp_path, 7)
  assert sorted(p.name for p in partial.iterdir()) == [
      'part-00000-of-00001.data-00000-of-00001', 'part-00000-of-00001.index']
  # TF 1.x named the folder with a uuid; the user's own files stay.
  old_partial = tmp_path / ('model.ckpt-6_temp_%s' % ('0123456789abcdef' * 2))
  old_partial.mkdir()
  users = [tmp_path / 'model.ckpt-5_temp.txt', tmp_path / 'my_temp',
           tmp_path / 'model.ckpt_temp']
  for path in users:
    path.write_text('mine')
  capfd.readouterr()
  _train(tmp_path, 9)
  out = capfd.readouterr().out
  assert 'Removed %s, model.ckpt-7_temp: left by checkpoint saves that were ' \
      'cut short.' % old_partial.name in out
  assert not partial.exists() and not old_partial.exists()
  assert all(path.read_text() == 'mine' for path in users)
  assert 'Resuming from %s' % (tmp_path / 'model.ckpt-5') in out
  checkpoint, w = _saved(tmp_path, 'w')
  assert checkpoint == str(tmp_path / 'model.ckpt-9')
  assert w == pytest.approx(W0 * (1 - 2 * LEARNING_RATE) ** 9, rel=1e-5)


def test_fresh_empties_the_train_dir(tmp_path):
  _train(tmp_path, 3)
  with train_dir_lib.prepare_train_dir(str(tmp_path), fresh=True):
    assert os.listdir(tmp_path) == [train_dir_lib.LOCK_FILE]
  with train_dir_lib.prepare_train_dir(str(tmp_path / 'a' / 'b'),
                                       fresh=False):
    assert os.path.isdir(tmp_path / 'a' / 'b')


def test_a_train_dir_is_held_until_the_block_ends(tmp_path):
  with train_dir_lib.prepare_train_dir(str(tmp_path), fresh=False):
    with pytest.raises(errors.UserError) as refused:
      with train_dir_lib.prepare_train_dir(str(tmp_path), fresh=True):
        pass
    assert os.path.exists(tmp_path / train_dir_lib.LOCK_FILE)
  assert str(refused.value).startswith(
      '%s is in use by process %d (' % (tmp_path, os.getpid()))
  with train_dir_lib.prepare_train_dir(str(tmp_path), fresh=False):
    pass


class _SignalAtStep(tf1.train.SessionRunHook):
  """Sends this process a signal after the given global step."""

  def __init__(self, step, signum=signal.SIGINT):
    self._step, self._signum = step, signum
    self.sent_at = None

  def begin(self):
    self._global_step = tf1.train.get_global_step()

  def before_run(self, run_context):
    return tf1.train.SessionRunArgs(self._global_step)

  def after_run(self, run_context, run_values):
    # The fetch races with the step's increment: decide on an exact read.
    if self.sent_at is None and run_values.results >= self._step - 1:
      step = run_context.session.run(self._global_step)
      if step >= self._step:
        os.kill(os.getpid(), self._signum)
        self.sent_at = step


@pytest.mark.parametrize('signum', [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_after_the_step_and_saves(tmp_path, capfd, signum):
  handler_before = signal.getsignal(signum)
  sender = _SignalAtStep(6, signum)
  assert _train(tmp_path, 1000, hooks=[sender]) is False
  name = signal.Signals(signum).name
  checkpoint, step = _saved(tmp_path, 'global_step')
  # The shared hooks ran before the sender in that step, so the step
  # after it is the one that stops.
  assert step == sender.sent_at + 1
  out = capfd.readouterr().out
  assert '%s received: stopping after this step' % name in out
  assert 'Stopped by %s; saved %s.' % (name, checkpoint) in out
  assert signal.getsignal(signum) is handler_before


@pytest.mark.usefixtures('tf_behaviour')
def test_nan_stops_before_the_diverged_weights_are_saved(tmp_path):
  with pytest.raises(errors.UserError) as raised:
    _train(tmp_path, 50, nan_at_step=6, nan_advice=' or try X')
  message = str(raised.value)
  assert message.startswith('Model diverged with loss = NaN. The last '
                            'checkpoint, %s, was written before'
                            % os.path.join(str(tmp_path), 'model.ckpt-0'))
  assert 'lower the learning rate or try X' in message
  assert tf1.train.latest_checkpoint(str(tmp_path)).endswith('model.ckpt-0')


def test_step_fn_and_checkpoint_listeners(tmp_path):
  saves, raw_runs = [], []

  class Listener(tf1.train.CheckpointSaverListener):
    def after_save(self, session, global_step_value):
      saves.append(global_step_value)

  with tf.Graph().as_default():
    graph = _Graph()

    def step_fn(step_context):
      raw_runs.append(step_context.session.run(graph.global_step))
      step_context.run_with_hooks(graph.train_op)

    config = training.TrainConfig(str(tmp_path), 6, log_frequency=0,
                                  save_checkpoint_steps=3)
    training.run_training(graph.train_op, graph.loss, 1, config,
                          step_fn=step_fn, checkpoint_listeners=[Listener()])
  assert raw_runs == list(range(6))
  assert saves == [0, 3, 6]


def test_summaries_keep_their_cadence_when_the_step_fetch_runs_ahead(
    tmp_path):
  # The worst case of the race between a step's fetch of the global step and
  # its increment: every fetch already holds the new value. Summaries must
  # still come at steps 1, 1 + n, 1 + 2n, ... (TensorFlow's own hook drifts
  # a step earlier at each summary).
  every, steps = 5, 23
  with tf.Graph().as_default():
    global_step = tf1.train.get_or_create_global_step()
    increment = global_step.assign_add(1)
    summary = tf1.summary.scalar('value', tf.cast(global_step, tf.float32))
    hook = training._SummarySaverHook(  # pylint: disable=protected-access
        save_steps=every, output_dir=str(tmp_path), summary_op=summary)
    hook.begin()
    with tf1.Session() as sess:
      sess.run(tf1.global_variables_initializer())
      hook.after_create_session(sess, None)
      context = tf1.train.SessionRunContext(None, sess)
      for _ in range(steps):
        requests = hook.before_run(context).fetches
        results = {'global_step': sess.run(increment)}
        if 'summary' in requests:
          results['summary'] = sess.run(requests['summary'])
        hook.after_run(context, tf1.train.SessionRunValues(results, None,
                                                           None))
      hook.end(sess)
  assert [step for step, _ in read_scalars(tmp_path)['value']] == list(
      range(1, steps + 1, every))


def _weight_of(checkpoint):
  return {'w': float(tf.train.load_variable(checkpoint, 'w'))}


@pytest.mark.usefixtures('tf_behaviour')
def test_in_training_evaluation_scores_each_due_step_once(tmp_path):
  evaluation = evaluation_lib.InTrainingEvaluation(4, _weight_of)
  assert _train(tmp_path, 10, evaluation=evaluation) is True
  records = evaluation_lib.read_records(str(tmp_path))
  # Every 4 steps and at the end, each on the weights of its own step.
  assert [r['global_step'] for r in records] == [4, 8, 10]
  for r in records:
    assert r['w'] == pytest.approx(
        W0 * (1 - 2 * LEARNING_RATE) ** r['global_step'], rel=1e-5)
  # A crash after step 8's checkpoint, before its score: the resumed run
  # scores step 8 first, then goes on.
  lines = (tmp_path / evaluation_lib.RECORD_FILE).read_text().splitlines()
  (tmp_path / evaluation_lib.RECORD_FILE).write_text(
      '\n'.join(lines[:2]) + '\n')
  for path in tmp_path.glob('model.ckpt-10.*'):
    path.unlink()
  assert _train(tmp_path, 12, evaluation=evaluation) is True
  assert [r['global_step'] for r in evaluation_lib.read_records(
      str(tmp_path))] == [4, 8, 12]

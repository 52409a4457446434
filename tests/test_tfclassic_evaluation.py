"""tfclassic.evaluation and tfclassic.checkpoints on real checkpoint files."""
import os
import signal

import pytest
import tensorflow as tf

from tfclassic import checkpoints
from tfclassic import errors
from tfclassic import evaluation
from tfclassic import training

tf1 = tf.compat.v1


def _write_checkpoint(train_dir, step, value=1.0):
  """A checkpoint of a variable `v` and the global step, at `step`."""
  with tf.Graph().as_default():
    global_step = tf1.train.get_or_create_global_step()
    v = tf1.get_variable('v', [2], initializer=tf1.constant_initializer(value))
    saver = tf1.train.Saver()
    with tf1.Session() as sess:
      sess.run(tf1.global_variables_initializer())
      sess.run(global_step.assign(step))
      return saver.save(sess, os.path.join(str(train_dir), 'model.ckpt'),
                        global_step=step)


def test_run_once_scores_the_latest_checkpoint(tmp_path):
  _write_checkpoint(tmp_path, 3)
  latest = _write_checkpoint(tmp_path, 7)
  scored = []
  evaluation.eval_loop(str(tmp_path), scored.append, run_once=True,
                       interval_secs=60)
  assert scored == [latest]
  assert checkpoints.checkpoint_step(latest) == 7


def test_run_once_without_a_checkpoint_says_how_to_train(tmp_path):
  with pytest.raises(errors.UserError, match=(
      r'No checkpoint found in .*\. Train first \(python -m pkg.train '
      r'--train_dir=.*\) or point --checkpoint_dir at a train_dir\.')):
    evaluation.eval_loop(str(tmp_path), print, run_once=True,
                         interval_secs=60, train_command='python -m pkg.train')


def _on_each_look(monkeypatch, action):
  """Calls action(number of looks so far) each time the loop looks for the
  latest checkpoint, before it looks."""
  looks = []
  real_newest = checkpoints.newest_checkpoint

  def newest(checkpoint_dir):
    looks.append(1)
    action(len(looks))
    return real_newest(checkpoint_dir)

  monkeypatch.setattr(checkpoints, 'newest_checkpoint', newest)
  return looks


def test_the_loop_waits_scores_each_new_checkpoint_once_and_stops_on_ctrl_c(
    tmp_path, capfd, monkeypatch):
  """Checkpoint 1 appears while waiting, 2 while scoring 1; Ctrl-C in 2."""
  scored = []
  _on_each_look(monkeypatch, lambda looks: looks == 2 and _write_checkpoint(
      tmp_path, 1))

  def evaluate(checkpoint):
    scored.append(checkpoint)
    if len(scored) == 1:
      _write_checkpoint(tmp_path, 2)
    else:
      os.kill(os.getpid(), signal.SIGINT)

  handler_before = signal.getsignal(signal.SIGINT)
  evaluation.eval_loop(str(tmp_path), evaluate, run_once=False,
                       interval_secs=0.05)
  assert [os.path.basename(c) for c in scored] == ['model.ckpt-1',
                                                   'model.ckpt-2']
  out = capfd.readouterr().out
  assert out.count('No checkpoint in %s yet' % tmp_path) == 1
  assert 'SIGINT received: stopping after this evaluation' in out
  assert out.rstrip().endswith('Stopped by SIGINT.')
  assert signal.getsignal(signal.SIGINT) is handler_before


def test_an_already_scored_checkpoint_is_not_scored_again(tmp_path,
                                                          monkeypatch):
  _write_checkpoint(tmp_path, 5)
  scored = []
  looks = _on_each_look(
      monkeypatch, lambda looks: looks == 4 and os.kill(os.getpid(),
                                                        signal.SIGINT))
  evaluation.eval_loop(str(tmp_path), scored.append, run_once=False,
                       interval_secs=0.01)
  assert len(looks) == 4 and len(scored) == 1


def _restore_into_new_graph(checkpoint, shape):
  with tf.Graph().as_default():
    tf1.train.get_or_create_global_step()
    v = tf1.get_variable('v', shape)
    restorer = checkpoints.Restorer()
    with tf1.Session() as sess:
      restorer.restore(sess, checkpoint)
      return sess.run(v)


def test_restore_reads_the_saved_values(tmp_path):
  checkpoint = _write_checkpoint(tmp_path, 1, value=2.5)
  assert list(_restore_into_new_graph(checkpoint, [2])) == [2.5, 2.5]


def test_a_truncated_checkpoint_is_one_line_naming_it(tmp_path):
  checkpoint = _write_checkpoint(tmp_path, 1)
  data = checkpoint + '.data-00000-of-00001'
  with open(data, 'r+b') as f:
    f.truncate(os.path.getsize(data) // 2)
  with pytest.raises(errors.UserError) as raised:
    _restore_into_new_graph(checkpoint, [2])
  message = str(raised.value)
  # TensorFlow's reason goes between the parentheses, in its own words.
  assert message.startswith('%s is corrupt or truncated (' % checkpoint)
  assert message.endswith(
      '). There is no intact older checkpoint beside it.')


def test_a_failed_checksum_is_caught_and_an_intact_one_named(tmp_path):
  older = _write_checkpoint(tmp_path, 1)
  newer = _write_checkpoint(tmp_path, 2, value=5.0)
  data = newer + '.data-00000-of-00001'
  content = bytearray(open(data, 'rb').read())
  content[-4:] = bytes(b ^ 0xFF for b in content[-4:])  # within v's values
  open(data, 'wb').write(bytes(content))
  # TensorFlow's own restore takes the damaged values without a word.
  with pytest.raises(errors.UserError) as raised:
    _restore_into_new_graph(newer, [2])
  message = str(raised.value)
  assert message.startswith('%s is corrupt or truncated (' % newer)
  assert message.endswith('). The newest intact one is %s.' % older)
  assert checkpoints.newest_intact(str(tmp_path), newer) == older


def test_another_models_checkpoint_is_a_mismatch(tmp_path):
  checkpoint = _write_checkpoint(tmp_path, 1)
  with pytest.raises(errors.UserError, match=(
      r'does not match this model .*: v has shape \[2\] there, \[3\] here'
  )) as raised:
    _restore_into_new_graph(checkpoint, [3])
  assert '\n' not in str(raised.value)


def test_a_checkpoint_without_a_variable_is_a_mismatch(tmp_path):
  checkpoint = _write_checkpoint(tmp_path, 1)
  with tf.Graph().as_default():
    tf1.get_variable('other', [2])
    restorer = checkpoints.Restorer()
    with tf1.Session() as sess, pytest.raises(
        errors.UserError, match='it has no variable other'):
      restorer.restore(sess, checkpoint)


def test_newest_checkpoint_passes_over_one_whose_files_are_gone(tmp_path):
  _write_checkpoint(tmp_path, 3)
  gone = _write_checkpoint(tmp_path, 7)
  assert checkpoints.newest_checkpoint(str(tmp_path)) == gone
  for path in tmp_path.glob('model.ckpt-7.*'):
    path.unlink()
  state = (tmp_path / 'checkpoint').read_text()
  assert checkpoints.newest_checkpoint(str(tmp_path)) == str(
      tmp_path / 'model.ckpt-3')
  assert (tmp_path / 'checkpoint').read_text() == state
  for path in tmp_path.glob('model.ckpt-3.*'):
    path.unlink()
  assert checkpoints.newest_checkpoint(str(tmp_path)) is None


def test_a_record_line_cut_short_is_ignored_and_the_next_one_kept(tmp_path):
  evaluation_ = evaluation.InTrainingEvaluation(
      2, lambda checkpoint: {'precision_at_1': 0.5, 'examples': 10000})
  assert evaluation.score_unless_recorded(evaluation_, str(tmp_path), 'c', 2)
  assert not evaluation.score_unless_recorded(evaluation_, str(tmp_path),
                                              'c', 2)
  # A crash in the middle of writing step 4's line.
  with open(tmp_path / evaluation.RECORD_FILE, 'a') as f:
    f.write('4,1796214987.2,5.7,0.68,100')
  assert [r['global_step'] for r in evaluation.read_records(
      str(tmp_path))] == [2]
  assert evaluation.score_unless_recorded(evaluation_, str(tmp_path), 'c', 4)
  records = evaluation.read_records(str(tmp_path))
  assert [(r['global_step'], r['examples']) for r in records] == [
      (2, 10000), (4, 10000)]
  assert list(records[0]) == ['global_step', 'unix_time', 'eval_secs',
                              'precision_at_1', 'examples']


def _restoring_evaluate(scored, before_restore=lambda checkpoint: None):
  """An evaluate() that restores the checkpoint for real, as the binaries'
  do, after before_restore(checkpoint)."""
  def evaluate(checkpoint):
    before_restore(checkpoint)
    with tf.Graph().as_default():
      tf1.train.get_or_create_global_step()
      tf1.get_variable('v', [2])
      restorer = checkpoints.Restorer()
      with tf1.Session() as sess:
        restorer.restore(sess, checkpoint)
    scored.append(os.path.basename(checkpoint))
  return evaluate


def _rotate_away(checkpoint):
  """What training's max_to_keep does to an old checkpoint."""
  for path in tf.io.gfile.glob(checkpoint + '.*'):
    os.remove(path)


@pytest.mark.parametrize('run_once', [True, False])
def test_a_checkpoint_rotated_away_before_its_restore_is_passed_over(
    tmp_path, capfd, run_once):
  """Training writes step 3 and rotates step 2 away between the loop's
  look and its restore: the loop scores step 3 and says why, not that
  step 2 is corrupt."""
  _write_checkpoint(tmp_path, 1)
  _write_checkpoint(tmp_path, 2)
  scored = []

  def training_moves_on(checkpoint):
    if checkpoint.endswith('-2'):
      _write_checkpoint(tmp_path, 3)
      _rotate_away(checkpoint)
    elif not run_once:
      os.kill(os.getpid(), signal.SIGINT)

  evaluation.eval_loop(str(tmp_path),
                       _restoring_evaluate(scored, training_moves_on),
                       run_once=run_once, interval_secs=0.05)
  assert scored == ['model.ckpt-3']
  out = capfd.readouterr().out
  assert ('%s is gone (rotated away by training, or deleted); scoring the '
          'newest checkpoint, %s.' % (tmp_path / 'model.ckpt-2',
                                      tmp_path / 'model.ckpt-3')) in out
  assert 'corrupt' not in out


def test_run_once_with_every_checkpoint_gone_says_so(tmp_path):
  only = _write_checkpoint(tmp_path, 1)
  with pytest.raises(checkpoints.CheckpointGone, match=(
      r'model\.ckpt-1 is gone: its files were deleted \(rotated away by '
      r'training, or by hand\) after it was found\.')):
    evaluation.eval_loop(str(tmp_path),
                         _restoring_evaluate([], _rotate_away),
                         run_once=True, interval_secs=60)
  assert not checkpoints.exists(only)


def test_a_checkpoint_that_exists_but_is_damaged_is_still_called_corrupt(
    tmp_path):
  checkpoint = _write_checkpoint(tmp_path, 1)
  data_file, = tf.io.gfile.glob(checkpoint + '.data-*')
  with open(data_file, 'r+b') as f:
    f.truncate(4)
  with pytest.raises(errors.UserError, match='is corrupt or truncated') as e:
    _restoring_evaluate([])(checkpoint)
  assert not isinstance(e.value, checkpoints.CheckpointGone)


def _train_with_scores(train_dir, scores, max_steps, keep_best=False,
                       stop_at=None, max_checkpoints=5):
  """run_training of a one-variable graph, evaluated every 2 steps, whose
  evaluation of step N scores scores[N] (and checks the checkpoint)."""
  def evaluate(checkpoint):
    step = checkpoints.checkpoint_step(checkpoint)
    return {'precision_at_1': scores[step], 'examples': 10}

  with tf.Graph().as_default():
    global_step = tf1.train.get_or_create_global_step()
    weight = tf1.get_variable('w', [], initializer=tf1.ones_initializer())
    loss = tf.square(weight)
    train_op = tf1.train.GradientDescentOptimizer(0.1).minimize(
        loss, global_step=global_step)
    config = training.TrainConfig(str(train_dir), max_steps, log_frequency=0,
                                  save_checkpoint_secs=None,
                                  save_checkpoint_steps=1,
                                  max_checkpoints=max_checkpoints)
    scored, hooks = evaluation.with_best_and_stop(
        evaluation.InTrainingEvaluation(2, evaluate), str(train_dir),
        keep_best, stop_at)
    training.run_training(train_op, loss, 1, config, evaluation=scored,
                          hooks=hooks)


def test_keep_best_keeps_the_better_score_after_rotation(tmp_path, capfd):
  # Checkpoints every step, only the newest kept: step 2's is rotated away
  # from the train_dir long before training ends.
  _train_with_scores(tmp_path, {2: 0.6, 4: 0.4, 6: 0.5}, 6, keep_best=True,
                     max_checkpoints=1)
  assert [r['global_step'] for r in evaluation.read_records(str(tmp_path))
          ] == [2, 4, 6]
  assert not (tmp_path / 'model.ckpt-2.index').exists()
  best_dir = tmp_path / evaluation.BEST_DIR
  kept = checkpoints.latest_checkpoint(str(best_dir))
  assert kept == str(best_dir / 'model.ckpt-2')
  assert checkpoints.checkpoint_step(kept) == 2
  assert float(tf.train.load_variable(kept, 'w')) == pytest.approx(0.8 ** 2)
  assert evaluation.best_record(str(tmp_path)) == {
      'precision_at_1': 0.6, 'examples': 10.0, 'global_step': 2}
  assert sorted(os.listdir(best_dir)) == [
      'checkpoint', 'model.ckpt-2.data-00000-of-00001', 'model.ckpt-2.index',
      'model.ckpt-2.json']
  assert 'Kept model.ckpt-2 in %s: precision @ 1 = 0.600, the best so far.' % (
      best_dir) in capfd.readouterr().out
  # A resumed run replaces it only with a better score, and then wholly.
  _train_with_scores(tmp_path, {8: 0.6, 10: 0.7}, 10, keep_best=True,
                     max_checkpoints=1)
  assert evaluation.best_record(str(tmp_path))['global_step'] == 10
  assert sorted(os.listdir(best_dir)) == [
      'checkpoint', 'model.ckpt-10.data-00000-of-00001',
      'model.ckpt-10.index', 'model.ckpt-10.json']


def test_stop_at_precision_stops_at_the_first_evaluation_reaching_it(
    tmp_path, capfd):
  _train_with_scores(tmp_path, {2: 0.3, 4: 0.8, 6: 0.9}, 100, stop_at=0.75)
  assert [r['global_step'] for r in evaluation.read_records(str(tmp_path))
          ] == [2, 4]
  # The final checkpoint is that of the step scored.
  assert checkpoints.checkpoint_step(
      checkpoints.newest_checkpoint(str(tmp_path))) == 4
  assert not (tmp_path / evaluation.BEST_DIR).exists()
  assert ('Stopping: precision @ 1 = 0.800 at step 4 reached '
          '--stop_at_precision=0.75.') in capfd.readouterr().out

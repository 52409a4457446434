"""The eval loop: score each new checkpoint as training writes it.

`--run_once` scores the latest checkpoint and returns; otherwise the loop
waits for a first checkpoint, scores every new one, skips one already
scored, and looks again every interval. Ctrl-C ends it after the
evaluation in progress, with one line.
"""
import time
from typing import Callable

import tensorflow as tf

from tfclassic import checkpoints
from tfclassic import signals

tf1 = tf.compat.v1

# How often the wait between looks checks for Ctrl-C.
_POLL_SECS = 0.2


def eval_loop(checkpoint_dir: str, evaluate: Callable[[str], None],
              run_once: bool, interval_secs: float,
              train_command: str = '') -> None:
  """Calls evaluate(checkpoint) for the checkpoints in checkpoint_dir.

  Args:
    checkpoint_dir: the train_dir being evaluated.
    evaluate: scores one checkpoint (its path).
    run_once: score the latest checkpoint once and return.
    interval_secs: seconds between looks for a new checkpoint.
    train_command: how to train, named when run_once finds no checkpoint.

  Raises:
    errors.UserError: run_once and no checkpoint, or what evaluate raises.
  """
  if run_once:
    evaluate(checkpoints.latest_checkpoint(checkpoint_dir, train_command))
    return
  last_scored = None
  announced_wait = False
  with signals.StopSignal('stopping after this evaluation (press Ctrl-C '
                          'again to stop at once)') as stop:
    while stop.requested is None:
      checkpoint = checkpoints.newest_checkpoint(checkpoint_dir)
      if checkpoint is None:
        if not announced_wait:
          announced_wait = True
          print('No checkpoint in %s yet; looking again every %d s.'
                % (checkpoint_dir, interval_secs), flush=True)
      elif checkpoint != last_scored:
        evaluate(checkpoint)
        last_scored = checkpoint
      deadline = time.time() + interval_secs
      while stop.requested is None and time.time() < deadline:
        time.sleep(min(_POLL_SECS, max(deadline - time.time(), 0)))
  print('Stopped by %s.' % stop.requested, flush=True)

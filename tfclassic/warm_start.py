"""Starting a new training run from another run's trained weights.

warm_start() points the initializers of a graph's weights at a checkpoint
(tf.compat.v1.train.init_from_checkpoint), so the Session's usual
initialization fills them: no step, hook or checkpoint of the new run sees
the random weights. Only weights are taken, and the moving averages that
follow them; the global step, the optimizer's slots (momentum) and the
losses' averages keep their initializers, so the new run starts at step 0
with its own schedule. A weight whose shape differs (the softmax layer of
another number of classes), whose dtype differs, that the checkpoint lacks
or that the exclude pattern names keeps its initializer. The log lists
every weight and what became of it.

Weights come from the checkpoint's moving averages where it has them (what
evaluation, prediction and export use, and what precision was measured
on), else from the raw weights.
"""
import dataclasses
import re
from typing import Optional, Sequence

import tensorflow as tf

from tfclassic import checkpoints
from tfclassic import errors

tf1 = tf.compat.v1

# The name ExponentialMovingAverage gives a variable's average, after the
# variable's own name.
AVERAGE_SUFFIX = '/ExponentialMovingAverage'


@dataclasses.dataclass
class WarmStart:
  """What warm_start() did.

  Attributes:
    checkpoint: the checkpoint read.
    taken: (variable name, checkpoint name) of each weight taken.
    kept: (variable name, why) of each weight that kept its initializer.
  """
  checkpoint: str
  taken: list[tuple[str, str]]
  kept: list[tuple[str, str]]


def resolve(checkpoint_or_dir: str) -> str:
  """The checkpoint a path names: a train_dir's newest, or the checkpoint
  itself (its prefix, or its .index file).

  Raises:
    errors.UserError: there is no checkpoint there.
  """
  path = checkpoint_or_dir
  if path.endswith('.index'):
    path = path[:-len('.index')]
  if tf.io.gfile.isdir(path):
    newest = checkpoints.newest_checkpoint(path)
    if newest is None:
      raise errors.UserError(
          '--warm_start_from=%s is a folder without checkpoints. Point it at '
          'the train_dir of a finished run (its latest checkpoint is used), '
          'at its best/ folder, or at one checkpoint such as '
          'TRAIN_DIR/model.ckpt-1000.' % checkpoint_or_dir)
    return newest
  if not checkpoints.exists(path):
    raise errors.UserError(
        '--warm_start_from=%s names no checkpoint: there is no %s.index. '
        'Point it at a train_dir (its latest checkpoint is used) or at one '
        'checkpoint such as TRAIN_DIR/model.ckpt-1000.' % (
            checkpoint_or_dir, path))
  return path


def plan(checkpoint: str, variables: Sequence[tf.Variable],
         exclude: Optional[str] = None,
         from_averages: bool = True) -> WarmStart:
  """Which of `variables` the checkpoint fills, and from which of its names.

  Args:
    checkpoint: the checkpoint to read.
    variables: the weights to fill.
    exclude: a regular expression; variables whose name it matches
      (re.search) keep their initializers.
    from_averages: take a weight's moving average where the checkpoint has
      one.

  Raises:
    errors.UserError: the checkpoint cannot be read.
  """
  shapes = checkpoints.variable_shapes(checkpoint)
  dtypes = tf.train.load_checkpoint(checkpoint).get_variable_to_dtype_map()
  taken, kept = [], []
  for variable in variables:
    name = variable.op.name
    source = name + AVERAGE_SUFFIX
    if not (from_averages and source in shapes):
      source = name
    shape = variable.shape.as_list()
    if exclude and re.search(exclude, name):
      kept.append((name, 'matches --warm_start_exclude'))
    elif source not in shapes:
      kept.append((name, 'not in the checkpoint'))
    elif shapes[source] != shape:
      kept.append((name, 'shape %s there, %s here' % (shapes[source], shape)))
    elif dtypes[source] != variable.dtype.base_dtype:
      kept.append((name, '%s there, %s here' % (
          dtypes[source].name, variable.dtype.base_dtype.name)))
    else:
      taken.append((name, source))
  return WarmStart(checkpoint, taken, kept)


def warm_start(checkpoint_or_dir: str, exclude: Optional[str] = None,
               from_averages: bool = True,
               log_prefix: str = '') -> WarmStart:
  """Makes the default graph's trainable variables, and their moving
  averages, start from a checkpoint's values; logs what was taken.

  Call it once the training graph is built and before its Session is
  created (run_training's Scaffold builds the init op from the variables'
  initializers then).

  Args:
    checkpoint_or_dir: a checkpoint, or a folder whose newest one is used.
    exclude: a regular expression of variable names not to take.
    from_averages: take each weight's moving average where the checkpoint
      has one (the weights evaluation scores) rather than the raw weight.
    log_prefix: put before every log line.

  Raises:
    errors.UserError: no checkpoint there, or none of its variables fits.
  """
  checkpoint = resolve(checkpoint_or_dir)
  weights = tf1.trainable_variables()
  result = plan(checkpoint, weights, exclude, from_averages)
  if not result.taken:
    reasons = '; '.join('%s: %s' % kept for kept in result.kept[:3])
    raise errors.UserError(
        'Nothing in %s fits this model, so --warm_start_from cannot start '
        'from it (%s%s). It takes a checkpoint of the same model, trained on '
        'any number of classes: point it at one, relax --warm_start_exclude, '
        'or drop it to train from scratch.' % (
            checkpoint, reasons, '; ...' if len(result.kept) > 3 else ''))
  by_name = {v.op.name: v for v in tf1.global_variables()}
  weights_by_name = {v.op.name: v for v in weights}
  for name, source in result.taken:
    tf1.train.init_from_checkpoint(checkpoint,
                                   {source: weights_by_name[name]})
    # The new run's averages start where its weights do, not at random.
    average = by_name.get(name + AVERAGE_SUFFIX)
    if average is not None:
      tf1.train.init_from_checkpoint(checkpoint, {source: average})
  averaged = any(source != name for name, source in result.taken)
  print('%sWarm start from %s (%s): %d of %d weights taken; the global step '
        'and the optimizer start at zero.' % (
            log_prefix, checkpoint,
            'its moving averages' if averaged else 'its raw weights',
            len(result.taken), len(weights)), flush=True)
  for name, source in result.taken:
    print('%s  taken: %s%s' % (
        log_prefix, name, ' (its raw weight: the checkpoint has no average '
        'of it)' if averaged and source == name else ''), flush=True)
  for name, why in result.kept:
    print('%s  not taken, initialized as new: %s (%s)' % (
        log_prefix, name, why), flush=True)
  return result

"""Shared by the mnist binaries: flags, sessions, resuming, the training
step, batched eval."""

import os
import shutil
import sys
import time
from typing import Optional, Tuple

import numpy as np
from absl import flags

from mnist import input as mnist_input
from mnist import model
from mnist.quiet_tf import tf

# Lets users (and CI) point every binary at a local copy of the data once.
DEFAULT_DATA_DIR = os.environ.get('MNIST_DATA_DIR', '/tmp/mnist_data')
DEFAULT_TRAIN_DIR = '/tmp/mnist_train'
EVAL_BATCH_SIZE = 1000
CHECKPOINT_NAME = 'model.ckpt'
# The small models run each op in the calling thread (inter-op threads -1)
# rather than hand it to the inter-op pool: a fed softmax step took 0.80
# instead of 1.07 ms, mlp 2.70 instead of 3.04 ms. deep keeps the pool
# (0: one thread per core): 144.6 instead of 138.8 ms in the calling thread.
INTER_OP_THREADS = {'softmax': -1, 'mlp': -1}

# Variable scopes that identify which model wrote a checkpoint.
_SCOPE_TO_MODEL = {'conv1': 'deep', 'hidden1': 'mlp', 'softmax': 'softmax'}


def define_data_flags():
  """Defines --data_dir and --source_url."""
  flags.DEFINE_string(
      'data_dir', DEFAULT_DATA_DIR,
      'Directory with the four MNIST .gz IDX files; missing ones are '
      'downloaded there. Default from $MNIST_DATA_DIR if set.')
  flags.DEFINE_string(
      'source_url', mnist_input.SOURCE_URL,
      'Base URL of the MNIST mirror used when files are missing.')


def define_common_flags():
  """Defines the flags every mnist training/eval binary takes."""
  define_data_flags()
  flags.DEFINE_string(
      'train_dir', DEFAULT_TRAIN_DIR,
      'Training directory: mnist.train writes checkpoints and summaries '
      '(scratch: loss/accuracy curves) there; mnist.eval reads the latest '
      'checkpoint from it.')


def ensure_data(data_dir: str, source_url: str):
  """Downloads missing MNIST files, exiting with a clear message on failure.

  Args:
    data_dir: directory that should hold the four files.
    source_url: mirror to fetch missing files from.
  """
  try:
    mnist_input.maybe_download(data_dir, source_url)
  except mnist_input.DataUnavailableError as e:
    sys.exit(str(e))


def load_data_sets(data_dir: str, validation_size: int,
                   seed: Optional[int]) -> mnist_input.Datasets:
  """read_data_sets that exits with a one-line reason on bad input."""
  try:
    return mnist_input.read_data_sets(
        data_dir, validation_size=validation_size, seed=seed)
  except mnist_input.IdxError as e:
    sys.exit(f'Bad MNIST file: {e}')
  except ValueError as e:
    sys.exit(f'Bad --validation_size: {e}')


def session_config(model_name: Optional[str] = None
                   ) -> tf.compat.v1.ConfigProto:
  """Session settings shared by training and evaluation.

  Args:
    model_name: the model trained in the Session, if any.
  """
  return tf.compat.v1.ConfigProto(
      allow_soft_placement=True,
      inter_op_parallelism_threads=INTER_OP_THREADS.get(model_name, 0))


def prepare_train_dir(train_dir: str, fresh: bool):
  """Creates `train_dir`; with `fresh`, first deletes what is in it."""
  if fresh and os.path.isdir(train_dir):
    shutil.rmtree(train_dir)
  os.makedirs(train_dir, exist_ok=True)


def restore_or_initialize(sess: tf.compat.v1.Session,
                          saver: tf.compat.v1.train.Saver,
                          train_dir: str) -> int:
  """Restores the latest checkpoint in `train_dir`, else initialises.

  Args:
    sess: session whose graph holds the variables and a global step.
    saver: saver over the model's variables.
    train_dir: where checkpoints are written.

  Returns:
    The global step to continue from.
  """
  sess.run(tf.compat.v1.local_variables_initializer())
  latest = tf.train.latest_checkpoint(train_dir)
  if latest is None:
    sess.run(tf.compat.v1.global_variables_initializer())
    return 0
  saver.restore(sess, latest)
  step = int(sess.run(tf.compat.v1.train.get_global_step()))
  print(f'Resuming from {latest} at step {step}')
  return step


def checkpoint_path(train_dir: str) -> str:
  return os.path.join(train_dir, CHECKPOINT_NAME)


def _every(step: int, interval: int) -> bool:
  return interval > 0 and step % interval == 0


def train_step(sess: tf.compat.v1.Session, graph: model.TrainGraph,
               model_name: str, step: int,
               batch: Optional[Tuple[np.ndarray, np.ndarray]],
               writer: Optional[tf.compat.v1.summary.FileWriter],
               log_every: int, summary_every: int) -> None:
  """One step of mnist.train: log, train on a batch, write summaries.

  Args:
    sess: session running `graph`.
    graph: from model.train_graph.
    model_name: which tutorial; decides the log line and dropout.
    step: steps done before this one.
    batch: (images [n, 784] float32, labels [n]) to feed, or None to take
      the graph's own input (model.train_graph's `inputs`).
    writer: receives the summaries (None only with summary_every 0).
    log_every: print the tutorial's progress line every N steps (0: never).
    summary_every: write summaries after every N-th step (0: never).
  """
  feed = {} if batch is None else {graph.images: batch[0],
                                   graph.labels: batch[1]}
  if _every(step, log_every) and model_name != 'mlp':
    # As in the tutorial: accuracy without dropout on the batch about to be
    # trained on, so the batch is fetched to be fed to the training run.
    accuracy, images, labels = sess.run(
        [graph.accuracy, graph.images, graph.labels], feed)
    feed = {graph.images: images, graph.labels: labels}
    print(f'step {step}, training accuracy {accuracy:g}', flush=True)
  if model_name == 'deep':
    feed[graph.keep_prob] = model.DROPOUT_KEEP_PROB
  done = step + 1
  fetches = {'train': graph.train_op, 'loss': graph.loss}
  if _every(done, summary_every):
    fetches['summary'] = graph.summary_op
  started = time.time()
  results = sess.run(fetches, feed_dict=feed)
  if model_name == 'mlp' and _every(step, log_every):
    print(f'Step {step}: loss = {results["loss"]:.2f} '
          f'({time.time() - started:.3f} sec)', flush=True)
  if 'summary' in results:
    writer.add_summary(results['summary'], done)


def count_correct(sess: tf.compat.v1.Session, correct_op: tf.Tensor,
                  images: tf.Tensor, labels: tf.Tensor,
                  data_set: mnist_input.DataSet,
                  batch_size: int = EVAL_BATCH_SIZE) -> Tuple[int, int]:
  """Scores every example of `data_set`, feeding it in batches.

  Args:
    sess: session with trained variables.
    correct_op: count of correct predictions for the fed batch.
    images: tensor fed with image rows.
    labels: tensor fed with label indices.
    data_set: examples to score, in order.
    batch_size: examples per run; keeps memory bounded.

  Returns:
    (number of examples, number correct).
  """
  correct = 0
  for start in range(0, data_set.num_examples, batch_size):
    end = start + batch_size
    correct += int(sess.run(correct_op, feed_dict={
        images: data_set.images[start:end],
        labels: data_set.labels[start:end]}))
  return data_set.num_examples, correct


def format_precision(num_examples: int, num_correct: int) -> str:
  """Mechanics 101's evaluation line."""
  precision = num_correct / num_examples if num_examples else 0.0
  return (f'  Num examples: {num_examples}  Num correct: {num_correct}  '
          f'Precision @ 1: {precision:0.04f}')


def model_from_checkpoint(checkpoint: str) -> str:
  """Names the model ('softmax', 'deep' or 'mlp') that wrote `checkpoint`.

  Raises:
    ValueError: the checkpoint holds none of the known models.
  """
  scopes = {name.split('/')[0]
            for name, _ in tf.train.list_variables(checkpoint)}
  for scope, model_name in _SCOPE_TO_MODEL.items():
    if scope in scopes:
      return model_name
  raise ValueError(f'{checkpoint} holds no known MNIST model '
                   f'(variables under {sorted(scopes)})')

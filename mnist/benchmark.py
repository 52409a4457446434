"""Measures what each part of an MNIST training step costs.

  python -m mnist.benchmark --data_dir=/path/to/mnist

For each of --models, builds mnist.train's graph (model.train_graph) and
times its step (training.train_step) in these modes, all in one process:

  ceiling  the step on a constant in-graph batch, TensorFlow's default
           Session config: the yardstick.
  model    the same in mnist.train's Session config.
  feed     mnist.train's default input: DataSet.next_batch numpy batches
           fed through the placeholders.
  queue    mnist.train --input=queue: reader threads and shuffle_batch
           feeding the model inside the graph.
  input    the queue input alone, as many batches as it can deliver.
  train    mnist.train's whole step with the feed input: a progress line
           every --log_every steps, summaries every --summary_every steps
           (checkpoints, every 1000 steps, are left out).

Each mode reports the median ms per step after --warmup_steps, and the
ratio of the ceiling's median to it (the mean columns: the same with
means). Modes alternate for --rounds rounds, so that other jobs on a shared
machine slow all of them alike; each run builds a fresh graph and Session.
The train mode times whole multiples of --summary_every steps, so its mean
includes log and summary steps at the rate training writes them. The feed
and train modes share one DataSet, whose reshuffles at each epoch start land
in their means. Peak RSS is the process's resident high-water mark while the
mode ran, including what earlier modes left allocated.
"""

import contextlib
import io
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from typing import Callable, Dict, Iterator, List, NamedTuple, Optional, Tuple

import numpy as np
from absl import app, flags

from mnist import input as mnist_input
from mnist import model, training
from mnist.quiet_tf import tf

MODES = ('ceiling', 'model', 'feed', 'queue', 'input', 'train')
DEFAULT_MODELS = ('softmax', 'deep')
# The yardstick's Session: TensorFlow's defaults.
STOCK_CONFIG = tf.compat.v1.ConfigProto(allow_soft_placement=True)
HEADER = ('model', 'mode', 'ms/step', 'examples/sec', 'x ceiling',
          'mean ms', 'mean x ceiling', 'steps', 'peak RSS MB')

FLAGS = flags.FLAGS

training.define_data_flags()
flags.DEFINE_list('models', list(DEFAULT_MODELS),
                  f'Models to measure, from: {", ".join(model.MODELS)}.')
flags.DEFINE_list('modes', list(MODES),
                  f'Modes to measure, from: {", ".join(MODES)}. The ceiling '
                  'always runs: ratios are taken to it.')
flags.DEFINE_integer('batch_size', None,
                     'Examples per step; default: each tutorial\'s (deep 50, '
                     'others 100).')
flags.DEFINE_integer('steps', 200,
                     'Timed steps per mode and round (the train mode rounds '
                     'up to whole multiples of --summary_every).')
flags.DEFINE_integer('warmup_steps', 20,
                     'Untimed steps before timing, per mode and round.')
flags.DEFINE_integer('rounds', 3, 'Rounds over all models and modes.')
flags.DEFINE_integer('log_every', 100,
                     'For the train mode: a progress line every N steps, as '
                     'mnist.train --log_every (0: never).')
flags.DEFINE_integer('summary_every', 100,
                     'For the train mode: summaries every N steps, as '
                     'mnist.train --summary_every (0: never).')
flags.DEFINE_integer('validation_size', mnist_input.VALIDATION_SIZE,
                     'Training examples held out, as mnist.train '
                     '--validation_size: the feed and train modes batch the '
                     'rest.')
flags.DEFINE_string('json', None, 'Also write the figures to this file.')


class Result(NamedTuple):
  """One model and mode's measurements over all rounds."""
  step_seconds: List[float]
  peak_rss_mb: float


def _peak_rss_mb(reset: bool = False) -> float:
  """The resident-memory high-water mark, in MB.

  Args:
    reset: restart the mark first (Linux), so it covers what runs next.
  """
  try:
    if reset:
      with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')
    with open('/proc/self/status') as f:
      return next(int(line.split()[1]) for line in f
                  if line.startswith('VmHWM:')) / 1024
  except OSError:
    # No /proc: the peak of the whole process so far.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _time_steps(run_step: Callable[[int], None], steps: int) -> List[float]:
  """Runs --warmup_steps, then times `steps` steps; returns their seconds."""
  for step in range(FLAGS.warmup_steps):
    run_step(step)
  seconds = []
  for step in range(FLAGS.warmup_steps, FLAGS.warmup_steps + steps):
    start = time.perf_counter()
    run_step(step)
    seconds.append(time.perf_counter() - start)
  return seconds


@contextlib.contextmanager
def _session(config: tf.compat.v1.ConfigProto
             ) -> Iterator[tf.compat.v1.Session]:
  """A Session with variables initialised and queue runners running."""
  with tf.compat.v1.Session(config=config) as sess:
    sess.run([tf.compat.v1.global_variables_initializer(),
              tf.compat.v1.local_variables_initializer()])
    coord = tf.compat.v1.train.Coordinator()
    threads = tf.compat.v1.train.start_queue_runners(sess, coord)
    try:
      yield sess
    finally:
      coord.request_stop()
      coord.join(threads)


class _Bench:
  """One model's modes; keeps its training split loaded between rounds."""

  def __init__(self, name: str, work_dir: str):
    self.name = name
    self.hp = model.HPARAMS[name]
    self.batch_size = FLAGS.batch_size or self.hp.batch_size
    self._work_dir = work_dir
    self._train_set = None

  def _next_batch(self) -> Callable[[], Tuple[np.ndarray, np.ndarray]]:
    if self._train_set is None:
      self._train_set = training.load_data_sets(
          FLAGS.data_dir, FLAGS.validation_size, seed=None).train
    return lambda: self._train_set.next_batch(self.batch_size)

  def _constant_batch(self) -> Tuple[tf.Tensor, tf.Tensor]:
    rng = np.random.RandomState(0)
    images = rng.uniform(size=(self.batch_size, model.IMAGE_PIXELS))
    labels = rng.randint(0, model.NUM_CLASSES, self.batch_size)
    return tf.constant(images, tf.float32), tf.constant(labels, tf.int32)

  def _queued_batch(self) -> Tuple[tf.Tensor, tf.Tensor]:
    return mnist_input.train_inputs(FLAGS.data_dir, self.batch_size)

  def _time_training(self, inputs=None, next_batch=None, config=None,
                     summary_dir=None) -> List[float]:
    """Times training.train_step on model.train_graph.

    Args:
      inputs: the graph's own input (see model.train_graph), or None.
      next_batch: gives each step's batch to feed; None: `inputs` serve.
      config: Session config; default mnist.train's.
      summary_dir: if set, log and write summaries there as mnist.train
        does, and time whole multiples of --summary_every steps.
    """
    graph = model.train_graph(self.name, self.hp.optimizer,
                              self.hp.learning_rate, inputs)
    steps, log_every, summary_every = FLAGS.steps, 0, 0
    if summary_dir:
      log_every, summary_every = FLAGS.log_every, FLAGS.summary_every
      if summary_every:
        steps = -(-steps // summary_every) * summary_every
    with _session(config or training.session_config(self.name)) as sess:
      writer = (tf.compat.v1.summary.FileWriter(summary_dir, sess.graph)
                if summary_dir else None)
      try:
        return _time_steps(lambda step: training.train_step(
            sess, graph, self.name, step,
            None if next_batch is None else next_batch(), writer,
            log_every, summary_every), steps)
      finally:
        if writer:
          writer.close()

  def run_ceiling(self) -> List[float]:
    return self._time_training(self._constant_batch(), config=STOCK_CONFIG)

  def run_model(self) -> List[float]:
    return self._time_training(self._constant_batch())

  def run_feed(self) -> List[float]:
    return self._time_training(next_batch=self._next_batch())

  def run_queue(self) -> List[float]:
    return self._time_training(self._queued_batch())

  def run_input(self) -> List[float]:
    batch = tf.group(*self._queued_batch())
    with _session(training.session_config(self.name)) as sess:
      return _time_steps(lambda _: sess.run(batch), FLAGS.steps)

  def run_train(self) -> List[float]:
    return self._time_training(
        next_batch=self._next_batch(),
        summary_dir=tempfile.mkdtemp(dir=self._work_dir))

  def measure(self, mode: str) -> Result:
    """Runs `mode` in a fresh graph; returns its step times and peak RSS."""
    _peak_rss_mb(reset=True)
    # Log lines would break up the table.
    with tf.Graph().as_default(), contextlib.redirect_stdout(io.StringIO()):
      seconds = getattr(self, 'run_' + mode)()
    return Result(seconds, _peak_rss_mb())


def measure(models: List[str], modes: List[str],
            on_round: Optional[Callable[[int], None]] = None
            ) -> Dict[str, Dict[str, Result]]:
  """Runs every model's modes alternately for --rounds rounds.

  Args:
    models: names from model.MODELS.
    modes: names from MODES; 'ceiling' runs first in any case.
    on_round: called with the round number after each round.

  Returns:
    {model: {mode: Result}} over all rounds, in the order run.
  """
  modes = ['ceiling'] + [m for m in modes if m != 'ceiling']
  results = {name: {mode: Result([], 0.0) for mode in modes}
             for name in models}
  work_dir = tempfile.mkdtemp(prefix='mnist_benchmark_')
  try:
    benches = [_Bench(name, work_dir) for name in models]
    for round_index in range(FLAGS.rounds):
      for bench in benches:
        for mode in modes:
          new = bench.measure(mode)
          old = results[bench.name][mode]
          results[bench.name][mode] = Result(
              old.step_seconds + new.step_seconds,
              max(old.peak_rss_mb, new.peak_rss_mb))
      if on_round:
        on_round(round_index + 1)
  finally:
    shutil.rmtree(work_dir, ignore_errors=True)
  return results


def summarize(results: Dict[str, Dict[str, Result]]) -> Dict[str, dict]:
  """The figures of each model and mode, as the table and --json show them."""
  figures = {}
  for name, modes in results.items():
    batch_size = FLAGS.batch_size or model.HPARAMS[name].batch_size
    ceiling = modes['ceiling'].step_seconds
    figures[name] = {mode: {
        'batch_size': batch_size,
        'ms_per_step': 1000 * float(np.median(r.step_seconds)),
        'examples_per_sec': batch_size / float(np.median(r.step_seconds)),
        'ratio_to_ceiling': float(np.median(ceiling) /
                                  np.median(r.step_seconds)),
        'mean_ms_per_step': 1000 * float(np.mean(r.step_seconds)),
        'mean_ratio_to_ceiling': float(np.mean(ceiling) /
                                       np.mean(r.step_seconds)),
        'timed_steps': len(r.step_seconds),
        'peak_rss_mb': r.peak_rss_mb,
    } for mode, r in modes.items()}
  return figures


def format_table(figures: Dict[str, dict]) -> str:
  """A text table: one row per model and mode, the HEADER columns."""
  rows = [HEADER] + [(
      name, mode, f'{f["ms_per_step"]:.2f}', f'{f["examples_per_sec"]:.0f}',
      f'{f["ratio_to_ceiling"]:.2f}', f'{f["mean_ms_per_step"]:.2f}',
      f'{f["mean_ratio_to_ceiling"]:.2f}', str(f['timed_steps']),
      f'{f["peak_rss_mb"]:.0f}')
      for name, modes in figures.items() for mode, f in modes.items()]
  widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
  return '\n'.join('  '.join(cell.ljust(w) if i < 2 else cell.rjust(w)
                             for i, (cell, w) in enumerate(zip(row, widths)))
                   for row in rows)


def settings() -> dict:
  """The flags and the oneDNN switch (see quiet_tf) that shape the figures,
  for the report and --json."""
  return {name: FLAGS[name].value for name in (
      'models', 'modes', 'batch_size', 'steps', 'warmup_steps', 'rounds',
      'log_every', 'summary_every', 'validation_size', 'data_dir')} | {
          'TF_ENABLE_ONEDNN_OPTS': os.environ.get('TF_ENABLE_ONEDNN_OPTS')}


def _check_choices(flag: str, choices) -> None:
  """Exits with one line naming the values of a list flag not in choices."""
  unknown = [v for v in FLAGS[flag].value if v not in choices]
  if unknown:
    sys.exit(f'Error: unknown --{flag} {", ".join(unknown)}; choose from '
             f'{", ".join(choices)}.')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  _check_choices('models', model.MODELS)
  _check_choices('modes', MODES)
  training.ensure_data(FLAGS.data_dir, FLAGS.source_url)
  print('Settings: ' + ', '.join(f'{k}={v}' for k, v in settings().items()),
        flush=True)
  results = measure(FLAGS.models, FLAGS.modes, lambda r: print(
      f'round {r} of {FLAGS.rounds} done', flush=True))
  figures = summarize(results)
  print(format_table(figures))
  if FLAGS.json:
    with open(FLAGS.json, 'w') as f:
      json.dump({'settings': settings(), 'models': figures}, f, indent=2)


if __name__ == '__main__':
  app.run(main)

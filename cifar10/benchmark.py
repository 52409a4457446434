"""Measures what each part of a CIFAR-10 training step costs.

`python -m cifar10.benchmark --data_dir=/work/data` builds the real model and
times, in one process, these modes (median over the timed steps, after
warm-up), then prints a table with each mode's ratio to the ceiling:

  ceiling  the network and optimizer (model.train: SGD, loss and weight
           averages) on a constant in-graph batch, with the stock ops
           (tf.nn.lrn, float32) and the stock Session config: the yardstick.
  model    the same with this run's --lrn, --precision and thread flags.
  input    the training input alone: reader threads, shuffling queue and
           distortions, as many batches as it can deliver.
  queue    the queue input and the model's training op, with no hooks.
  feed     the same fed from numpy through placeholders (--input=feed).
  train    the whole step of `python -m cifar10.train`: its graph, and
           training.run_training with its hooks (summaries every
           --save_summaries_steps, checkpoints, logging, NaN check).
  eval     the forward pass of `python -m cifar10.eval` on its input.

Modes alternate for --rounds rounds, so that other jobs on a shared machine
slow all of them alike; each round builds a fresh graph and Session. The
`train` mode resumes its temporary train_dir from round to round, and times
whole multiples of --save_summaries_steps, so its mean (the "mean" columns)
includes summary steps at the rate training writes them. --variants runs the
modes again under other flag values in the same rounds, e.g.
`--variants=lrn=stock,precision=bf16` for side-by-side rows. The modes in
--onednn_off run once more per round in a child process with TensorFlow's
own kernels instead of oneDNN's (see cifar10/__init__.py), as rows
"mode [oneDNN off]": TF's default on CPUs without AVX-512 VNNI, BF16 or AMX,
so the ceiling there is what stock TF does out of the box. Peak RSS is the
process's resident high-water mark while the mode ran, including what earlier
modes left allocated.
"""
import contextlib
import dataclasses
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Callable, Iterator, Optional

import numpy as np
import tensorflow as tf
from absl import app, flags

from cifar10 import eval as cifar10_eval
from cifar10 import input as cifar10_input
from cifar10 import model
from cifar10 import runtime
from cifar10 import train as cifar10_train
from cifar10 import training

tf1 = tf.compat.v1

MODES = ('ceiling', 'model', 'input', 'queue', 'feed', 'train', 'eval')

flags.DEFINE_list('modes', list(MODES),
                  'Modes to measure, from: %s. The ceiling always runs: '
                  'ratios are taken to it.' % ', '.join(MODES))
flags.DEFINE_integer('steps', 50, 'Timed steps per mode and round (the '
                     'train mode rounds up to whole multiples of '
                     '--save_summaries_steps).')
flags.DEFINE_integer('warmup_steps', 10,
                     'Untimed steps before timing, per mode and round.')
flags.DEFINE_integer('rounds', 3, 'Rounds over all modes.')
flags.DEFINE_enum('distortions', 'batch', ['batch', 'example'],
                  'For the input and queue modes: distort whole batches '
                  'after the shuffling queue (what cifar10.train does), or '
                  'each example in the reader threads (the tutorial).')
flags.DEFINE_list('variants', [],
                  'Also run the modes under these flag settings, in the same '
                  'rounds, as rows "mode [variant]": comma-separated, each '
                  'flag=value[+flag=value], e.g. '
                  'lrn=stock,precision=bf16,distortions=example.')
flags.DEFINE_list('onednn_off', ['ceiling'],
                  'Also run these modes with TensorFlow\'s own kernels '
                  'instead of oneDNN\'s (TF_ENABLE_ONEDNN_OPTS=0, TF\'s '
                  'default on CPUs without AVX-512 VNNI, BF16 or AMX), in a '
                  'child process once per round, as rows "mode [oneDNN '
                  'off]". Empty: none.')
flags.DEFINE_string('json', None, 'Also write the figures to this file.')

flags.adopt_module_key_flags(runtime)
flags.adopt_module_key_flags(training)

FLAGS = flags.FLAGS

# The flags that shape the figures.
SETTINGS_FLAGS = (
    'batch_size', 'steps', 'warmup_steps', 'rounds', 'lrn', 'precision',
    'use_fp16', 'intra_op_threads', 'inter_op_threads',
    'num_preprocess_threads', 'min_queue_fraction', 'distortions',
    'save_summaries_steps', 'data_dir', 'variants', 'onednn_off')

# The eval mode reads the 50,000 training records (train_eval), so that the
# default --steps fit in one epoch of its one-pass input.
EVAL_DATA = 'train_eval'


@dataclasses.dataclass
class Result:
  """One mode's measurements over all rounds.

  Attributes:
    step_seconds: duration of every timed step.
    peak_rss_mb: the largest resident memory seen while the mode ran.
  """
  step_seconds: list = dataclasses.field(default_factory=list)
  peak_rss_mb: float = 0.0

  def median_ms(self) -> float:
    return 1000 * float(np.median(self.step_seconds))

  def mean_ms(self) -> float:
    return 1000 * float(np.mean(self.step_seconds))


@contextlib.contextmanager
def _flags_set(**values) -> Iterator[None]:
  """Sets FLAGS for the duration, then restores them."""
  saved = {name: getattr(FLAGS, name) for name in values}
  for name, value in values.items():
    setattr(FLAGS, name, value)
  try:
    yield
  finally:
    for name, value in saved.items():
      setattr(FLAGS, name, value)


def _reset_peak_rss() -> None:
  """Restarts the kernel's resident-memory high-water mark (Linux ≥ 4.0);
  elsewhere _peak_rss_mb() reports the process's peak so far."""
  try:
    with open('/proc/self/clear_refs', 'w') as f:
      f.write('5')
  except OSError:
    pass


def _peak_rss_mb() -> float:
  """Peak resident memory since the last reset (else of the process)."""
  try:
    with open('/proc/self/status') as f:
      for line in f:
        if line.startswith('VmHWM:'):
          return int(line.split()[1]) / 1024
  except OSError:
    pass
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _time_steps(run_step: Callable[[], None], warmup: int,
                steps: int) -> list[float]:
  for _ in range(warmup):
    run_step()
  seconds = []
  for _ in range(steps):
    start = time.perf_counter()
    run_step()
    seconds.append(time.perf_counter() - start)
  return seconds


@contextlib.contextmanager
def _session(config: tf1.ConfigProto) -> Iterator[tf1.Session]:
  """A Session with initialized variables and running queue runners."""
  with tf1.Session(config=config) as sess:
    sess.run([tf1.global_variables_initializer(),
              tf1.local_variables_initializer()])
    coord = tf1.train.Coordinator()
    threads = tf1.train.start_queue_runners(sess, coord)
    try:
      yield sess
    finally:
      coord.request_stop()
      coord.join(threads, stop_grace_period_secs=10)


def _constant_batch() -> tuple[tf.Tensor, tf.Tensor]:
  """A fixed random batch, standardized like the real input."""
  rng = np.random.default_rng(0)
  images = rng.normal(size=(FLAGS.batch_size, model.IMAGE_SIZE,
                            model.IMAGE_SIZE, 3)).astype(np.float32)
  labels = rng.integers(0, model.NUM_CLASSES, FLAGS.batch_size)
  return tf.constant(images), tf.constant(labels.astype(np.int32))


def _train_op(images: tf.Tensor, labels: tf.Tensor) -> tf.Operation:
  global_step = tf1.train.get_or_create_global_step()
  total_loss = model.loss(model.inference(images, runtime.num_classes()),
                          labels)
  return model.train(total_loss, global_step, FLAGS.batch_size)


def _distorted_inputs() -> tuple[tf.Tensor, tf.Tensor]:
  return cifar10_input.distorted_inputs(
      FLAGS.data_dir, FLAGS.batch_size, FLAGS.num_preprocess_threads,
      FLAGS.min_queue_fraction, runtime.num_classes(),
      batched=FLAGS.distortions == 'batch')


def run_ceiling(steps: int) -> list[float]:
  """The stock model on a constant batch, stock Session config."""
  configured = model.lrn_implementation()
  model.set_lrn_implementation('stock')
  try:
    train_op = _train_op(*_constant_batch())
  finally:
    model.set_lrn_implementation(configured)
  with _session(tf1.ConfigProto(allow_soft_placement=True)) as sess:
    return _time_steps(lambda: sess.run(train_op), FLAGS.warmup_steps, steps)


def run_model(steps: int) -> list[float]:
  """The model as configured by the flags, on a constant batch."""
  images, labels = _constant_batch()
  train_op = _train_op(runtime.model_input(images), labels)
  with _session(runtime.session_config()) as sess:
    return _time_steps(lambda: sess.run(train_op), FLAGS.warmup_steps, steps)


def run_input(steps: int) -> list[float]:
  """The training input pipeline alone."""
  batch = tf.group(*_distorted_inputs())
  with _session(runtime.session_config()) as sess:
    return _time_steps(lambda: sess.run(batch), FLAGS.warmup_steps, steps)


def run_queue(steps: int) -> list[float]:
  """Queue input and training op, without hooks or summaries."""
  images, labels = _distorted_inputs()
  train_op = _train_op(runtime.model_input(images), labels)
  with _session(runtime.session_config()) as sess:
    return _time_steps(lambda: sess.run(train_op), FLAGS.warmup_steps, steps)


def run_feed(steps: int) -> list[float]:
  """cifar10.train's graph with --input=feed, without hooks."""
  with _flags_set(input='feed'):
    graph = cifar10_train.build_graph()
  with _session(runtime.session_config()) as sess:
    return _time_steps(
        lambda: sess.run(graph.train_op, feed_dict=graph.feed_fn()),
        FLAGS.warmup_steps, steps)


class _StepTimer(tf1.train.SessionRunHook):
  """Times whole loop iterations of a MonitoredSession, hooks included.

  Run last, its after_run ends each iteration, so the time between two of
  them is one full step.
  """

  def __init__(self, warmup: int):
    self._warmup = warmup
    self._last = None
    self.step_seconds = []

  def after_run(self, run_context, run_values):
    now = time.perf_counter()
    if self._warmup > 0:
      self._warmup -= 1
    elif self._last is not None:
      self.step_seconds.append(now - self._last)
    self._last = now


def run_train(steps: int, train_dir: str) -> list[float]:
  """cifar10.train's graph and training loop, resumed in train_dir."""
  every = FLAGS.save_summaries_steps
  steps = -(-steps // every) * every
  checkpoint = tf1.train.latest_checkpoint(train_dir)
  done = int(tf.train.load_variable(checkpoint, 'global_step')
             ) if checkpoint else 0
  timer = _StepTimer(FLAGS.warmup_steps)
  graph = cifar10_train.build_graph()
  with _flags_set(train_dir=train_dir,
                  max_steps=done + FLAGS.warmup_steps + steps):
    training.run_training(graph.train_op, graph.loss, graph.examples_per_step,
                          feed_fn=graph.feed_fn, extra_hooks=[timer],
                          summary_op=graph.summary_op)
  return timer.step_seconds


def run_eval(steps: int) -> list[float]:
  """cifar10.eval's graph (random weights) on its one-pass input."""
  with _flags_set(eval_data=EVAL_DATA):
    graph = cifar10_eval.build_eval_graph([])
  fetches = [graph.correct, graph.labels, graph.predictions]
  with _session(runtime.session_config()) as sess:
    try:
      return _time_steps(lambda: sess.run(fetches), FLAGS.warmup_steps, steps)
    except tf.errors.OutOfRangeError as e:
      raise runtime.UserError(
          'The eval mode ran out of its %d examples: lower --steps or '
          '--warmup_steps.' % cifar10_input.NUM_EXAMPLES_PER_EPOCH_FOR_TRAIN
      ) from e


ONEDNN_OFF = 'oneDNN off'


def _run_onednn_off(modes: list[str]) -> dict[str, Result]:
  """Runs one round of the modes in a child process with oneDNN off."""
  passed_on = [FLAGS[name].serialize() for name in SETTINGS_FLAGS
               if name not in ('rounds', 'variants', 'onednn_off')]
  with tempfile.TemporaryDirectory() as work_dir:
    figures_path = os.path.join(work_dir, 'figures.json')
    child = subprocess.run(
        [sys.executable, '-m', 'cifar10.benchmark', *passed_on,
         '--modes=' + ','.join(modes), '--rounds=1', '--variants=',
         '--onednn_off=', '--json=' + figures_path],
        env=dict(os.environ, TF_ENABLE_ONEDNN_OPTS='0'),
        capture_output=True, text=True, check=False)
    if child.returncode != 0:
      raise runtime.UserError('The %s run failed:\n%s' % (
          ONEDNN_OFF, child.stderr.strip() or child.stdout.strip()))
    with open(figures_path) as f:
      figures = json.load(f)['modes']
  return {mode: Result(f['step_seconds'], f['peak_rss_mb'])
          for mode, f in figures.items()}


def _run_mode(mode: str, train_dir: str) -> tuple[list[float], float]:
  """Runs one mode in a fresh graph; returns step times and peak RSS."""
  runners = {'ceiling': run_ceiling, 'model': run_model, 'input': run_input,
             'queue': run_queue, 'feed': run_feed, 'eval': run_eval,
             'train': lambda steps: run_train(steps, train_dir)}
  _reset_peak_rss()
  # Log lines and queue notices would break up the table.
  with tf.Graph().as_default(), contextlib.redirect_stdout(io.StringIO()):
    seconds = runners[mode](FLAGS.steps)
  return seconds, _peak_rss_mb()


def parse_variant(spec: str) -> dict[str, str]:
  """'lrn=stock+precision=bf16' -> {'lrn': 'stock', 'precision': 'bf16'}.

  Raises:
    runtime.UserError: for a malformed spec or an unknown flag.
  """
  overrides = {}
  for part in spec.split('+'):
    name, sep, value = part.partition('=')
    if not sep or name not in FLAGS:
      raise runtime.UserError(
          'Bad --variants entry %r: expected flag=value[+flag=value], e.g. '
          'lrn=stock or precision=bf16.' % spec)
    overrides[name] = value
  return overrides


@contextlib.contextmanager
def _variant(overrides: dict[str, str]) -> Iterator[None]:
  """Parses the overrides into FLAGS for the duration."""
  saved = {name: FLAGS[name].value for name in overrides}
  try:
    for name, value in overrides.items():
      FLAGS[name].parse(value)
    yield
  finally:
    for name, value in saved.items():
      FLAGS[name].value = value


def measure(modes: list[str], variants: Optional[list[str]] = None,
            onednn_off: Optional[list[str]] = None,
            on_round: Optional[Callable[[int], None]] = None
            ) -> dict[str, Result]:
  """Runs the modes alternately for FLAGS.rounds rounds.

  Args:
    modes: which modes; 'ceiling' runs first in every round in any case.
    variants: flag overrides (see parse_variant) under which the modes run
      again, in the same rounds, each as rows named 'mode [variant]'.
    onednn_off: modes that also run in a child process with oneDNN off, in
      the same rounds, as rows 'mode [oneDNN off]'.
    on_round: called with the round number after each round.

  Returns:
    Each row's Result, in the order run.
  """
  modes = [m for m in modes if m != 'ceiling']
  settings_ = [('', {})] + [(v, parse_variant(v)) for v in variants or []]
  rows = ['ceiling'] + [_row(mode, name) for name, _ in settings_
                        for mode in modes]
  rows += [_row(mode, ONEDNN_OFF) for mode in onednn_off or []]
  results = {row: Result() for row in rows}
  work_dir = tempfile.mkdtemp(prefix='cifar10_benchmark_')
  try:
    for round_index in range(FLAGS.rounds):
      _record(results['ceiling'], 'ceiling', work_dir)
      for index, (name, overrides) in enumerate(settings_):
        with _variant(overrides):
          for mode in modes:
            _record(results[_row(mode, name)], mode,
                    os.path.join(work_dir, str(index)))
      if onednn_off:
        for mode, result in _run_onednn_off(onednn_off).items():
          row = results[_row(mode, ONEDNN_OFF)]
          row.step_seconds += result.step_seconds
          row.peak_rss_mb = max(row.peak_rss_mb, result.peak_rss_mb)
      if on_round:
        on_round(round_index + 1)
  finally:
    shutil.rmtree(work_dir, ignore_errors=True)
  return results


def _row(mode: str, variant: str) -> str:
  return '%s [%s]' % (mode, variant) if variant else mode


def _record(result: Result, mode: str, train_dir: str) -> None:
  seconds, peak = _run_mode(mode, train_dir)
  result.step_seconds += seconds
  result.peak_rss_mb = max(result.peak_rss_mb, peak)


def summarize(results: dict[str, Result], batch_size: int) -> dict:
  """The figures of each mode, as the table and --json show them."""
  ceiling_ms = results['ceiling'].median_ms()
  ceiling_mean_ms = results['ceiling'].mean_ms()
  return {mode: {
      'ms_per_step': r.median_ms(),
      'examples_per_sec': 1000 * batch_size / r.median_ms(),
      'ratio_to_ceiling': ceiling_ms / r.median_ms(),
      'mean_examples_per_sec': 1000 * batch_size / r.mean_ms(),
      'mean_ratio_to_ceiling': ceiling_mean_ms / r.mean_ms(),
      'timed_steps': len(r.step_seconds),
      'peak_rss_mb': r.peak_rss_mb,
      'step_seconds': r.step_seconds,
  } for mode, r in results.items()}


HEADER = ('mode', 'ms/step', 'examples/sec', 'x ceiling', 'mean ex/sec',
          'mean x ceiling', 'steps', 'peak RSS MB')


def format_table(figures: dict) -> str:
  """A text table: one row per mode, the HEADER columns."""
  rows = [HEADER] + [(
      mode, '%.1f' % f['ms_per_step'], '%.0f' % f['examples_per_sec'],
      '%.2f' % f['ratio_to_ceiling'], '%.0f' % f['mean_examples_per_sec'],
      '%.2f' % f['mean_ratio_to_ceiling'], '%d' % f['timed_steps'],
      '%.0f' % f['peak_rss_mb']) for mode, f in figures.items()]
  widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
  return '\n'.join('  '.join(cell.rjust(w) if i else cell.ljust(w)
                             for i, (cell, w) in enumerate(zip(row, widths)))
                   for row in rows)


def settings() -> dict:
  """The flags and the oneDNN switch that shape the figures, for the report
  and --json."""
  return {name: getattr(FLAGS, name) for name in SETTINGS_FLAGS} | {
      'TF_ENABLE_ONEDNN_OPTS': os.environ.get('TF_ENABLE_ONEDNN_OPTS')}


def main(argv):
  del argv
  unknown = sorted(set(FLAGS.modes + FLAGS.onednn_off) - set(MODES))
  with runtime.exit_on_user_error():
    if unknown:
      raise runtime.UserError('Unknown modes %s in --modes or --onednn_off; '
                              'choose from %s.'
                              % (', '.join(unknown), ', '.join(MODES)))
    for spec in FLAGS.variants:
      parse_variant(spec)
    cifar10_input.maybe_download_and_extract(FLAGS.data_dir, FLAGS.data_url)
    print('Settings: ' + ', '.join('%s=%s' % kv for kv in settings().items()),
          flush=True)
    results = measure(FLAGS.modes, FLAGS.variants, FLAGS.onednn_off,
                      lambda r: print(
        'round %d of %d done' % (r, FLAGS.rounds), flush=True))
  figures = summarize(results, FLAGS.batch_size)
  print(format_table(figures))
  if FLAGS.json:
    with open(FLAGS.json, 'w') as f:
      json.dump({'settings': settings(), 'modes': figures}, f, indent=2)


if __name__ == '__main__':
  app.run(main)

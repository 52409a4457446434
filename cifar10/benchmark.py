"""Measures what each part of a CIFAR-10 training step costs.

`python -m cifar10.benchmark --data_dir=/tmp/cifar10_data` builds the real
model and times, in one process, these modes (median over the timed steps,
after warm-up), then prints a table with each mode's ratio to the ceiling:

  ceiling  the network and optimizer (model.train: SGD, loss and weight
           averages) on a constant in-graph batch, with the stock ops
           (tf.nn.lrn, float32) and the stock Session config: the yardstick.
  model    the same with this run's --lrn, --precision and thread flags.
  input    the training input alone: reader threads, shuffling queue and
           distortions, as many batches as it can deliver.
  queue    the queue input and the model's training op, with no hooks.
  feed     the same fed from numpy through placeholders (--input=feed).
  train    the whole step of `python -m cifar10.train`: its graph, and
           tfclassic.training.run_training with its hooks (summaries every
           --save_summaries_steps, checkpoints, NaN check).
  eval     the forward pass of `python -m cifar10.eval` on its input.
  keras    the same network as a Keras model, model.fit on a tf.data
           pipeline with the tutorial's distortions (cifar10.keras_peer):
           what a user would write today. keras_xla (not run by default):
           the same compiled with jit_compile=True.
  convs    (not run by default) the model's convolutions alone, forward
           and backward, as in one training step, one after another, on
           fixed random tensors with this run's --precision: the floor
           under a step on this CPU. Its profile lists each kernel.

--profile traces a few steps of each mode after its timed ones and prints,
under the table, each row's op time by op type and its share.

Modes alternate for --rounds rounds, so that other jobs on a shared machine
slow all of them alike; each round builds a fresh graph and Session. The
`train` mode resumes its temporary train_dir from round to round, and times
whole multiples of --save_summaries_steps, so its mean (the "mean" columns)
includes summary steps at the rate training writes them. --variants runs the
modes again under other flag values in the same rounds, e.g.
`--variants=lrn=stock,precision=bf16` for side-by-side rows. The modes in
--onednn_off run once more per round in a child process with TensorFlow's
own kernels instead of oneDNN's (see tfclassic/quiet_import.py), as rows
"mode [oneDNN off]": TF's default on CPUs without AVX-512 VNNI, BF16 or AMX,
so the ceiling there is what stock TF does out of the box. Peak RSS is the
process's resident high-water mark while the mode ran, including what earlier
modes left allocated.
"""
import contextlib
import dataclasses
import functools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Callable, Iterator, Optional

import numpy as np
import tensorflow as tf
from absl import app, flags

from cifar10 import data
from cifar10 import flags as cifar10_flags
from cifar10 import inputs
from cifar10 import keras_peer
from cifar10 import model
from cifar10 import records
from cifar10 import scoring
from cifar10 import train_graph
from tfclassic import benchmark
from tfclassic import errors
from tfclassic import flags as shared_flags
from tfclassic import paths
from tfclassic import tracing
from tfclassic import training

tf1 = tf.compat.v1

MODES = ('ceiling', 'model', 'input', 'queue', 'feed', 'train', 'eval',
         'keras', 'keras_xla', 'convs')
# The modes run by default: keras_xla compiles for minutes first, and convs
# is a part of the others.
DEFAULT_MODES = MODES[:-2]
# The seed of the --deterministic rows (any seed costs the same).
DETERMINISTIC_SEED = 1
# Keras runs eagerly, outside a TF1 graph.
EAGER_MODES = ('keras', 'keras_xla')

flags.DEFINE_list('modes', list(DEFAULT_MODES),
                  'Modes to measure, from: %s. The ceiling always runs: '
                  'ratios are taken to it.' % ', '.join(MODES))
flags.DEFINE_integer('steps', 50, 'Timed steps per mode and round (the '
                     'train mode rounds up to whole multiples of '
                     '--save_summaries_steps).', lower_bound=1,
                     upper_bound=shared_flags.MAX_STEPS)
flags.DEFINE_integer('warmup_steps', 10,
                     'Untimed steps before timing, per mode and round.',
                     lower_bound=0, upper_bound=shared_flags.MAX_STEPS)
flags.DEFINE_integer('rounds', 3, 'Rounds over all modes.', lower_bound=1,
                     upper_bound=shared_flags.MAX_ROUNDS)
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
flags.DEFINE_boolean('deterministic', False,
                     'Read and distort as cifar10.train --deterministic does '
                     '(seed %d), e.g. as --variants=deterministic=true to '
                     'see what it costs.' % DETERMINISTIC_SEED)
flags.register_multi_flags_validator(
    ['deterministic', 'distortions'],
    lambda values: not values['deterministic'] or (
        values['distortions'] == 'batch'),
    message='--deterministic distorts whole batches: it takes '
    '--distortions=batch.')
shared_flags.define_path('json', None, 'Also write the figures, and every '
                         'timed step\'s seconds, to this file.',
                         paths.OUTPUT_FILE)

shared_flags.define_cadence_flags(log_frequency=0)
shared_flags.define_profile_flags()
cifar10_flags.define_data_flags()
cifar10_flags.define_model_flags()
cifar10_flags.define_input_flags()
shared_flags.define_session_flags()
flags.adopt_module_key_flags(cifar10_flags)
flags.adopt_module_key_flags(shared_flags)

FLAGS = flags.FLAGS

# The flags that shape the figures.
SETTINGS_FLAGS = (
    'batch_size', 'steps', 'warmup_steps', 'rounds', 'lrn', 'precision',
    'use_fp16', 'intra_op_threads', 'inter_op_threads',
    'num_preprocess_threads', 'min_queue_fraction', 'distortions',
    'save_summaries_steps', 'data_dir', 'variants', 'onednn_off',
    'profile', 'profile_steps', 'deterministic')


def _time(run_step: Callable[..., object], steps: int,
          **options) -> benchmark.Timed:
  """time_steps() with the flags' warm-up and, with --profile, traced
  steps."""
  return benchmark.time_steps(run_step, FLAGS.warmup_steps, steps,
                              shared_flags.profile_steps(), **options)


def _constant_batch() -> tuple[tf.Tensor, tf.Tensor]:
  """A fixed random batch, standardized like the real input."""
  rng = np.random.default_rng(0)
  images = rng.normal(size=(FLAGS.batch_size, model.IMAGE_SIZE,
                            model.IMAGE_SIZE, 3)).astype(np.float32)
  labels = rng.integers(0, model.NUM_CLASSES, FLAGS.batch_size)
  return tf.constant(images), tf.constant(labels.astype(np.int32))


def _train_op(images: tf.Tensor, labels: tf.Tensor,
              options: model.ModelOptions) -> tf.Operation:
  global_step = tf1.train.get_or_create_global_step()
  logits = model.configured_inference(images, len(cifar10_flags.class_names()),
                                      options)
  return model.train(model.loss(logits, labels), global_step,
                     FLAGS.batch_size)


def run_convs(steps: int) -> list[float]:
  """The convolution kernels of one training step, alone: conv1 and conv2
  forward, conv1's filter gradient, conv2's input and filter gradients,
  one after another with both cores each. --profile lists each kernel."""
  rng = np.random.default_rng(0)

  def random(*shape):
    # A variable: grappler would fold convolutions of constants away.
    return tf.Variable(rng.normal(size=shape).astype(np.float32),
                       trainable=False)

  size, half = model.IMAGE_SIZE, model.IMAGE_SIZE // 2
  conv = functools.partial(tf.nn.conv2d, strides=1, padding='SAME')
  kernels = [('conv1', [5, 5, 3, 64], size), ('conv2', [5, 5, 64, 64], half)]
  step = []

  def then(make_kernel):
    """Adds the kernel, run after the one before: run at once, they would
    share the cores and blur each one's time. One value of it is fetched,
    since grappler drops ops that only a control edge needs."""
    with tf.control_dependencies(step[-1:]):
      step.append(tf.reshape(make_kernel(), [-1])[:1])

  for name, shape, width in kernels:
    images = random(FLAGS.batch_size, width, width, shape[2])
    grads = random(FLAGS.batch_size, width, width, shape[3])
    weights = random(*shape)
    then(lambda: conv(images, weights, name=name))
    then(lambda: tf1.nn.conv2d_backprop_filter(
        images, shape, grads, [1, 1, 1, 1], 'SAME', name=name + '_filter'))
    if name != 'conv1':  # No gradient flows into the input images.
      then(lambda: tf1.nn.conv2d_backprop_input(
          images.shape, weights, grads, [1, 1, 1, 1], 'SAME',
          name=name + '_input'))
  with benchmark.session(cifar10_flags.session_config_from_flags()) as sess:
    return _time(lambda _, **trace: sess.run(step, **trace), steps,
                 op_key=tracing.op_name_and_type)


def _train_input(start_step: int = 0) -> inputs.TrainInput:
  """The training input of the flags, distorted as --distortions says, and
  as --deterministic training reads it with --deterministic."""
  return dataclasses.replace(
      cifar10_flags.data_input(
          DETERMINISTIC_SEED if FLAGS.deterministic else None,
          FLAGS.deterministic, start_step),
      batched=FLAGS.distortions == 'batch')


def run_ceiling(steps: int) -> list[float]:
  """The stock model on a constant batch, stock Session config."""
  train_op = _train_op(*_constant_batch(), model.ModelOptions(lrn='stock'))
  with benchmark.session(benchmark.stock_session_config()) as sess:
    return _time(lambda _, **trace: sess.run(train_op, **trace), steps)


def run_model(steps: int) -> list[float]:
  """The model as configured by the flags, on a constant batch."""
  train_op = _train_op(*_constant_batch(), cifar10_flags.model_options())
  with benchmark.session(cifar10_flags.session_config_from_flags()) as sess:
    return _time(lambda _, **trace: sess.run(train_op, **trace), steps)


def run_input(steps: int) -> list[float]:
  """The training input pipeline alone."""
  batch = tf.group(*_train_input().queue())
  with benchmark.session(cifar10_flags.session_config_from_flags()) as sess:
    return _time(lambda _, **trace: sess.run(batch, **trace), steps)


def run_queue(steps: int) -> list[float]:
  """Queue input and training op, without hooks or summaries."""
  train_op = _train_op(*_train_input().queue(),
                       cifar10_flags.model_options())
  with benchmark.session(cifar10_flags.session_config_from_flags()) as sess:
    return _time(lambda _, **trace: sess.run(train_op, **trace), steps)


def run_feed(steps: int) -> list[float]:
  """cifar10.train's graph with --input=feed, without hooks."""
  graph = train_graph.build_train_graph(
      _train_input(), cifar10_flags.model_options(), feed=True)
  with benchmark.session(cifar10_flags.session_config_from_flags()) as sess:
    return _time(lambda _, **trace: sess.run(
        graph.train_op, feed_dict=graph.feed_fn(), **trace), steps)


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


def run_train(steps: int, train_dir: str) -> benchmark.Timed:
  """cifar10.train's graph and training loop, resumed in train_dir; with
  --profile, the steps after the timed ones are traced."""
  every = FLAGS.save_summaries_steps
  steps = -(-steps // every) * every
  profile_steps = shared_flags.profile_steps()
  done = training.resume_step(train_dir) or 0
  timer = _StepTimer(FLAGS.warmup_steps)
  timed = benchmark.Timed()
  first_traced = done + FLAGS.warmup_steps + steps
  tracer = benchmark.profile_hook(first_traced, profile_steps, timed)
  graph = train_graph.build_train_graph(_train_input(done),
                                        cifar10_flags.model_options())
  config = training.TrainConfig(
      train_dir, max_steps=first_traced + profile_steps,
      log_frequency=FLAGS.log_frequency,
      save_summaries_steps=every)
  if not training.run_training(
      graph.train_op, graph.loss, graph.examples_per_step, config,
      hooks=[tracer, timer],
      session_config=cifar10_flags.session_config_from_flags()):
    # Ctrl-C ends the benchmark, not just this row.
    raise KeyboardInterrupt
  timed.extend(timer.step_seconds[:steps])
  return timed


def run_keras(steps: int, jit_compile: bool = False) -> list[float]:
  """The same network in Keras, model.fit on a tf.data pipeline."""
  return keras_peer.time_fit(
      data.data_files(FLAGS.data_dir, eval_data=False),
      len(cifar10_flags.class_names()), FLAGS.batch_size, FLAGS.warmup_steps,
      steps, jit_compile)


def run_eval(steps: int) -> list[float]:
  """cifar10.eval's graph (random weights) on its one-pass input."""
  # The 50,000 training records (train_eval), so that the default --steps
  # fit in one epoch of the one-pass input.
  graph = scoring.build_eval_graph(FLAGS.data_dir, eval_data=False,
                                   batch_size=FLAGS.batch_size,
                                   options=cifar10_flags.model_options())
  fetches = [graph.correct, graph.labels, graph.predictions]
  with benchmark.session(cifar10_flags.session_config_from_flags()) as sess:
    try:
      return _time(lambda _, **trace: sess.run(fetches, **trace), steps)
    except tf.errors.OutOfRangeError as e:
      raise errors.UserError(
          'The eval mode ran out of its %d examples: lower --steps or '
          '--warmup_steps.' % records.NUM_EXAMPLES_PER_EPOCH_FOR_TRAIN
      ) from e


ONEDNN_OFF = 'oneDNN off'


def _run_onednn_off(modes: list[str]
                    ) -> dict[benchmark.Key, benchmark.Result]:
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
      raise errors.UserError('The %s run failed:\n%s' % (
          ONEDNN_OFF, child.stderr.strip() or child.stdout.strip()))
    results = benchmark.read_results(figures_path, 'modes')
  return {(_row(mode, ONEDNN_OFF),): result
          for (mode,), result in results.items()}


def _mode(mode: str, train_dir: str,
          overrides: dict[str, str]) -> benchmark.Mode:
  """A mode to measure, run under the variant's flag overrides."""
  runners = {'ceiling': run_ceiling, 'model': run_model, 'input': run_input,
             'queue': run_queue, 'feed': run_feed, 'eval': run_eval,
             'train': lambda steps: run_train(steps, train_dir),
             'keras': run_keras,
             'keras_xla': lambda steps: run_keras(steps, jit_compile=True),
             'convs': run_convs}

  def run() -> list[float]:
    with _variant(overrides):
      return runners[mode](FLAGS.steps)
  return benchmark.EagerMode(run) if mode in EAGER_MODES else run


def parse_variant(spec: str) -> dict[str, str]:
  """'lrn=stock+precision=bf16' -> {'lrn': 'stock', 'precision': 'bf16'}.

  Raises:
    errors.UserError: for a malformed spec or an unknown flag.
  """
  overrides = {}
  for part in spec.split('+'):
    name, sep, value = part.partition('=')
    if not sep or name not in FLAGS:
      raise errors.UserError(
          'Bad --variants entry %r: expected flag=value[+flag=value], e.g. '
          'lrn=stock or precision=bf16.' % spec)
    overrides[name] = value
  try:
    with _variant(overrides):
      FLAGS.validate_all_flags()
  except flags.Error as e:
    raise errors.UserError('Bad --variants entry %r: %s.' % (spec, e)) from e
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
            ) -> dict[benchmark.Key, benchmark.Result]:
  """Runs the modes alternately for FLAGS.rounds rounds.

  Args:
    modes: which modes; 'ceiling' runs first in every round in any case.
    variants: flag overrides (see parse_variant) under which the modes run
      again, in the same rounds, each as rows named 'mode [variant]'.
    onednn_off: modes that also run in a child process with oneDNN off, in
      the same rounds, as rows 'mode [oneDNN off]'.
    on_round: called with the round number after each round.

  Returns:
    Each row's Result, keyed (row,), in the order run.
  """
  modes = [m for m in modes if m != 'ceiling']
  settings_ = [('', {})] + [(v, parse_variant(v)) for v in variants or []]
  work_dir = tempfile.mkdtemp(prefix='cifar10_benchmark_')
  # Each variant's train mode resumes its own train_dir from round to round.
  rows = [(('ceiling',), _mode('ceiling', work_dir, {}))] + [
      ((_row(mode, name),),
       _mode(mode, os.path.join(work_dir, str(index)), overrides))
      for index, (name, overrides) in enumerate(settings_) for mode in modes
      # Keras takes none of the flags a variant sets.
      if not (name and mode in EAGER_MODES)]
  try:
    return benchmark.run_rounds(
        rows, FLAGS.rounds,
        elsewhere=functools.partial(_run_onednn_off, onednn_off)
        if onednn_off else None,
        on_round=on_round)
  finally:
    shutil.rmtree(work_dir, ignore_errors=True)


def _row(mode: str, variant: str) -> str:
  return '%s [%s]' % (mode, variant) if variant else mode


def settings() -> dict:
  """The flags and the oneDNN switch that shape the figures, for the report
  and --json."""
  return {name: getattr(FLAGS, name) for name in SETTINGS_FLAGS} | {
      'TF_ENABLE_ONEDNN_OPTS': os.environ.get('TF_ENABLE_ONEDNN_OPTS')}


def main(argv):
  shared_flags.refuse_arguments(argv)
  unknown = sorted(set(FLAGS.modes + FLAGS.onednn_off) - set(MODES))
  with errors.exit_on_error():
    if unknown:
      raise errors.UserError('Unknown modes %s in --modes or --onednn_off; '
                              'choose from %s.'
                              % (', '.join(unknown), ', '.join(MODES)))
    for spec in FLAGS.variants:
      parse_variant(spec)
    data.maybe_download_and_extract(FLAGS.data_dir, FLAGS.data_url)
    print(benchmark.format_settings(settings()), flush=True)
    results = measure(FLAGS.modes, FLAGS.variants, FLAGS.onednn_off,
                      lambda r: print(
        'round %d of %d done' % (r, FLAGS.rounds), flush=True))
  figures = benchmark.summarize(results, lambda _: FLAGS.batch_size)
  print(benchmark.format_table(figures))
  if FLAGS.profile:
    print('\n' + benchmark.format_profiles(figures))
  if FLAGS.json:
    benchmark.write_json(FLAGS.json, settings(), 'modes', figures)


if __name__ == '__main__':
  app.run(main)

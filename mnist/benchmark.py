"""Measures what each part of an MNIST training step costs.

  python -m mnist.benchmark --data_dir=/path/to/mnist

For each of --models, builds mnist.train's graph (model.train_graph) and
times its step (steps.TutorialStep) in these modes, all in one process:

  ceiling  the step on a constant in-graph batch, TensorFlow's default
           Session config: the yardstick.
  model    the same in mnist.train's Session config.
  feed     mnist.train's default input: DataSet.next_batch numpy batches
           fed through the placeholders.
  queue    mnist.train --input=queue: reader threads and shuffle_batch
           feeding the model inside the graph.
  input    the queue input alone, as many batches as it can deliver.
  train    mnist.train's whole step with the feed input, run by
           tfclassic.training.run_training with its hooks: a progress line
           every --log_frequency steps, summaries every
           --save_summaries_steps steps (checkpoints are left out).

Each mode reports the median ms per step after --warmup_steps, and the
ratio of the ceiling's median to it (the mean columns: the same with
means). Modes alternate for --rounds rounds, so that other jobs on a shared
machine slow all of them alike; each run builds a fresh graph and Session.
The train mode resumes its temporary train_dir from round to round and times
whole multiples of --save_summaries_steps steps, so its mean includes log
and summary steps at the rate training writes them. The feed and train modes
share one DataSet, whose reshuffles at each epoch start land in their
means. Peak RSS is the process's resident high-water mark while the mode
ran, including what earlier modes left allocated.
"""

import functools
import os
import shutil
import tempfile
import time
from typing import Callable, List, Optional, Tuple

import numpy as np
import tensorflow as tf
from absl import app, flags

from mnist import flags as mnist_flags
from mnist import input as mnist_input
from mnist import model
from mnist import steps
from tfclassic import benchmark
from tfclassic import errors
from tfclassic import flags as shared_flags
from tfclassic import paths
from tfclassic import session
from tfclassic import training

tf1 = tf.compat.v1

MODES = ('ceiling', 'model', 'feed', 'queue', 'input', 'train')
DEFAULT_MODELS = ('softmax', 'deep')
SETTINGS_FLAGS = ('models', 'modes', 'batch_size', 'steps', 'warmup_steps',
                  'rounds', 'log_frequency', 'save_summaries_steps',
                  'validation_size', 'data_dir', 'profile', 'profile_steps')

mnist_flags.define_data_flags()
flags.DEFINE_list('models', list(DEFAULT_MODELS),
                  f'Models to measure, from: {", ".join(model.MODELS)}.')
flags.DEFINE_list('modes', list(MODES),
                  f'Modes to measure, from: {", ".join(MODES)}. The ceiling '
                  'always runs: ratios are taken to it.')
flags.DEFINE_integer('batch_size', None,
                     'Examples per step; default: each tutorial\'s (deep 50, '
                     'others 100).', lower_bound=1,
                     upper_bound=mnist_input.NUM_TRAIN_EXAMPLES)
flags.DEFINE_integer('steps', 200,
                     'Timed steps per mode and round (the train mode rounds '
                     'up to whole multiples of --save_summaries_steps).',
                     lower_bound=1, upper_bound=shared_flags.MAX_STEPS)
flags.DEFINE_integer('warmup_steps', 20,
                     'Untimed steps before timing, per mode and round.',
                     lower_bound=0, upper_bound=shared_flags.MAX_STEPS)
flags.DEFINE_integer('rounds', 3, 'Rounds over all models and modes.',
                     lower_bound=1, upper_bound=shared_flags.MAX_ROUNDS)
shared_flags.define_cadence_flags(mnist_flags.LOG_FREQUENCY,
                                  mnist_flags.SAVE_SUMMARIES_STEPS)
mnist_flags.define_cadence_aliases()
mnist_flags.define_validation_size_flag(
    'Training examples held out, as mnist.train --validation_size: the feed '
    'and train modes batch the rest.')
shared_flags.define_profile_flags()
shared_flags.define_path('json', None, 'Also write the figures, and every '
                         'timed step\'s seconds, to this file.',
                         paths.OUTPUT_FILE)
flags.adopt_module_key_flags(mnist_flags)
flags.adopt_module_key_flags(shared_flags)

FLAGS = flags.FLAGS


def _batch_size(name: str) -> int:
  return FLAGS.batch_size or model.HPARAMS[name].batch_size


class _Bench:
  """One model's modes; keeps its training split loaded between rounds,
  and the train mode's train_dir."""

  def __init__(self, name: str, work_dir: str):
    self.name = name
    self.hp = model.HPARAMS[name]
    self.batch_size = _batch_size(name)
    self._train_dir = tempfile.mkdtemp(dir=work_dir)
    self._train_set = None
    self._config = session.session_config(
        inter_op_threads=model.INTER_OP_THREADS[name])

  def _next_batch(self) -> Callable[[], Tuple[np.ndarray, np.ndarray]]:
    if self._train_set is None:
      self._train_set = mnist_input.read_data_sets(
          FLAGS.data_dir, validation_size=FLAGS.validation_size).train
    return lambda: self._train_set.next_batch(self.batch_size)

  def _constant_batch(self) -> Tuple[tf.Tensor, tf.Tensor]:
    rng = np.random.RandomState(0)
    images = rng.uniform(size=(self.batch_size, model.IMAGE_PIXELS))
    labels = rng.randint(0, model.NUM_CLASSES, self.batch_size)
    return tf.constant(images, tf.float32), tf.constant(labels, tf.int32)

  def _queued_batch(self) -> Tuple[tf.Tensor, tf.Tensor]:
    return mnist_input.train_inputs(FLAGS.data_dir, self.batch_size)

  def _graph(self, inputs=None) -> model.TrainGraph:
    return model.train_graph(self.name, self.hp.optimizer,
                             self.hp.learning_rate, inputs)

  def _time_steps(self, inputs=None, next_batch=None,
                  config=None) -> List[float]:
    """Times steps.TutorialStep on model.train_graph, without hooks or logs.

    Args:
      inputs: the graph's own input (see model.train_graph), or None.
      next_batch: gives each step's batch to feed; None: `inputs` serve.
      config: Session config; default mnist.train's.
    """
    step = steps.TutorialStep(self._graph(inputs), self.name, 0, next_batch)
    with benchmark.session(config or self._config) as sess:
      return benchmark.time_steps(
          lambda _, **trace: step.run(sess, functools.partial(sess.run,
                                                              **trace)),
          FLAGS.warmup_steps, FLAGS.steps, shared_flags.profile_steps())

  def run_ceiling(self) -> List[float]:
    return self._time_steps(self._constant_batch(),
                            config=benchmark.stock_session_config())

  def run_model(self) -> List[float]:
    return self._time_steps(self._constant_batch())

  def run_feed(self) -> List[float]:
    return self._time_steps(next_batch=self._next_batch())

  def run_queue(self) -> List[float]:
    return self._time_steps(self._queued_batch())

  def run_input(self) -> List[float]:
    batch = tf.group(*self._queued_batch())
    with benchmark.session(self._config) as sess:
      return benchmark.time_steps(
          lambda _, **trace: sess.run(batch, **trace), FLAGS.warmup_steps,
          FLAGS.steps, shared_flags.profile_steps())

  def run_train(self) -> List[float]:
    """mnist.train's loop on the feed input, resumed in the train_dir."""
    timed = FLAGS.steps
    if FLAGS.save_summaries_steps:
      every = FLAGS.save_summaries_steps
      timed = -(-timed // every) * every
    done = training.resume_step(self._train_dir) or 0
    graph = self._graph()
    step = steps.TutorialStep(graph, self.name, FLAGS.log_frequency,
                              self._next_batch())
    seconds = []
    first_traced = done + FLAGS.warmup_steps + timed
    traced = benchmark.Timed()
    tracer = benchmark.profile_hook(first_traced, shared_flags.profile_steps(),
                                    traced)

    def timed_step(step_context: tf1.train.MonitoredSession.StepContext
                   ) -> None:
      start = time.perf_counter()
      step(step_context)
      seconds.append(time.perf_counter() - start)

    if not training.run_training(
        graph.train_op, graph.loss, self.batch_size, training.TrainConfig(
            self._train_dir, first_traced + shared_flags.profile_steps(),
            log_frequency=FLAGS.log_frequency,
            save_summaries_steps=FLAGS.save_summaries_steps),
        step_fn=timed_step, hooks=[tracer], session_config=self._config):
      # Ctrl-C ends the benchmark, not just this row.
      raise KeyboardInterrupt
    traced.extend(seconds[FLAGS.warmup_steps:FLAGS.warmup_steps + timed])
    return traced


def measure(models: List[str], modes: List[str],
            on_round: Optional[Callable[[int], None]] = None
            ) -> dict[benchmark.Key, benchmark.Result]:
  """Runs every model's modes alternately for --rounds rounds.

  Args:
    models: names from model.MODELS.
    modes: names from MODES; 'ceiling' runs first in any case.
    on_round: called with the round number after each round.

  Returns:
    {(model, mode): Result} over all rounds, in the order run.
  """
  modes = ['ceiling'] + [m for m in modes if m != 'ceiling']
  work_dir = tempfile.mkdtemp(prefix='mnist_benchmark_')
  try:
    benches = [_Bench(name, work_dir) for name in models]
    return benchmark.run_rounds(
        [((bench.name, mode), getattr(bench, 'run_' + mode))
         for bench in benches for mode in modes],
        FLAGS.rounds, on_round=on_round)
  finally:
    shutil.rmtree(work_dir, ignore_errors=True)


def settings() -> dict:
  """The flags and the oneDNN switch (see tfclassic.quiet_import) that
  shape the figures, for the report and --json."""
  return {name: FLAGS[name].value for name in SETTINGS_FLAGS} | {
      'TF_ENABLE_ONEDNN_OPTS': os.environ.get('TF_ENABLE_ONEDNN_OPTS')}


def _check_choices(flag: str, choices) -> None:
  """Refuses the values of a list flag that are not in choices.

  Raises:
    errors.UserError: naming them.
  """
  unknown = [v for v in FLAGS[flag].value if v not in choices]
  if unknown:
    raise errors.UserError(f'unknown --{flag} {", ".join(unknown)}; choose '
                           f'from {", ".join(choices)}.')


def main(argv):
  shared_flags.refuse_arguments(argv)
  with errors.exit_on_error():
    _check_choices('models', model.MODELS)
    _check_choices('modes', MODES)
    mnist_input.maybe_download(FLAGS.data_dir, FLAGS.source_url)
    print(benchmark.format_settings(settings()), flush=True)
    results = measure(FLAGS.models, FLAGS.modes, lambda r: print(
        f'round {r} of {FLAGS.rounds} done', flush=True))
    figures = benchmark.summarize(results, lambda key: _batch_size(key[0]))
    print(benchmark.format_table(figures, ('model', 'mode')))
    if FLAGS.profile:
      print('\n' + benchmark.format_profiles(figures))
    if FLAGS.json:
      benchmark.write_json(FLAGS.json, settings(), 'models', figures)


if __name__ == '__main__':
  app.run(main)

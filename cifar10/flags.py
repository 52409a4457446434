"""The flags the cifar10 binaries share: data, model and input.

A binary calls the define_* functions of the flags it takes (and
tfclassic.flags' for training, evaluation and the Session) before
app.run(); the functions below then turn the parsed values into the plain
arguments library code takes. Only binaries and this module read FLAGS.
"""
import contextlib
import dataclasses
from typing import Callable, Iterator, Optional

import tensorflow as tf
from absl import flags

from cifar10 import data
from cifar10 import inputs
from cifar10 import model
from cifar10 import scoring
from cifar10 import train_graph
from tfclassic import errors
from tfclassic import evaluation
from tfclassic import flags as shared_flags
from tfclassic import paths
from tfclassic import run_settings
from tfclassic import train_dir
from tfclassic import training

tf1 = tf.compat.v1

FLAGS = flags.FLAGS

DEFAULT_DATA_DIR = '/tmp/cifar10_data'
DEFAULT_TRAIN_DIR = '/tmp/cifar10_train'
DEFAULT_EVAL_DIR = '/tmp/cifar10_eval'
MAX_STEPS = 100000
EVAL_INTERVAL_SECS = 60 * 5
# Threads reading training records into the shuffling queue. The tutorial
# used 16, each distorting its images; here the batch is distorted after the
# queue, which leaves the threads little to do (docs/performance.md).
NUM_PREPROCESS_THREADS = 2
# Towers one process builds (one per GPU).
MAX_GPUS = 64
# Added to the advice when the loss became NaN.
NAN_ADVICE = ' or drop --use_fp16'
# Upper bounds of the training knobs: far beyond any value that trains,
# they stop a typo (a digit too many).
MAX_LEARNING_RATE = 100.0
MAX_EPOCHS_PER_DECAY = 1e6
MAX_WEIGHT_DECAY = 100.0
# Momentum 1 never forgets a gradient: it cannot converge.
MAX_MOMENTUM = 0.999


def define_data_flags(download: bool = True) -> None:
  """Defines --data_dir and, for binaries that download, --data_url."""
  shared_flags.define_path(
      'data_dir', DEFAULT_DATA_DIR,
      'Folder with the CIFAR-10 binary files (or their cifar-10-batches-bin/ '
      'folder); training downloads them there if missing. Its '
      'batches.meta.txt gives the class names and their number.',
      paths.DATA_DIR)
  if download:
    flags.DEFINE_string('data_url', data.DATA_URL,
                        'Where to download cifar-10-binary.tar.gz from when '
                        '--data_dir has no data.')


def define_model_flags() -> None:
  """Defines --batch_size, --use_fp16, --lrn and --precision."""
  flags.DEFINE_integer('batch_size', model.BATCH_SIZE,
                       'Examples per batch (per tower with several towers).',
                       lower_bound=1, upper_bound=shared_flags.MAX_BATCH_SIZE)
  flags.DEFINE_boolean('use_fp16', False,
                       'Run the model in float16 (variables too).')
  flags.DEFINE_enum('lrn', 'banded', list(model.LRN_IMPLEMENTATIONS),
                    'How the two local response normalization layers are '
                    'computed; the same function and gradient every way, '
                    'so checkpoints are interchangeable. banded: the sum '
                    'over the depth window as a matrix product '
                    '(cifar10/lrn.py), faster on CPUs. xla: the same ops '
                    'compiled by XLA, the sums as pooling windows. stock: '
                    'tf.nn.lrn.')
  flags.DEFINE_enum('precision', 'fp32', ['fp32', 'bf16'],
                    'bf16: let oneDNN run the model in bfloat16 where it is '
                    'safe (grappler\'s auto mixed precision), for CPUs with '
                    'AVX512-BF16 or AMX (elsewhere it is emulated and many '
                    'times slower: a warning says so); variables, their '
                    'moving averages and checkpoints stay float32. Not with '
                    '--use_fp16.')
  flags.register_multi_flags_validator(
      ['precision', 'use_fp16'],
      lambda values: not (values['precision'] == 'bf16' and
                          values['use_fp16']),
      message='--precision=bf16 and --use_fp16 exclude each other: bf16 '
      'keeps float32 variables and computes in bfloat16; drop one of them.')


def define_input_flags() -> None:
  """Defines --num_preprocess_threads and --min_queue_fraction."""
  flags.DEFINE_integer('num_preprocess_threads', NUM_PREPROCESS_THREADS,
                       'Threads reading training records into the shuffling '
                       'queue; the batch is distorted after it.',
                       lower_bound=1, upper_bound=shared_flags.MAX_THREADS)
  shared_flags.define_float(
      'min_queue_fraction', inputs.MIN_FRACTION_OF_EXAMPLES_IN_QUEUE,
      'Fraction of an epoch (50,000 images) held in the shuffling queue '
      'before training starts; lower it for quick runs and small datasets.',
      lower_bound=0, upper_bound=1)


def define_checkpoint_flag() -> None:
  """Defines --checkpoint_dir, for the binaries that use a trained model."""
  shared_flags.define_checkpoint_dir_flag(
      DEFAULT_TRAIN_DIR, 'The train_dir whose latest checkpoint is used.')


def define_tower_flag() -> None:
  """Defines --num_gpus, for the binaries that build towers."""
  flags.DEFINE_integer('num_gpus', 1,
                       'Towers, one per GPU (of each worker, in a cluster); '
                       'without GPUs they run on the CPU.', lower_bound=1,
                       upper_bound=MAX_GPUS)


def define_hyperparameter_flags() -> None:
  """Defines the training knobs, the tutorial's values by default:
  --initial_learning_rate, --num_epochs_per_decay,
  --learning_rate_decay_factor, --moving_average_decay, --weight_decay and
  --momentum."""
  shared_flags.define_float(
      'initial_learning_rate', model.INITIAL_LEARNING_RATE,
      'Learning rate until its first decay.', lower_bound=0,
      upper_bound=MAX_LEARNING_RATE, positive=True)
  shared_flags.define_float(
      'num_epochs_per_decay', model.NUM_EPOCHS_PER_DECAY,
      'Epochs between learning-rate decays; an epoch is 50,000 examples '
      '(CIFAR-10\'s training set) whatever the data.', lower_bound=0,
      upper_bound=MAX_EPOCHS_PER_DECAY, positive=True)
  shared_flags.define_float(
      'learning_rate_decay_factor', model.LEARNING_RATE_DECAY_FACTOR,
      'What each decay multiplies the learning rate by.', lower_bound=0,
      upper_bound=1)
  shared_flags.define_float(
      'moving_average_decay', model.MOVING_AVERAGE_DECAY,
      'Decay of the weights\' moving average, which evaluation, prediction '
      'and export use (early steps use less: min(decay, (1 + step) / (10 + '
      'step))).', lower_bound=0, upper_bound=1)
  shared_flags.define_float(
      'weight_decay', model.WEIGHT_DECAY,
      'L2 weight decay of the two fully connected layers (local3, local4).',
      lower_bound=0, upper_bound=MAX_WEIGHT_DECAY)
  shared_flags.define_float(
      'momentum', model.MOMENTUM,
      '0: the tutorial\'s plain gradient descent. Above 0: momentum '
      '(MomentumOptimizer) with this coefficient, e.g. 0.9; its '
      'accumulators are saved in the checkpoints too.', lower_bound=0,
      upper_bound=MAX_MOMENTUM)


def hyperparameters() -> model.Hyperparameters:
  """The Hyperparameters of the knobs' flags."""
  return model.Hyperparameters(
      initial_learning_rate=FLAGS.initial_learning_rate,
      num_epochs_per_decay=FLAGS.num_epochs_per_decay,
      learning_rate_decay_factor=FLAGS.learning_rate_decay_factor,
      moving_average_decay=FLAGS.moving_average_decay,
      weight_decay=FLAGS.weight_decay, momentum=FLAGS.momentum,
      trainable_scopes=tuple(FLAGS.trainable_scopes))


def define_warm_start_flags() -> None:
  """Defines tfclassic's --warm_start_from and --warm_start_exclude, and
  --trainable_scopes."""
  shared_flags.define_warm_start_flags(
      'Those of another shape (the softmax layer, for another number of '
      'classes) start as new.')
  flags.DEFINE_list(
      'trainable_scopes', [],
      'Train only these layers, e.g. local4,softmax_linear (of %s); the '
      'others keep their initial or warm-started weights. Default: all.'
      % ', '.join(model.LAYER_SCOPES))
  flags.register_validator(
      'trainable_scopes',
      lambda scopes: set(scopes) <= set(model.LAYER_SCOPES),
      message='--trainable_scopes takes layers of the model: %s.'
      % ', '.join(model.LAYER_SCOPES))


def define_in_training_eval_flags() -> None:
  """Defines --eval_every_steps, --eval_dir, --keep_best and
  --stop_at_precision, for training binaries."""
  flags.DEFINE_integer('eval_every_steps', 0,
                       'Score the moving-average weights on the whole test '
                       'set every this many global steps, and at the end, '
                       'in the training process, as cifar10.eval --run_once '
                       'would (0: never). Scores go to --eval_dir and '
                       'train_dir/evaluations.csv; a resumed run scores only '
                       'steps not scored yet.', lower_bound=0,
                       upper_bound=shared_flags.MAX_STEPS)
  shared_flags.define_path('eval_dir', DEFAULT_EVAL_DIR,
                           'Where --eval_every_steps writes its event logs.',
                           paths.OUTPUT_DIR)
  flags.DEFINE_boolean(
      'keep_best', False,
      'With --eval_every_steps: keep the checkpoint of the best precision @ '
      '1 so far in train_dir/best/ (never rotated away; its figures beside '
      'it in model.ckpt-N.json). eval, predict and export read it with '
      '--checkpoint_dir=TRAIN_DIR/best.')
  shared_flags.define_float(
      'stop_at_precision', None,
      'With --eval_every_steps: end training, with a final checkpoint, at '
      'the first evaluation whose precision @ 1 reaches this.',
      lower_bound=0, upper_bound=1)
  flags.register_multi_flags_validator(
      ['keep_best', 'stop_at_precision', 'eval_every_steps'],
      lambda values: values['eval_every_steps'] or not (
          values['keep_best'] or values['stop_at_precision'] is not None),
      message='--keep_best and --stop_at_precision act on the evaluations '
      'of --eval_every_steps: add it, e.g. --eval_every_steps=1000.')


def define_training_flags() -> None:
  """Defines the flags every training binary takes: data, model and input,
  in-training evaluation, and tfclassic's training and Session flags."""
  define_data_flags()
  define_model_flags()
  define_input_flags()
  define_in_training_eval_flags()
  define_hyperparameter_flags()
  define_warm_start_flags()
  shared_flags.define_train_flags(DEFAULT_TRAIN_DIR, MAX_STEPS)
  shared_flags.define_session_flags()


def session_config_from_flags() -> tf1.ConfigProto:
  """The Session config of the Session flags and --precision."""
  return shared_flags.session_config_from_flags(
      bf16=FLAGS.precision == 'bf16')


@contextlib.contextmanager
def in_training_evaluation(
    is_chief: bool = True, log_prefix: str = ''
) -> Iterator[tuple[Optional[evaluation.InTrainingEvaluation],
                    list[tf1.train.SessionRunHook]]]:
  """The evaluation --eval_every_steps asks of a training binary (None
  without it, and for workers other than the chief), logging with
  log_prefix, with --keep_best and --stop_at_precision; and the hooks to
  give run_training with it."""
  if not (FLAGS.eval_every_steps and is_chief):
    yield None, []
    return
  with scoring.in_training_evaluation(
      FLAGS.data_dir, FLAGS.eval_dir, FLAGS.eval_every_steps,
      FLAGS.batch_size, model_options(), session_config_from_flags(),
      log_prefix) as scored:
    yield evaluation.with_best_and_stop(
        scored, FLAGS.train_dir, FLAGS.keep_best, FLAGS.stop_at_precision,
        log_prefix)


def run_settings_of_flags() -> dict[str, run_settings.Value]:
  """The knobs a run used, by flag name, with --batch_size (the schedule
  counts examples)."""
  settings = dataclasses.asdict(hyperparameters())
  settings['trainable_scopes'] = ','.join(FLAGS.trainable_scopes)
  settings['batch_size'] = FLAGS.batch_size
  return settings


def start_run(log_prefix: str = '') -> list[tf1.train.SessionRunHook]:
  """What the chief does once its training graph is built in the default
  graph: record the run's settings in --train_dir, and start the weights
  from --warm_start_from unless --train_dir is resumed.

  Returns:
    The hooks to give run_training (the settings' TensorBoard text).

  Raises:
    errors.UserError: --warm_start_from has nothing this model can take.
  """
  settings = run_settings_of_flags()
  run_settings.record(FLAGS.train_dir, settings, log_prefix)
  shared_flags.warm_start_from_flags(log_prefix)
  return [run_settings.SettingsSummaryHook(FLAGS.train_dir, settings)]


def train_from_flags(build_graph: Callable[[], train_graph.TrainGraph]
                     ) -> None:
  """What cifar10.train and multi_gpu_train do once their graph differs:
  fetch the data, prepare --train_dir, build the graph in a fresh tf.Graph
  (warm-started by --warm_start_from) and train it, ending with one
  paragraph for errors the user can fix.

  Args:
    build_graph: builds the training graph in the default graph.
  """
  with errors.exit_on_error():
    data.maybe_download_and_extract(FLAGS.data_dir, FLAGS.data_url)
    with train_dir.prepare_train_dir(FLAGS.train_dir, FLAGS.fresh), (
        in_training_evaluation()) as (evaluation_, hooks), (
        tf.Graph().as_default()):
      graph = build_graph()
      hooks = hooks + start_run()
      training.run_training(
          graph.train_op, graph.loss, graph.examples_per_step,
          shared_flags.train_config(), feed_fn=graph.feed_fn, hooks=hooks,
          summary_op=graph.summary_op,
          session_config=session_config_from_flags(), evaluation=evaluation_,
          nan_advice=NAN_ADVICE)


def model_options() -> model.ModelOptions:
  """The ModelOptions of --lrn and --use_fp16."""
  return model.ModelOptions(lrn=FLAGS.lrn, use_fp16=FLAGS.use_fp16)


def class_names() -> list[str]:
  """The class names of --data_dir (their number is the model's)."""
  return data.read_class_names(FLAGS.data_dir)


def data_input(seed: Optional[int], deterministic: bool = False,
               start_step: int = 0) -> inputs.TrainInput:
  """The TrainInput of the data, model and input flags.

  Args:
    seed: of the order examples are read in (--seed, perhaps per worker).
    deterministic, start_step: see inputs.TrainInput.
  """
  return inputs.TrainInput(
      data_dir=FLAGS.data_dir, batch_size=FLAGS.batch_size,
      num_classes=len(class_names()),
      num_threads=FLAGS.num_preprocess_threads,
      min_fraction_in_queue=FLAGS.min_queue_fraction, seed=seed,
      deterministic=deterministic, start_step=start_step)


def train_input(seed: Optional[int]) -> inputs.TrainInput:
  """data_input() as a training binary's flags ask: with --deterministic,
  reading on from the step --train_dir holds."""
  if not FLAGS.deterministic:
    return data_input(seed)
  return data_input(seed, True, train_dir.saved_step(FLAGS.train_dir))

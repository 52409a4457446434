"""The flags the cifar10 binaries share: data, model and input.

A binary calls the define_* functions of the flags it takes (and
tfclassic.flags' for training, evaluation and the Session) before
app.run(); the functions below then turn the parsed values into the plain
arguments library code takes. Only binaries and this module read FLAGS.
"""
import contextlib
from typing import Callable, ContextManager, Optional

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
# Added to the advice when the loss became NaN.
NAN_ADVICE = ' or drop --use_fp16'


def define_data_flags(download: bool = True) -> None:
  """Defines --data_dir and, for binaries that download, --data_url."""
  flags.DEFINE_string('data_dir', DEFAULT_DATA_DIR,
                      'Folder with the CIFAR-10 binary files (or their '
                      'cifar-10-batches-bin/ folder); training downloads '
                      'them there if missing. Its batches.meta.txt gives the '
                      'class names and their number.')
  if download:
    flags.DEFINE_string('data_url', data.DATA_URL,
                        'Where to download cifar-10-binary.tar.gz from when '
                        '--data_dir has no data.')


def define_model_flags() -> None:
  """Defines --batch_size, --use_fp16, --lrn and --precision."""
  flags.DEFINE_integer('batch_size', model.BATCH_SIZE,
                       'Examples per batch (per tower with several towers).')
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
                       'queue; the batch is distorted after it.')
  flags.DEFINE_float('min_queue_fraction',
                     inputs.MIN_FRACTION_OF_EXAMPLES_IN_QUEUE,
                     'Fraction of an epoch (50,000 images) held in the '
                     'shuffling queue before training starts; lower it for '
                     'quick runs and small datasets.')


def define_checkpoint_flag() -> None:
  """Defines --checkpoint_dir, for the binaries that use a trained model."""
  flags.DEFINE_string('checkpoint_dir', DEFAULT_TRAIN_DIR,
                      'The train_dir whose latest checkpoint is used.')


def define_tower_flag() -> None:
  """Defines --num_gpus, for the binaries that build towers."""
  flags.DEFINE_integer('num_gpus', 1,
                       'Towers, one per GPU (of each worker, in a cluster); '
                       'without GPUs they run on the CPU.', lower_bound=1)


def define_in_training_eval_flags() -> None:
  """Defines --eval_every_steps and --eval_dir, for training binaries."""
  flags.DEFINE_integer('eval_every_steps', 0,
                       'Score the moving-average weights on the whole test '
                       'set every this many global steps, and at the end, '
                       'in the training process, as cifar10.eval --run_once '
                       'would (0: never). Scores go to --eval_dir and '
                       'train_dir/evaluations.csv; a resumed run scores only '
                       'steps not scored yet.', lower_bound=0)
  flags.DEFINE_string('eval_dir', DEFAULT_EVAL_DIR,
                      'Where --eval_every_steps writes its event logs.')


def define_training_flags() -> None:
  """Defines the flags every training binary takes: data, model and input,
  in-training evaluation, and tfclassic's training and Session flags."""
  define_data_flags()
  define_model_flags()
  define_input_flags()
  define_in_training_eval_flags()
  shared_flags.define_train_flags(DEFAULT_TRAIN_DIR, MAX_STEPS)
  shared_flags.define_session_flags()


def session_config_from_flags() -> tf1.ConfigProto:
  """The Session config of the Session flags and --precision."""
  return shared_flags.session_config_from_flags(
      bf16=FLAGS.precision == 'bf16')


def in_training_evaluation(
    is_chief: bool = True, log_prefix: str = ''
) -> ContextManager[Optional[evaluation.InTrainingEvaluation]]:
  """The evaluation --eval_every_steps asks of a training binary (None
  without it, and for workers other than the chief), logging with
  log_prefix."""
  if not (FLAGS.eval_every_steps and is_chief):
    return contextlib.nullcontext()
  return scoring.in_training_evaluation(
      FLAGS.data_dir, FLAGS.eval_dir, FLAGS.eval_every_steps,
      FLAGS.batch_size, model_options(), session_config_from_flags(),
      log_prefix)


def train_from_flags(build_graph: Callable[[], train_graph.TrainGraph]
                     ) -> None:
  """What cifar10.train and multi_gpu_train do once their graph differs:
  fetch the data, prepare --train_dir, build the graph in a fresh tf.Graph
  and train it, ending with one paragraph for errors the user can fix.

  Args:
    build_graph: builds the training graph in the default graph.
  """
  with errors.exit_on_error():
    data.maybe_download_and_extract(FLAGS.data_dir, FLAGS.data_url)
    with train_dir.prepare_train_dir(FLAGS.train_dir, FLAGS.fresh), (
        in_training_evaluation()) as evaluation, tf.Graph().as_default():
      graph = build_graph()
      training.run_training(
          graph.train_op, graph.loss, graph.examples_per_step,
          shared_flags.train_config(), feed_fn=graph.feed_fn,
          summary_op=graph.summary_op,
          session_config=session_config_from_flags(), evaluation=evaluation,
          nan_advice=NAN_ADVICE)


def model_options() -> model.ModelOptions:
  """The ModelOptions of --lrn and --use_fp16."""
  return model.ModelOptions(lrn=FLAGS.lrn, use_fp16=FLAGS.use_fp16)


def class_names() -> list[str]:
  """The class names of --data_dir (their number is the model's)."""
  return data.read_class_names(FLAGS.data_dir)


def train_input(seed: Optional[int]) -> inputs.TrainInput:
  """The TrainInput of the data, model and input flags.

  Args:
    seed: of the order examples are read in (--seed, perhaps per worker).
  """
  return inputs.TrainInput(
      data_dir=FLAGS.data_dir, batch_size=FLAGS.batch_size,
      num_classes=len(class_names()),
      num_threads=FLAGS.num_preprocess_threads,
      min_fraction_in_queue=FLAGS.min_queue_fraction, seed=seed)

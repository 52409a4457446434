"""The flags of the mnist binaries, one name and meaning each.

A binary calls the define_* functions of the flags it takes before
app.run(); tutorial_settings() and train_config() then turn the parsed
values into the plain arguments library code takes (library modules never
read FLAGS). The vocabulary is tfclassic.flags', shared with cifar10.
"""
import os
from typing import NamedTuple

from absl import flags

from mnist import input as mnist_input
from mnist import model
from mnist import two_layer_net
from tfclassic import flags as shared_flags
from tfclassic import paths
from tfclassic import training

FLAGS = flags.FLAGS

# Lets users (and CI) point every binary at a local copy of the data once.
DEFAULT_DATA_DIR = os.environ.get('MNIST_DATA_DIR', '/tmp/mnist_data')
DEFAULT_TRAIN_DIR = '/tmp/mnist_train'
DEFAULT_EVAL_DIR = '/tmp/mnist_eval'
LOG_FREQUENCY = 100
SAVE_SUMMARIES_STEPS = 100
CHECKPOINT_EVERY = 1000
EVAL_INTERVAL_SECS = 60
EVAL_BATCH_SIZE = 100
TRAIN_MODELS = model.MODELS + ('scratch',)
# Far above every tutorial's step size: larger ones only diverge.
MAX_LEARNING_RATE = 1e38


class TutorialSettings(NamedTuple):
  """A model's training length and step, the flags' or else the tutorial's."""
  max_steps: int
  batch_size: int
  learning_rate: float


def define_data_flags() -> None:
  """Defines --data_dir and --source_url."""
  shared_flags.define_path(
      'data_dir', DEFAULT_DATA_DIR,
      'Directory with the four MNIST .gz IDX files; missing ones are '
      'downloaded there. Default from $MNIST_DATA_DIR if set.',
      paths.DATA_DIR)
  flags.DEFINE_string(
      'source_url', mnist_input.SOURCE_URL,
      'Base URL of the MNIST mirror used when files are missing.')


def define_cadence_aliases() -> None:
  """The tutorials' spellings of --log_frequency and --save_summaries_steps."""
  flags.DEFINE_alias('log_every', 'log_frequency')
  flags.DEFINE_alias('summary_every', 'save_summaries_steps')


def define_train_flags() -> None:
  """Defines mnist.train's flags: tfclassic's training flags and the
  tutorials' own (--model, --batch_size, --learning_rate, ...)."""
  shared_flags.define_train_flags(
      DEFAULT_TRAIN_DIR, max_steps=None, log_frequency=LOG_FREQUENCY,
      save_summaries_steps=SAVE_SUMMARIES_STEPS,
      max_steps_help='Total training steps, counting those before a resume '
      '(iterations for scratch); default: the tutorial\'s (softmax 1000, '
      'deep 20000, mlp 2000, scratch 10000).')
  define_cadence_aliases()
  flags.DEFINE_enum('model', 'softmax', list(TRAIN_MODELS),
                    'Which tutorial to run: softmax (Beginners), deep '
                    '(Experts), mlp (Mechanics 101) or scratch (numpy '
                    'two-layer net with backpropagation).')
  flags.DEFINE_integer('batch_size', None,
                       'Examples per step; default: the tutorial\'s (deep '
                       '50, others 100).', lower_bound=1,
                       upper_bound=mnist_input.NUM_TRAIN_EXAMPLES)
  shared_flags.define_float(
      'learning_rate', None, 'Step size; default: the tutorial\'s (softmax '
      '0.5, deep 1e-4 with Adam, mlp 0.01, scratch 0.1).', lower_bound=0,
      upper_bound=MAX_LEARNING_RATE, positive=True)
  flags.DEFINE_integer('checkpoint_every', CHECKPOINT_EVERY,
                       'Save a checkpoint every N steps (and at the end); '
                       'mlp also prints train/validation/test precision '
                       'then. 0: every --save_checkpoint_secs instead.',
                       lower_bound=0, upper_bound=shared_flags.MAX_STEPS)
  flags.DEFINE_enum('input', 'feed', ['feed', 'queue'],
                    'feed: numpy DataSet.next_batch into placeholders, as '
                    'the tutorials do; queue: FixedLengthRecordReader + '
                    'shuffle_batch over all 60000 training examples, '
                    'straight into the model.')
  define_validation_size_flag(
      'Training examples held out as the validation set (reported by mlp); '
      'scratch trains on all 60000, as the book does.')
  shared_flags.define_warm_start_flags(
      'The models have no moving averages, so the weights themselves are '
      'taken: another model\'s checkpoint fits where its layers\' names and '
      'shapes do (softmax and mlp share none). Not with --model=scratch.')
  flags.register_multi_flags_validator(
      ['warm_start_from', 'model'],
      lambda values: not (values['warm_start_from'] and
                          values['model'] == 'scratch'),
      message='--warm_start_from starts a TensorFlow model\'s weights; '
      '--model=scratch keeps its own in numpy: drop one of them.')


def define_validation_size_flag(help: str) -> None:
  """Defines --validation_size: at least one training example is left."""
  flags.DEFINE_integer('validation_size', mnist_input.VALIDATION_SIZE, help,
                       lower_bound=0,
                       upper_bound=mnist_input.NUM_TRAIN_EXAMPLES - 1)


def define_eval_flags() -> None:
  """Defines mnist.eval's flags: tfclassic's eval flags, --model and
  --batch_size."""
  shared_flags.define_eval_flags(DEFAULT_TRAIN_DIR, DEFAULT_EVAL_DIR,
                                 EVAL_INTERVAL_SECS)
  flags.DEFINE_enum('model', None, list(model.MODELS),
                    'Model the checkpoint holds; default: detected from the '
                    'checkpoint\'s variable names.')
  flags.DEFINE_integer('batch_size', EVAL_BATCH_SIZE,
                       'Test examples per batch.', lower_bound=1,
                       upper_bound=mnist_input.NUM_TEST_EXAMPLES)


def tutorial_settings(model_name: str) -> TutorialSettings:
  """--max_steps, --batch_size and --learning_rate, each defaulting to the
  tutorial's value for `model_name` (one of TRAIN_MODELS)."""
  if model_name == 'scratch':
    hp = two_layer_net.HPARAMS
    defaults = TutorialSettings(hp.iterations, hp.batch_size,
                                hp.learning_rate)
  else:
    hp = model.HPARAMS[model_name]
    defaults = TutorialSettings(hp.max_steps, hp.batch_size,
                                hp.learning_rate)
  given = (FLAGS.max_steps, FLAGS.batch_size, FLAGS.learning_rate)
  return TutorialSettings(*(default if value is None else value
                            for value, default in zip(given, defaults)))


def train_config(max_steps: int) -> training.TrainConfig:
  """The TrainConfig of the flags, checkpointing every --checkpoint_every
  steps (by time when it is 0)."""
  return shared_flags.train_config(
      max_steps=max_steps,
      save_checkpoint_steps=FLAGS.checkpoint_every or None)

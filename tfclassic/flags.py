"""The flags every package's binaries share, with one name and meaning each.

Binaries call these functions (and their package's flags.py) before
app.run(), then turn the parsed values into the runtime's plain arguments
with train_config() and session_config_from_flags(). Library code never reads FLAGS.
"""
import argparse
import math
import re
from typing import Callable, Optional, Sequence, Union

from absl import app
from absl import flags

from tfclassic import checkpoints
from tfclassic import errors
from tfclassic import paths
from tfclassic import session
from tfclassic import training
from tfclassic import warm_start

FLAGS = flags.FLAGS

# Upper bounds of the flags every binary shares: far beyond any real run,
# they stop a typo (a digit too many) before it runs for years or overflows
# a 64-bit step counter.
MAX_STEPS = 10**12
MAX_SECONDS = 10**8
MAX_THREADS = 1024
MAX_SEED = 2**31 - 1
MAX_ROUNDS = 1000
# Examples per batch: far beyond what fits in memory with these models.
MAX_BATCH_SIZE = 1 << 20


def define_float(name: str, default: Optional[float], help: str,
                 lower_bound: float, upper_bound: float,
                 positive: bool = False) -> None:
  """flags.DEFINE_float with its range checked, NaN included (absl's bounds
  let NaN through: it compares false with both).

  Args:
    positive: also refuse lower_bound itself (e.g. a learning rate of 0).
  """
  flags.DEFINE_float(name, default, help, lower_bound=lower_bound,
                     upper_bound=upper_bound)
  flags.register_validator(
      name, lambda value: value is None or (
          math.isfinite(value) and (value > lower_bound or not positive)),
      message='must be a number %s %s and at most %s' % (
          'above' if positive else 'from', lower_bound, upper_bound))


def argparse_number(kind: type, lower_bound: Union[int, float],
                    upper_bound: Union[int, float]
                    ) -> Callable[[str], Union[int, float]]:
  """An argparse `type` for the scripts' numeric arguments, with the same
  range check as define_float and absl's bounds; its bounds are kept on it
  (lower_bound, upper_bound), as absl keeps them on a flag's parser."""
  def parse(text: str) -> Union[int, float]:
    try:
      value = kind(text)
    except ValueError:
      raise argparse.ArgumentTypeError(
          '%s is not %s' % (text, 'a whole number' if kind is int
                            else 'a number')) from None
    if not (math.isfinite(value) and lower_bound <= value <= upper_bound):
      raise argparse.ArgumentTypeError('%s is not in the range [%s, %s]'
                                       % (text, lower_bound, upper_bound))
    return value
  parse.lower_bound, parse.upper_bound = lower_bound, upper_bound
  parse.__name__ = kind.__name__
  return parse


def argparse_path(kind: str) -> Callable[[str], str]:
  """An argparse `type` for the scripts' path arguments, checked as
  define_path checks a flag's; the kind is kept on it (path_kind)."""
  problem_of = paths.PROBLEM_OF_KIND[kind]

  def parse(path: str) -> str:
    problem = problem_of(path)
    if problem:
      raise argparse.ArgumentTypeError('%s %s' % (path, problem))
    return path
  parse.path_kind = kind
  parse.__name__ = kind
  return parse


def define_path(name: str, default: Optional[str], help: str,
                kind: str) -> None:
  """flags.DEFINE_string for a path, checked as paths.PROBLEM_OF_KIND[kind]
  checks it when the flags are parsed, before any work.

  The kind ends the help text, e.g. '(output folder)': `--helpfull` tells
  users what the path must be, and tests find the path flags by it.
  """
  flags.DEFINE_string(name, default, '%s (%s)' % (help, kind))
  problem_of = paths.PROBLEM_OF_KIND[kind]

  def check(path: Optional[str]) -> bool:
    problem = path is not None and problem_of(path)
    if problem:
      raise flags.ValidationError(problem)
    return True
  flags.register_validator(name, check)


def refuse_arguments(argv: Sequence[str]) -> None:
  """Refuses arguments other than flags, which the binaries would ignore
  (e.g. a flag without its --).

  Raises:
    app.UsageError: naming them.
  """
  if len(argv) > 1:
    raise app.UsageError('unexpected arguments: %s' % ' '.join(argv[1:]))


def define_train_flags(train_dir: str, max_steps: Optional[int],
                       log_frequency: int = 10,
                       save_checkpoint_secs: int = 600,
                       save_summaries_steps: int = 100,
                       max_steps_help: str = '') -> None:
  """Defines --train_dir, --max_steps, --fresh, --seed and the cadences.

  Args:
    train_dir, max_steps, log_frequency, save_checkpoint_secs,
      save_summaries_steps: the package's defaults.
    max_steps_help: replaces the help of --max_steps (e.g. to explain a
      per-model default).
  """
  define_path('train_dir', train_dir,
              'Where checkpoints and event logs are written. An existing '
              'train_dir is resumed from its latest checkpoint.',
              paths.OUTPUT_DIR)
  flags.DEFINE_integer('max_steps', max_steps, max_steps_help or (
      'Total number of training steps (the global step to stop at, '
      'counting steps done before a resume).'), lower_bound=1,
                       upper_bound=MAX_STEPS)
  flags.DEFINE_boolean('fresh', False,
                       'Delete train_dir and start from step 0 instead of '
                       'resuming.')
  define_cadence_flags(log_frequency, save_summaries_steps)
  flags.DEFINE_integer('save_checkpoint_secs', save_checkpoint_secs,
                       'Seconds between checkpoints (one more is written at '
                       'the end, or when Ctrl-C stops training).',
                       lower_bound=1, upper_bound=MAX_SECONDS)
  flags.DEFINE_list('trace_steps', [],
                    'Global steps (N[,M...], the steps the log line '
                    'numbers) to trace: each writes a Chrome trace, '
                    'train_dir/timeline-<step>.json, for ui.perfetto.dev or '
                    'chrome://tracing. Other steps run as without it.')
  flags.register_validator(
      'trace_steps', lambda steps: all(
          s.isdigit() and int(s) < MAX_STEPS for s in steps),
      message='--trace_steps takes global steps: whole numbers, '
      'comma-separated, e.g. --trace_steps=100,2000.')
  flags.register_multi_flags_validator(
      ['trace_steps', 'max_steps'], lambda values: values['max_steps'] is None
      or not _steps_past(values['trace_steps'], values['max_steps']),
      message='--trace_steps names steps past --max_steps (the last step '
      'is --max_steps minus 1): they would never be traced. Lower them or '
      'raise --max_steps.')
  flags.DEFINE_integer('seed', None,
                       'Seed for the initial weights, the dropout and '
                       'distortions, and the order examples are read in; '
                       'default: a new random start every run.',
                       lower_bound=0, upper_bound=MAX_SEED)
  flags.DEFINE_boolean('deterministic', False,
                       'Make the run repeat exactly: with the same --seed, '
                       'machine and TensorFlow, the same checkpoints, '
                       'summaries and scores; stopped and run again, it ends '
                       'as an uninterrupted run would. Random draws come '
                       'from the seed and the step, and queues keep one '
                       'order (docs/performance.md gives its cost).')
  flags.register_multi_flags_validator(
      ['deterministic', 'seed'],
      lambda values: not values['deterministic'] or values['seed'] is not None,
      message='--deterministic repeats the run of one seed: give --seed too, '
      'e.g. --seed=1.')


def define_warm_start_flags(shape_help: str = '') -> None:
  """Defines --warm_start_from and --warm_start_exclude, for training
  binaries (see warm_start_from_flags).

  Args:
    shape_help: added to --warm_start_from's help, e.g. which weights take
      another shape with another number of classes.
  """
  define_path(
      'warm_start_from', None,
      'Start a new run\'s weights from this checkpoint: a train_dir (its '
      'latest checkpoint), its best/ folder, or one checkpoint such as '
      'TRAIN_DIR/model.ckpt-1000. The weights come from its moving averages '
      'where it has them (the weights it was evaluated with), else from the '
      'weights. %sThe global step and optimizer start at zero. Ignored when '
      '--train_dir already has a checkpoint (it is resumed).'
      % (shape_help + ' ' if shape_help else ''), paths.CHECKPOINT)
  flags.DEFINE_string(
      'warm_start_exclude', None,
      'Regular expression: weights whose name it matches (re.search) are '
      'not taken from --warm_start_from, e.g. \'^softmax_linear/\'.')
  flags.register_validator(
      'warm_start_exclude', _is_regex,
      message='--warm_start_exclude is not a regular expression Python '
      'reads; fix it (e.g. \'^softmax_linear/\').')


def _is_regex(pattern: Optional[str]) -> bool:
  try:
    re.compile(pattern or '')
  except re.error:
    return False
  return True


def warm_start_from_flags(log_prefix: str = '') -> None:
  """Starts the default graph's weights from --warm_start_from, unless
  --train_dir has a checkpoint (then it is resumed, and a line says the
  flag is ignored). Call it once the training graph is built.

  Raises:
    errors.UserError: --warm_start_from has nothing this model can take.
  """
  if not FLAGS.warm_start_from:
    return
  if checkpoints.newest_checkpoint(FLAGS.train_dir):
    print('%s%s has checkpoints: resuming it; --warm_start_from=%s is '
          'ignored (it sets the weights of a new run; --fresh starts one).'
          % (log_prefix, FLAGS.train_dir, FLAGS.warm_start_from), flush=True)
  else:
    warm_start.warm_start(FLAGS.warm_start_from, FLAGS.warm_start_exclude,
                          log_prefix=log_prefix)


def deterministic_seed() -> Optional[int]:
  """--seed with --deterministic (the seed every random draw then derives
  from), else None."""
  return FLAGS.seed if FLAGS.deterministic else None


def _steps_past(trace_steps: Sequence[str], max_steps: int) -> list[int]:
  """The --trace_steps at or past max_steps (a run's last step is
  max_steps - 1); those that are not whole numbers are left to their own
  validator."""
  return [int(s) for s in trace_steps if s.isdigit() and int(s) >= max_steps]


def define_cadence_flags(log_frequency: int = 10,
                         save_summaries_steps: int = 100) -> None:
  """Defines --log_frequency and --save_summaries_steps (part of
  define_train_flags; alone for benchmarks that time training steps)."""
  flags.DEFINE_integer('log_frequency', log_frequency,
                       'How often, in steps, to log loss, speed and the '
                       'time left (0: never).', lower_bound=0,
                       upper_bound=MAX_STEPS)
  flags.DEFINE_integer('save_summaries_steps', save_summaries_steps,
                       'Steps between TensorBoard summaries (0: never).',
                       lower_bound=0, upper_bound=MAX_STEPS)


def define_profile_flags() -> None:
  """Defines --profile and --profile_steps, for benchmark binaries."""
  flags.DEFINE_boolean('profile', False,
                       'Also trace --profile_steps steps of each mode (Keras '
                       'modes aside) after its timed ones, in every round, '
                       'and print each row\'s op time by op type, with its '
                       'share, under the table (and in --json).')
  flags.DEFINE_integer('profile_steps', 3, 'Steps traced per mode and round '
                       'with --profile.', lower_bound=1, upper_bound=1000)


def profile_steps() -> int:
  """The steps each benchmark mode traces: --profile_steps with --profile,
  else none."""
  return FLAGS.profile_steps if FLAGS.profile else 0


def train_config(max_steps: Optional[int] = None,
                 save_checkpoint_steps: Optional[int] = None
                 ) -> training.TrainConfig:
  """The TrainConfig the flags of define_train_flags() give.

  Args:
    max_steps: used when --max_steps is unset (a per-model default).
    save_checkpoint_steps: checkpoint by steps instead of
      --save_checkpoint_secs.
  """
  max_steps = FLAGS.max_steps if FLAGS.max_steps is not None else max_steps
  past = _steps_past(FLAGS.trace_steps, max_steps)
  if past:
    raise errors.UserError(
        '--trace_steps=%s names steps past the last one, %d (--max_steps is '
        '%d): they would never be traced. Lower them or raise --max_steps.'
        % (','.join(map(str, past)), max_steps - 1, max_steps))
  return training.TrainConfig(
      train_dir=FLAGS.train_dir,
      max_steps=max_steps,
      log_frequency=FLAGS.log_frequency,
      save_checkpoint_secs=FLAGS.save_checkpoint_secs,
      save_checkpoint_steps=save_checkpoint_steps,
      save_summaries_steps=FLAGS.save_summaries_steps,
      trace_steps=tuple(int(step) for step in FLAGS.trace_steps))


def define_eval_flags(checkpoint_dir: str, eval_dir: str,
                      eval_interval_secs: int) -> None:
  """Defines --checkpoint_dir, --eval_dir, --run_once, --eval_interval_secs.

  Args:
    checkpoint_dir, eval_dir, eval_interval_secs: the package's defaults.
  """
  define_checkpoint_dir_flag(checkpoint_dir,
                             'The train_dir whose checkpoints are used.')
  define_path('eval_dir', eval_dir,
              'Where the evaluation\'s event logs are written.',
              paths.OUTPUT_DIR)
  flags.DEFINE_boolean('run_once', False,
                       'Evaluate the latest checkpoint once and exit.')
  flags.DEFINE_integer('eval_interval_secs', eval_interval_secs,
                       'Seconds between looks for a new checkpoint.',
                       lower_bound=1, upper_bound=MAX_SECONDS)


def define_checkpoint_dir_flag(default: str, help: str) -> None:
  """Defines --checkpoint_dir, a train_dir that is only read."""
  define_path('checkpoint_dir', default, help, paths.INPUT_DIR)


def define_session_flags() -> None:
  """Defines --intra_op_threads, --inter_op_threads, --log_device_placement."""
  flags.DEFINE_integer('intra_op_threads', 0,
                       'Threads one op may use (0: one per core).',
                       lower_bound=0, upper_bound=MAX_THREADS)
  flags.DEFINE_integer('inter_op_threads', 0,
                       'Ops run at the same time (0: one per core).',
                       lower_bound=0, upper_bound=MAX_THREADS)
  flags.DEFINE_boolean('log_device_placement', False,
                       'Log the device each op runs on.')


def session_config_from_flags(bf16: bool = False,
                   inter_op_threads: Optional[int] = None):
  """The Session config the flags of define_session_flags() give.

  Args:
    bf16: turn on the bfloat16 rewrite.
    inter_op_threads: used when --inter_op_threads is 0 (a per-model
      default).
  """
  return session.session_config(
      log_device_placement=FLAGS.log_device_placement,
      intra_op_threads=FLAGS.intra_op_threads,
      inter_op_threads=FLAGS.inter_op_threads or inter_op_threads or 0,
      bf16=bf16)

"""The flags every package's binaries share, with one name and meaning each.

Binaries call these functions (and their package's flags.py) before
app.run(), then turn the parsed values into the runtime's plain arguments
with train_config() and session_config_from_flags(). Library code never reads FLAGS.
"""
from typing import Optional, Sequence

from absl import app
from absl import flags

from tfclassic import session
from tfclassic import training

FLAGS = flags.FLAGS


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
  flags.DEFINE_string('train_dir', train_dir,
                      'Where checkpoints and event logs are written. An '
                      'existing train_dir is resumed from its latest '
                      'checkpoint.')
  flags.DEFINE_integer('max_steps', max_steps, max_steps_help or (
      'Total number of training steps (the global step to stop at, '
      'counting steps done before a resume).'))
  flags.DEFINE_boolean('fresh', False,
                       'Delete train_dir and start from step 0 instead of '
                       'resuming.')
  define_cadence_flags(log_frequency, save_summaries_steps)
  flags.DEFINE_integer('save_checkpoint_secs', save_checkpoint_secs,
                       'Seconds between checkpoints (one more is written at '
                       'the end, or when Ctrl-C stops training).')
  flags.DEFINE_list('trace_steps', [],
                    'Global steps (N[,M...], the steps the log line '
                    'numbers) to trace: each writes a Chrome trace, '
                    'train_dir/timeline-<step>.json, for ui.perfetto.dev or '
                    'chrome://tracing. Other steps run as without it.')
  flags.register_validator(
      'trace_steps', lambda steps: all(s.isdigit() for s in steps),
      message='--trace_steps takes global steps: whole numbers, '
      'comma-separated, e.g. --trace_steps=100,2000.')
  flags.DEFINE_integer('seed', None,
                       'Seed for the initial weights, the dropout and '
                       'distortions, and the order examples are read in; '
                       'default: a new random start every run.')


def define_cadence_flags(log_frequency: int = 10,
                         save_summaries_steps: int = 100) -> None:
  """Defines --log_frequency and --save_summaries_steps (part of
  define_train_flags; alone for benchmarks that time training steps)."""
  flags.DEFINE_integer('log_frequency', log_frequency,
                       'How often, in steps, to log loss, speed and the '
                       'time left (0: never).')
  flags.DEFINE_integer('save_summaries_steps', save_summaries_steps,
                       'Steps between TensorBoard summaries (0: never).')


def define_profile_flags() -> None:
  """Defines --profile and --profile_steps, for benchmark binaries."""
  flags.DEFINE_boolean('profile', False,
                       'Also trace --profile_steps steps of each mode (Keras '
                       'modes aside) after its timed ones, in every round, '
                       'and print each row\'s op time by op type, with its '
                       'share, under the table (and in --json).')
  flags.DEFINE_integer('profile_steps', 3, 'Steps traced per mode and round '
                       'with --profile.', lower_bound=1)


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
  return training.TrainConfig(
      train_dir=FLAGS.train_dir,
      max_steps=FLAGS.max_steps if FLAGS.max_steps is not None else max_steps,
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
  flags.DEFINE_string('checkpoint_dir', checkpoint_dir,
                      'The train_dir whose checkpoints are used.')
  flags.DEFINE_string('eval_dir', eval_dir,
                      'Where the evaluation\'s event logs are written.')
  flags.DEFINE_boolean('run_once', False,
                       'Evaluate the latest checkpoint once and exit.')
  flags.DEFINE_integer('eval_interval_secs', eval_interval_secs,
                       'Seconds between looks for a new checkpoint.')


def define_session_flags() -> None:
  """Defines --intra_op_threads, --inter_op_threads, --log_device_placement."""
  flags.DEFINE_integer('intra_op_threads', 0,
                       'Threads one op may use (0: one per core).')
  flags.DEFINE_integer('inter_op_threads', 0,
                       'Ops run at the same time (0: one per core).')
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

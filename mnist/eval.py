"""Scores an MNIST model's checkpoints on the 10000 test images.

  python -m mnist.eval --checkpoint_dir=/tmp/mnist_train --run_once

The test files stream through FixedLengthRecordReader and a batch queue, one
pass in order, so the whole test set is never one tensor. Without --run_once
each new checkpoint is scored as training writes it.
"""
import time

from absl import app, flags

from mnist import flags as mnist_flags
from mnist import input as mnist_input
from mnist import model
from mnist import scoring
from tfclassic import errors
from tfclassic import evaluation
from tfclassic import flags as shared_flags
from tfclassic import summaries

mnist_flags.define_data_flags()
mnist_flags.define_eval_flags()
shared_flags.define_session_flags()
flags.adopt_module_key_flags(mnist_flags)
flags.adopt_module_key_flags(shared_flags)

FLAGS = flags.FLAGS


def evaluate(checkpoint: str) -> None:
  """Scores `checkpoint`, prints Mechanics 101's lines and writes the
  precision to --eval_dir at the checkpoint's step."""
  model_name = FLAGS.model or model.model_from_checkpoint(checkpoint)
  score = scoring.score_test_files(checkpoint, model_name, FLAGS.data_dir,
                                   FLAGS.batch_size,
                                   shared_flags.session_config_from_flags())
  precision = scoring.precision(score.num_examples, score.num_correct)
  summaries.write_scalars(FLAGS.eval_dir, score.step,
                          {'Precision @ 1': precision})
  print(f'{time.strftime("%Y-%m-%d %H:%M:%S")}: {checkpoint} '
        f'(step {score.step}, model {model_name})')
  print(scoring.format_precision(score.num_examples, score.num_correct),
        flush=True)


def main(argv):
  shared_flags.refuse_arguments(argv)
  with errors.exit_on_error():
    mnist_input.maybe_download(FLAGS.data_dir, FLAGS.source_url)
    evaluation.eval_loop(FLAGS.checkpoint_dir, evaluate, FLAGS.run_once,
                         FLAGS.eval_interval_secs,
                         train_command='python -m mnist.train')


if __name__ == '__main__':
  app.run(main)

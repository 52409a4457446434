"""Trains an MNIST tutorial model.

  python -m mnist.train --model=softmax   # MNIST For ML Beginners (~0.92)
  python -m mnist.train --model=deep      # Deep MNIST for Experts (~0.992)
  python -m mnist.train --model=mlp       # Mechanics 101 (~0.9)
  python -m mnist.train --model=scratch   # numpy two-layer net (~0.97)

TF models checkpoint to --train_dir and resume from it; --fresh starts over.
"""

from absl import app, flags

from mnist import input as mnist_input
from mnist import model, training, two_layer_net
from mnist.quiet_tf import tf

FLAGS = flags.FLAGS

training.define_common_flags()
flags.DEFINE_enum('model', 'softmax', list(model.MODELS) + ['scratch'],
                  'Which tutorial to run: softmax (Beginners), deep '
                  '(Experts), mlp (Mechanics 101) or scratch (numpy '
                  'two-layer net with backpropagation).')
flags.DEFINE_integer('max_steps', None,
                     'Total training steps (iterations for scratch); '
                     'default: the tutorial\'s (softmax 1000, deep 20000, '
                     'mlp 2000, scratch 10000). A resumed run stops here too.')
flags.DEFINE_integer('batch_size', None,
                     'Examples per step; default: the tutorial\'s (deep 50, '
                     'others 100).')
flags.DEFINE_float('learning_rate', None,
                   'Step size; default: the tutorial\'s (softmax 0.5, deep '
                   '1e-4 with Adam, mlp 0.01, scratch 0.1).')
flags.DEFINE_integer('log_every', 100,
                     'Print a progress line every N steps (0: never).')
flags.DEFINE_integer('summary_every', 100,
                     'Write loss/accuracy/image summaries every N steps '
                     '(0: never).')
flags.DEFINE_integer('checkpoint_every', 1000,
                     'Save a checkpoint every N steps (and at the end); mlp '
                     'also prints train/validation/test precision then.')
flags.DEFINE_enum('input', 'feed', ['feed', 'queue'],
                  'feed: numpy DataSet.next_batch into placeholders, as the '
                  'tutorials do; queue: FixedLengthRecordReader + '
                  'shuffle_batch over all 60000 training examples, straight '
                  'into the model.')
flags.DEFINE_integer('validation_size', mnist_input.VALIDATION_SIZE,
                     'Training examples held out as the validation set '
                     '(reported by mlp); scratch trains on all 60000, as the '
                     'book does.')
flags.DEFINE_boolean('fresh', False,
                     'Delete --train_dir first instead of resuming from its '
                     'latest checkpoint.')
flags.DEFINE_integer('seed', None,
                     'Seed for weight init and shuffling (default: random).')


def _flag_or(value, default):
  """A flag's value, or the tutorial's default when the flag is unset."""
  return default if value is None else value


def _run_scratch(datasets: mnist_input.Datasets):
  hp = two_layer_net.HPARAMS
  history = two_layer_net.train(
      datasets.train, datasets.test,
      iterations=_flag_or(FLAGS.max_steps, hp.iterations),
      batch_size=_flag_or(FLAGS.batch_size, hp.batch_size),
      learning_rate=_flag_or(FLAGS.learning_rate, hp.learning_rate),
      seed=FLAGS.seed, log=print)
  for path in two_layer_net.write_curves(history, FLAGS.train_dir):
    print(f'Wrote {path}')
  print(f'Curves: tensorboard --logdir={FLAGS.train_dir}, or python '
        f'scripts/plot_curves.py {FLAGS.train_dir} -o curves.png')
  print(f'test accuracy {history.test_acc[-1]:g}')


def _evaluate_splits(sess, g: model.TrainGraph,
                     datasets: mnist_input.Datasets):
  """Mechanics 101's do_eval over the three splits."""
  for title, data_set in [('Training', datasets.train),
                          ('Validation', datasets.validation),
                          ('Test', datasets.test)]:
    print(f'{title} Data Eval:')
    print(training.format_precision(*training.count_correct(
        sess, g.correct, g.images, g.labels, data_set)), flush=True)


def _train_tf(datasets: mnist_input.Datasets):
  name = FLAGS.model
  hp = model.HPARAMS[name]
  max_steps = _flag_or(FLAGS.max_steps, hp.max_steps)
  batch_size = _flag_or(FLAGS.batch_size, hp.batch_size)

  with tf.Graph().as_default():
    if FLAGS.seed is not None:
      tf.compat.v1.set_random_seed(FLAGS.seed)
    # The queue's batches go straight into the model: fetching them to feed
    # them back cost a second Session run a step (softmax: 2.2 instead of
    # 1.3 ms).
    inputs = (mnist_input.train_inputs(FLAGS.data_dir, batch_size,
                                       seed=FLAGS.seed)
              if FLAGS.input == 'queue' else None)
    g = model.train_graph(name, hp.optimizer,
                          _flag_or(FLAGS.learning_rate, hp.learning_rate),
                          inputs)
    saver = tf.compat.v1.train.Saver(max_to_keep=5)

    with tf.compat.v1.Session(config=training.session_config(name)) as sess:
      start = training.restore_or_initialize(sess, saver, FLAGS.train_dir)
      writer = tf.compat.v1.summary.FileWriter(FLAGS.train_dir, sess.graph)
      coord = tf.compat.v1.train.Coordinator()
      threads = tf.compat.v1.train.start_queue_runners(sess, coord)
      if start >= max_steps:
        print(f'{FLAGS.train_dir} is already at step {start} >= '
              f'--max_steps={max_steps}; use --fresh to start over or raise '
              '--max_steps.')
      for step in range(start, max_steps):
        batch = (datasets.train.next_batch(batch_size) if inputs is None
                 else None)
        training.train_step(sess, g, name, step, batch, writer,
                            FLAGS.log_every, FLAGS.summary_every)
        done = step + 1
        if done % FLAGS.checkpoint_every == 0 or done == max_steps:
          saver.save(sess, training.checkpoint_path(FLAGS.train_dir),
                     global_step=g.global_step)
          if name == 'mlp':
            _evaluate_splits(sess, g, datasets)
      writer.close()
      coord.request_stop()
      coord.join(threads)
      num_examples, num_correct = training.count_correct(
          sess, g.correct, g.images, g.labels, datasets.test)
      print(f'test accuracy {num_correct / num_examples:g}')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  training.ensure_data(FLAGS.data_dir, FLAGS.source_url)
  training.prepare_train_dir(FLAGS.train_dir, FLAGS.fresh)
  if FLAGS.model == 'scratch':
    _run_scratch(training.load_data_sets(FLAGS.data_dir, 0, FLAGS.seed))
  else:
    _train_tf(training.load_data_sets(
        FLAGS.data_dir, FLAGS.validation_size, FLAGS.seed))


if __name__ == '__main__':
  app.run(main)

"""tfclassic.warm_start and --warm_start_from: a new run starting from
another run's checkpoint, read back from both checkpoints."""
import numpy as np
import pytest
import tensorflow as tf

from cifar10 import model
from conftest import (CIFAR10_SEED_FLAG, QUICK_TRAIN_FLAGS, checkpoint_steps,
                      run_module, write_dataset)
from tfclassic import errors
from tfclassic import warm_start

tf1 = tf.compat.v1

AVERAGE = warm_start.AVERAGE_SUFFIX
SOFTMAX = ('softmax_linear/weights', 'softmax_linear/biases')


@pytest.fixture(scope='module')
def four_class_data(tmp_path_factory):
  """Tiny data of 4 classes: "your own problem" after short_run's 10."""
  root = write_dataset(tmp_path_factory.mktemp('four_classes'),
                       num_classes=4)
  (root / 'cifar-10-batches-bin' / 'batches.meta.txt').write_text(
      'airplane\nautomobile\nship\ntruck\n')
  return root


def test_another_class_count_takes_all_but_the_softmax_layer_at_step_0(
    short_run, four_class_data, tmp_path):
  args = ['--data_dir=%s' % four_class_data, '--train_dir=%s' % tmp_path,
          '--warm_start_from=%s' % short_run.train_dir, *QUICK_TRAIN_FLAGS,
          CIFAR10_SEED_FLAG]
  result = run_module('cifar10.train', *args, '--max_steps=2',
                      '--trainable_scopes=local4,softmax_linear')
  assert ('Warm start from %s (its moving averages): 8 of 10 weights taken; '
          'the global step and the optimizer start at zero.'
          % short_run.checkpoint) in result.stdout
  assert ('  not taken, initialized as new: softmax_linear/weights (shape '
          '[192, 10] there, [192, 4] here)') in result.stdout
  assert '  taken: conv1/weights\n' in result.stdout
  assert checkpoint_steps(tmp_path) == [0, 2]
  old = tf.train.load_checkpoint(str(short_run.checkpoint))
  new = tf.train.load_checkpoint(str(tmp_path / 'model.ckpt-0'))
  assert new.get_tensor('global_step') == 0
  for name in _weight_names(new):
    if name in SOFTMAX:
      assert new.get_variable_to_shape_map()[name][-1] == 4
      continue
    # The weight and its new average both start at the old average.
    for saved in (name, name + AVERAGE):
      np.testing.assert_array_equal(new.get_tensor(saved),
                                    old.get_tensor(name + AVERAGE))
    assert not np.array_equal(new.get_tensor(name), old.get_tensor(name))
  # --trainable_scopes: two steps changed only local4 and the softmax layer.
  trained = tf.train.load_checkpoint(str(tmp_path / 'model.ckpt-2'))
  for name in _weight_names(new):
    changed = not np.array_equal(trained.get_tensor(name),
                                 new.get_tensor(name))
    assert changed == name.startswith(('local4/', 'softmax_linear/')), name

  resumed = run_module('cifar10.train', *args, '--max_steps=3')
  assert ('%s has checkpoints: resuming it; --warm_start_from=%s is ignored '
          '(it sets the weights of a new run; --fresh starts one).'
          % (tmp_path, short_run.train_dir)) in resumed.stdout
  assert 'Warm start' not in resumed.stdout
  assert 'Resuming from %s/model.ckpt-2.' % tmp_path in resumed.stdout
  assert checkpoint_steps(tmp_path)[-1] == 3


def _weight_names(reader) -> list[str]:
  return sorted(name for name in reader.get_variable_to_shape_map()
                if name.endswith(('/weights', '/biases')))


def _initial_values(checkpoint, **kwargs) -> dict[str, np.ndarray]:
  """The weights a fresh 10-class model starts with, warm-started."""
  with tf.Graph().as_default():
    model.inference(tf1.placeholder(tf.float32, [1, 24, 24, 3]))
    warm_start.warm_start(str(checkpoint), **kwargs)
    with tf1.Session() as sess:
      sess.run(tf1.global_variables_initializer())
      return {v.op.name: sess.run(v) for v in tf1.trainable_variables()}


def test_exclude_keeps_the_initializers_of_the_weights_it_matches(
    short_run, capfd):
  values = _initial_values(short_run.checkpoint, exclude='^local[34]/',
                           from_averages=False)
  out = capfd.readouterr().out
  assert 'Warm start from %s (its raw weights): 6 of 10 weights taken' % (
      short_run.checkpoint) in out
  assert ('  not taken, initialized as new: local3/weights (matches '
          '--warm_start_exclude)') in out
  old = tf.train.load_checkpoint(str(short_run.checkpoint))
  for name, value in values.items():
    same = np.array_equal(value, old.get_tensor(name))
    assert same == (not name.startswith('local')), name


def test_a_checkpoint_nothing_fits_and_a_folder_without_one_are_refused(
    short_run, tmp_path):
  with pytest.raises(errors.UserError) as error:
    _initial_values(short_run.checkpoint, exclude='.')
  assert str(error.value).startswith(
      'Nothing in %s fits this model, so --warm_start_from cannot start from '
      'it (conv1/weights: matches --warm_start_exclude;' % short_run.checkpoint)
  with pytest.raises(errors.UserError, match=(
      r'--warm_start_from=.* is a folder without checkpoints\. Point it')):
    warm_start.resolve(str(tmp_path))

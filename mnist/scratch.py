"""--model=scratch in a train_dir: the numpy network resumes, and Ctrl-C saves.

Like the TensorFlow models, a run goes on from what its train_dir holds:
the weights, the curves so far and the minibatch generator's state are
saved to STATE_FILE at the end and when Ctrl-C (or SIGTERM) stops the run,
so an interrupted and resumed run draws the same minibatches as one that
ran through. The curves are written as two_layer_net.write_curves does.
"""
import os
import zipfile
from typing import Optional

import numpy as np

from mnist import two_layer_net
from tfclassic import errors
from tfclassic import signals

STATE_FILE = 'two_layer_net.npz'
_PARAMS = ('W1', 'b1', 'W2', 'b2')


def save_state(path: str, state: two_layer_net.TrainState) -> None:
  """Writes `state` to `path` (an .npz), replacing it only once complete."""
  kind, keys, pos, has_gauss, cached_gaussian = state.rng.get_state()
  partial = path + '.part.npz'
  np.savez(partial, iteration=state.iteration,
           losses=np.asarray(state.history.losses, np.float64),
           epochs=np.asarray(state.history.epochs,
                             np.float64).reshape(-1, 3),
           rng_keys=keys, rng_pos=pos, rng_has_gauss=has_gauss,
           rng_cached_gaussian=cached_gaussian,
           **{name: state.net.params[name] for name in _PARAMS})
  os.replace(partial, path)


def load_state(path: str, input_size: int,
               hidden_size: int) -> two_layer_net.TrainState:
  """Reads what save_state wrote.

  Raises:
    errors.UserError: the file is unreadable or holds another network.
  """
  state = two_layer_net.new_state(input_size, hidden_size)
  try:
    with np.load(path) as saved:
      for name in _PARAMS:
        if saved[name].shape != state.net.params[name].shape:
          raise errors.UserError(
              f'{path} holds another network: {name} has shape '
              f'{list(saved[name].shape)} there, '
              f'{list(state.net.params[name].shape)} here. Use --fresh to '
              'start over.')
        # In place: the layers share these arrays.
        state.net.params[name][...] = saved[name]
      state.rng.set_state(('MT19937', saved['rng_keys'],
                           int(saved['rng_pos']),
                           int(saved['rng_has_gauss']),
                           float(saved['rng_cached_gaussian'])))
      state.history.losses = saved['losses'].tolist()
      state.history.epochs = [(int(i), float(train), float(test))
                              for i, train, test in saved['epochs']]
      state.iteration = int(saved['iteration'])
  except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
    raise errors.UserError(f'{path} is corrupt or truncated ({e}). Use '
                           '--fresh to start over.') from e
  return state


def run(train_set, test_set, train_dir: str, iterations: int,
        batch_size: int, learning_rate: float,
        seed: Optional[int] = None) -> bool:
  """Trains the network in train_dir, resuming from its STATE_FILE.

  Prints the epoch lines, where the curves went and, at the end, the last
  epoch's 'test accuracy X'.

  Args:
    train_set, test_set: `images` [n, 784] and class-index `labels` [n].
    train_dir: where the state and the curves are written.
    iterations: the iteration to stop at, counting those of a resumed run.
    batch_size, learning_rate: the SGD settings.
    seed: seeds a new run's weights and minibatches.

  Returns:
    True if the run reached `iterations`, False if a signal stopped it.

  Raises:
    errors.UserError: the saved state cannot be read.
  """
  path = os.path.join(train_dir, STATE_FILE)
  hidden_size = two_layer_net.HPARAMS.hidden_size
  if os.path.exists(path):
    state = load_state(path, train_set.images.shape[1], hidden_size)
    if state.iteration >= iterations:
      print(f'{train_dir} is already at iteration {state.iteration} '
            f'(--max_steps={iterations}): nothing to do. Raise --max_steps '
            'to train on, or use --fresh to start over.')
      return True
    print(f'Resuming from {path} at iteration {state.iteration}.',
          flush=True)
  else:
    state = two_layer_net.new_state(train_set.images.shape[1], hidden_size,
                                    seed)
  first_iteration = state.iteration
  with signals.StopSignal('stopping after this iteration and saving the '
                          'weights and curves (press Ctrl-C again to abort '
                          'without saving)') as stop:
    two_layer_net.train(
        train_set, test_set, iterations, batch_size, learning_rate,
        log=lambda line: print(line, flush=True), state=state,
        should_stop=lambda: stop.requested is not None)
  save_state(path, state)
  for written in two_layer_net.write_curves(state.history, train_dir,
                                            first_iteration):
    print(f'Wrote {written}')
  print(f'Curves: tensorboard --logdir={train_dir}, or python '
        f'scripts/plot_curves.py {train_dir} -o curves.png')
  if stop.requested:
    print(f'Stopped by {stop.requested} at iteration {state.iteration}; '
          f'saved {path}.', flush=True)
    return False
  if state.history.epochs:
    print(f'test accuracy {state.history.test_acc[-1]:g}')
  return True

"""Every binary refuses bad flag values and paths in one paragraph.

The cases are generated from the flags themselves: each binary's numeric
flags and their declared ranges come from its --helpxml (the scripts':
from their argparse parsers), and its path flags from the kind that ends
their help. A flag added later is covered without touching this file.
"""
import argparse
import importlib
import math
import os
import re
import shutil
import xml.etree.ElementTree as ElementTree
from typing import Iterator, NamedTuple, Optional

import pytest

from conftest import PROJECT_ROOT, mounted_tmpfs, remount, run_module
from tfclassic import paths

PACKAGES = ('cifar10', 'mnist', 'linear')
# Long enough for a binary's start in a busy suite; validation itself takes
# a small fraction of it (it runs before any graph is built).
CASE_TIMEOUT_SECS = 60
PATH_KINDS = tuple(paths.PROBLEM_OF_KIND)


def _binaries() -> list[str]:
  """The modules users run: every package module that calls app.run."""
  found = []
  for package in PACKAGES:
    for path in sorted((PROJECT_ROOT / package).glob('*.py')):
      if re.search(r'^  app\.run\(', path.read_text(), re.M):
        found.append('%s.%s' % (package, path.stem))
  return found


def _scripts() -> list[str]:
  return ['scripts.%s' % path.stem
          for path in sorted((PROJECT_ROOT / 'scripts').glob('*.py'))]


class Flag(NamedTuple):
  """A flag as --helpxml (or a script's parser) declares it."""
  name: str
  type: str
  lower: Optional[float]
  upper: Optional[float]
  path_kind: Optional[str]


def _number(text: Optional[str]) -> Optional[float]:
  return None if text is None else float(text)


def _project_flag(element: ElementTree.Element) -> bool:
  """Whether the project (not absl or TensorFlow) defines the flag."""
  where = element.findtext('file') or ''
  return where.startswith(str(PROJECT_ROOT)) or (
      where.split('.')[0] in PACKAGES + ('tfclassic',))


def _path_kind(meaning: str) -> Optional[str]:
  for kind in PATH_KINDS:
    if meaning.endswith('(%s)' % kind):
      return kind
  return None


def binary_flags(module: str) -> list[Flag]:
  """The project's flags of a binary, from its --helpxml."""
  result = run_module(module, '--helpxml', check=False,
                      timeout=CASE_TIMEOUT_SECS)
  root = ElementTree.fromstring(result.stdout)
  return [Flag('--' + e.findtext('name'), e.findtext('type'),
               _number(e.findtext('lower_bound')),
               _number(e.findtext('upper_bound')),
               _path_kind(e.findtext('meaning') or ''))
          for e in root.iter('flag') if _project_flag(e) and not (
              # An alias is its flag's other name, checked as that flag.
              (e.findtext('meaning') or '').startswith('Alias for'))]


def script_flags(module: str) -> list[Flag]:
  """A script's arguments, from its parser (scripts use argparse)."""
  parser = importlib.import_module(module).build_parser()
  flags = []
  for action in parser._actions:
    if isinstance(action, argparse._HelpAction):
      continue
    name = (action.option_strings[-1] if action.option_strings
            else action.dest)
    kind = getattr(action.type, '__name__', None)
    flags.append(Flag(name, kind if action.type is not None else 'str',
                      getattr(action.type, 'lower_bound', None),
                      getattr(action.type, 'upper_bound', None),
                      getattr(action.type, 'path_kind', None)))
  return flags


def bad_numbers(flag: Flag) -> list[str]:
  """Values outside flag's declared range (and NaN for floats)."""
  values = [flag.lower - 1, flag.upper + 1]
  if flag.type == 'float':
    values = [flag.lower - 0.5, flag.upper * 2 + 1] + [math.nan]
  return [('%d' % v if flag.type == 'int' else '%s' % v) for v in values]


@pytest.fixture(scope='module')
def bad_paths(tmp_path_factory) -> Iterator[dict[str, str]]:
  """Paths that no flag may take, by what is wrong with them: a regular
  file, a folder, a symlink loop, a path through a file, and a folder on
  a read-only filesystem (when this process may mount one)."""
  root = tmp_path_factory.mktemp('bad_paths')
  (root / 'a_file').write_text('not a folder\n')
  (root / 'a_folder').mkdir()
  os.symlink(root / 'loop_b', root / 'loop_a')
  os.symlink(root / 'loop_a', root / 'loop_b')
  cases = {
      'a file': str(root / 'a_file'),
      'a folder': str(root / 'a_folder'),
      'a symlink loop': str(root / 'loop_a'),
      'a path through a file': str(root / 'a_file' / 'below'),
  }
  with mounted_tmpfs(root / 'read_only', 1,
                     'the read-only cases') as read_only:
    remount(read_only, 'ro')
    cases['on a read-only filesystem'] = str(read_only / 'new')
    cases['a read-only folder'] = str(read_only)
    yield cases


# What each kind of path flag must refuse (the cases bad_paths has).
REFUSED = {
    paths.OUTPUT_DIR: ('a file', 'a symlink loop', 'a path through a file',
                       'on a read-only filesystem', 'a read-only folder'),
    paths.INPUT_DIR: ('a file', 'a symlink loop', 'a path through a file'),
    paths.DATA_DIR: ('a file', 'a symlink loop', 'a path through a file'),
    paths.OUTPUT_FILE: ('a folder', 'a symlink loop',
                        'a path through a file',
                        'on a read-only filesystem'),
    paths.INPUT_FILE: ('a folder', 'a symlink loop',
                       'a path through a file'),
    paths.CHECKPOINT: ('a symlink loop', 'a path through a file'),
}


def _argument(flag: Flag, value: str) -> list[str]:
  if flag.name.startswith('-'):
    return ['%s=%s' % (flag.name, value)]
  return ['--', value] if value.startswith('-') else [value]


def _message(output: str) -> str:
  """The line that says what is wrong."""
  lines = [line for line in output.splitlines()
           if 'rror' in line or 'nothing to do' in line]
  return (lines or output.splitlines() or [''])[-1]


def assert_refused(module: str, flag: Flag, value: str) -> None:
  """Runs module with flag=value alone (positional arguments of scripts
  get valid stand-ins) and checks it refuses it in one paragraph."""
  args = _argument(flag, value)
  result = run_module(module, *args, check=False, timeout=CASE_TIMEOUT_SECS)
  output = result.stdout + result.stderr
  name = flag.name.lstrip('-')
  # The table of cases and messages, shown with pytest -s.
  print('%s %s -> %s' % (module, ' '.join(args), _message(output)))
  assert result.returncode != 0 or 'nothing to do' in output, (
      module, args, output)
  assert 'Traceback' not in output and 'File "' not in output, (
      module, args, output)
  assert name in output, (module, args, output)


@pytest.mark.parametrize('module', _binaries())
def test_each_numeric_flag_declares_its_range_and_refuses_values_outside(
    module):
  numeric = [f for f in binary_flags(module) if f.type in ('int', 'float')]
  assert numeric, module
  undeclared = [f.name for f in numeric
                if f.lower is None or f.upper is None]
  assert not undeclared, '%s: flags without a range: %s' % (module,
                                                            undeclared)
  for flag in numeric:
    for value in bad_numbers(flag):
      assert_refused(module, flag, value)


@pytest.mark.parametrize('module', _binaries())
def test_each_path_flag_refuses_paths_it_cannot_use(module, bad_paths):
  flags = binary_flags(module)
  unkinded = [f.name for f in flags if f.type == 'string' and
              f.name.endswith('_dir') and f.path_kind is None]
  assert not unkinded, '%s: folder flags of no kind: %s' % (module, unkinded)
  for flag in (f for f in flags if f.path_kind):
    for case in REFUSED[flag.path_kind]:
      if case in bad_paths:
        assert_refused(module, flag, bad_paths[case])


@pytest.mark.parametrize('module', _scripts())
def test_each_script_argument_is_checked(module, bad_paths):
  flags = script_flags(module)
  numeric = [f for f in flags if f.type in ('int', 'float')]
  assert not [f.name for f in numeric if f.lower is None], (
      '%s: numbers without a range' % module)
  for flag in numeric:
    for value in bad_numbers(flag):
      assert_refused(module, flag, value)
  for flag in (f for f in flags if f.path_kind):
    for case in REFUSED[flag.path_kind]:
      if case in bad_paths:
        assert_refused(module, flag, bad_paths[case])


@pytest.fixture
def read_only_copy(tmp_path, short_run, cifar_data):
  """short_run's train_dir and the data, copied onto a tmpfs then mounted
  read-only: what a reader meets on a shared, read-only train_dir."""
  with mounted_tmpfs(tmp_path / 'ro', 64,
                     'the read-only cases') as mount_point:
    shutil.copytree(short_run.train_dir, mount_point / 'train')
    shutil.copytree(cifar_data, mount_point / 'data')
    remount(mount_point, 'ro')
    yield mount_point


def test_readers_need_no_write_access_to_the_train_dir(read_only_copy,
                                                       tmp_path):
  train_dir, data_dir = read_only_copy / 'train', read_only_copy / 'data'
  common = ['--data_dir=%s' % data_dir, '--checkpoint_dir=%s' % train_dir]
  scored = run_module('cifar10.eval', *common, '--run_once',
                      '--eval_dir=%s' % (tmp_path / 'eval'),
                      '--batch_size=16')
  assert 'precision @ 1 = ' in scored.stdout
  predicted = run_module('cifar10.predict', *common,
                         '--record=test_batch.bin:0')
  assert predicted.stdout.startswith('test_batch.bin:0 (label ')
  run_module('cifar10.export', *common,
             '--export_dir=%s' % (tmp_path / 'export' / '1'))
  assert (tmp_path / 'export' / '1' / 'saved_model.pb').is_file()
  refused = run_module('cifar10.train', '--data_dir=%s' % data_dir,
                       '--train_dir=%s' % train_dir, check=False)
  assert refused.returncode == 1
  assert ('--train_dir=%s: is on a read-only filesystem: nothing can be '
          'written there. Give a folder you can write to' % train_dir
          ) in refused.stderr


def test_trace_steps_past_a_per_model_default_max_steps_are_refused(
    mnist_data, tmp_path):
  result = run_module('mnist.train', '--data_dir=%s' % mnist_data,
                      '--train_dir=%s' % tmp_path, '--model=softmax',
                      '--trace_steps=5,1000,1200', check=False)
  assert result.returncode == 1
  assert result.stderr == (
      'Error: --trace_steps=1000,1200 names steps past the last one, 999 '
      '(--max_steps is 1000): they would never be traced. Lower them or '
      'raise --max_steps.\n')
  assert not list(tmp_path.iterdir())

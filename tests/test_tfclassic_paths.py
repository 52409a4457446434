"""tfclassic.paths on a real filesystem: what each kind of path refuses."""
import os

import pytest

from conftest import mounted_tmpfs, remount
from tfclassic import paths


@pytest.fixture
def tree(tmp_path):
  (tmp_path / 'file').write_text('x')
  (tmp_path / 'folder').mkdir()
  os.symlink(tmp_path / 'loop_b', tmp_path / 'loop_a')
  os.symlink(tmp_path / 'loop_a', tmp_path / 'loop_b')
  os.symlink(tmp_path / 'nowhere', tmp_path / 'dangling')
  return tmp_path


def test_usable_paths_have_no_problem(tree):
  assert paths.output_dir_problem(str(tree / 'folder')) is None
  assert paths.output_dir_problem(str(tree / 'new' / 'deeper')) is None
  assert paths.input_dir_problem(str(tree / 'folder')) is None
  assert paths.input_dir_problem(str(tree / 'not_yet')) is None
  assert paths.data_dir_problem(str(tree / 'not_yet')) is None
  assert paths.output_file_problem(str(tree / 'new' / 'out.json')) is None
  assert paths.output_file_problem(str(tree / 'file')) is None
  assert paths.input_file_problem(str(tree / 'file')) is None
  assert paths.output_dir_problem('gs://bucket/train') is None


def test_a_file_where_a_folder_is_wanted(tree):
  path = str(tree / 'file')
  assert paths.output_dir_problem(path) == (
      'names a file, not a folder: give a folder (it is created if '
      'missing), or move the file away')
  assert paths.input_dir_problem(path) == (
      'names a file, not a folder: give the folder it is in')
  assert paths.data_dir_problem(path) == (
      'names a file, not a folder: give the folder that holds the data '
      'files')
  assert paths.output_dir_problem(str(tree / 'file' / 'below')) == (
      'cannot exist: part of it, %s, is a file, not a folder'
      % (tree / 'file'))


def test_a_folder_where_a_file_is_wanted(tree):
  path = str(tree / 'folder')
  assert paths.output_file_problem(path) == (
      'names a folder, not a file: give a file name')
  assert paths.input_file_problem(path) == (
      'names a folder, not a file: give a file')
  assert paths.input_file_problem(str(tree / 'missing')) == (
      'does not exist: check the name')


def test_symlinks_that_lead_nowhere(tree):
  for problem_of in paths.PROBLEM_OF_KIND.values():
    assert problem_of(str(tree / 'loop_a')) == (
        'is a symbolic link that leads back to itself (a loop): fix the '
        'link, or give another path')
    assert problem_of(str(tree / 'dangling')) == (
        'is a symbolic link to %s, which does not exist: point it somewhere '
        'real, or give another path' % (tree / 'nowhere'))


def test_a_read_only_filesystem_refuses_writers_not_readers(tmp_path):
  with mounted_tmpfs(tmp_path / 'ro', 1,
                     'the read-only cases') as mount_point:
    (mount_point / 'train').mkdir()
    (mount_point / 'data.bin').write_bytes(b'x')
    remount(mount_point, 'ro')
    assert paths.output_dir_problem(str(mount_point / 'train')) == (
        'is on a read-only filesystem: nothing can be written there. Give a '
        'folder you can write to')
    assert paths.output_dir_problem(str(mount_point / 'train' / 'new')) == (
        'cannot be created: %s, where it would go, is on a read-only '
        'filesystem. Give a folder you can write to' % (mount_point / 'train'))
    assert paths.output_file_problem(str(mount_point / 'data.bin')) == (
        'cannot be replaced: is on a read-only filesystem. Give another file '
        'name')
    assert paths.input_dir_problem(str(mount_point / 'train')) is None
    assert paths.data_dir_problem(str(mount_point / 'train')) is None
    assert paths.input_file_problem(str(mount_point / 'data.bin')) is None


def test_describe_names_the_flag_or_the_file():
  assert paths.describe('--train_dir', '/x', 'names a file, not a folder') == (
      '--train_dir=/x names a file, not a folder.')
  assert paths.describe('The data file', '/d/b.bin', 'does not exist') == (
      'The data file /d/b.bin does not exist.')

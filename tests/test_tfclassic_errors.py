"""tfclassic's quiet import (in fresh processes) and one-paragraph exits."""
import errno
import os
import subprocess
import sys

import pytest
import tensorflow as tf

from conftest import PROJECT_ROOT
from tfclassic import errors


def _python(code: str, **env) -> subprocess.CompletedProcess:
  environ = {k: v for k, v in os.environ.items()
             if k not in ('TF_CPP_MIN_LOG_LEVEL', 'TF_ENABLE_ONEDNN_OPTS')}
  environ.update(env, PYTHONPATH=str(PROJECT_ROOT))
  return subprocess.run([sys.executable, '-c', code], capture_output=True,
                        text=True, timeout=120, env=environ)


@pytest.mark.smoke
def test_import_prints_nothing_and_turns_onednn_on():
  result = _python('import os, tfclassic, tensorflow as tf; '
                   'tf.compat.v1.train.get_or_create_global_step(); '
                   'print(os.environ["TF_ENABLE_ONEDNN_OPTS"])')
  assert result.returncode == 0, result.stderr
  assert result.stdout == '1\n'
  assert result.stderr == ''


def test_a_users_onednn_choice_is_kept():
  result = _python('import os, tfclassic; '
                   'print(os.environ["TF_ENABLE_ONEDNN_OPTS"])',
                   TF_ENABLE_ONEDNN_OPTS='0')
  assert result.stdout == '0\n'


def test_a_user_error_exits_with_its_paragraph():
  with pytest.raises(SystemExit) as exit:
    with errors.exit_on_error():
      raise errors.DataError('data_batch_1.bin: no such file.')
  # Python prints a SystemExit's text to stderr and exits with status 1.
  assert exit.value.code == 'Error: data_batch_1.bin: no such file.'


def test_ctrl_c_exits_130_with_one_line(capsys):
  with pytest.raises(SystemExit) as exit:
    with errors.exit_on_error():
      raise KeyboardInterrupt
  assert exit.value.code == errors.INTERRUPTED_EXIT_CODE == 130
  assert capsys.readouterr().err == '\nInterrupted.\n'


def test_other_exceptions_keep_their_traceback():
  with pytest.raises(RuntimeError, match='a bug'):
    with errors.exit_on_error():
      raise RuntimeError('a bug')


def test_a_full_disk_is_one_paragraph_naming_the_folder(tmp_path):
  missing = tmp_path / 'model.ckpt-5_temp' / 'part-00000.index'
  python_error = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC),
                         str(missing))
  tf_error = tf.errors.ResourceExhaustedError(
      None, None, '%s; No space left on device\n\tOriginal stack trace:'
      % missing)
  for error in (python_error, tf_error):
    assert errors.is_disk_full(error)
    with pytest.raises(SystemExit) as exit:
      with errors.exit_on_error():
        raise error
    assert exit.value.code == (
        'Error: No space left on the device to write in %s. Free some space '
        'there (or choose another directory) and run again.' % tmp_path)
  assert not errors.is_disk_full(OSError(errno.EACCES, 'Permission denied'))

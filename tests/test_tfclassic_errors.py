"""tfclassic's quiet import and one-paragraph exits, in fresh processes."""
import os
import subprocess
import sys

import pytest

from conftest import PROJECT_ROOT


def _python(code: str, **env) -> subprocess.CompletedProcess:
  environ = {k: v for k, v in os.environ.items()
             if k not in ('TF_CPP_MIN_LOG_LEVEL', 'TF_ENABLE_ONEDNN_OPTS')}
  environ.update(env, PYTHONPATH=str(PROJECT_ROOT))
  return subprocess.run([sys.executable, '-c', code], capture_output=True,
                        text=True, timeout=120, env=environ)


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


@pytest.mark.parametrize('raised, code, message', [
    ('errors.DataError("data_batch_1.bin: no such file.")', 1,
     'Error: data_batch_1.bin: no such file.\n'),
    ('KeyboardInterrupt', 130, '\nInterrupted.\n'),
])
def test_exit_on_error_ends_with_one_paragraph(raised, code, message):
  result = _python('from tfclassic import errors\n'
                   'with errors.exit_on_error():\n'
                   '  raise %s\n' % raised)
  assert result.returncode == code
  assert result.stderr == message


def test_other_exceptions_keep_their_traceback():
  result = _python('from tfclassic import errors\n'
                   'with errors.exit_on_error():\n'
                   '  raise RuntimeError("a bug")\n')
  assert result.returncode == 1
  assert 'Traceback' in result.stderr and 'RuntimeError: a bug' in (
      result.stderr)

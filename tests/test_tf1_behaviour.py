"""The graph-builder tests again, inside a classic TF1 program: a pytest
process that calls tf.compat.v1.disable_v2_behavior() at start-up."""
import subprocess
import sys

from conftest import (CHILD_TIMEOUT_SECS, PROJECT_ROOT, TF_BEHAVIOUR_ENV,
                      module_env)


def test_graph_builders_pass_under_tf1_behaviour():
  result = subprocess.run(
      [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
       '-m', 'tf_behaviour', 'tests'], cwd=PROJECT_ROOT,
      env=module_env(**{TF_BEHAVIOUR_ENV: 'v1'}), capture_output=True,
      text=True, timeout=CHILD_TIMEOUT_SECS)
  summary = result.stdout.strip().splitlines()[-1] if result.stdout else ''
  assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
  # Every graph-builder test ran: none skipped or deselected by mistake.
  assert ' passed' in summary and 'skipped' not in summary, summary

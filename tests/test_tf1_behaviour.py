"""The graph-builder tests again, inside a classic TF1 program: a pytest
process that calls tf.compat.v1.disable_v2_behavior() at start-up. It reads
this process's short_run (a checkpoint trained under TF2 behaviour, as a
user's TF1 program would read one) rather than training its own."""
import subprocess
import sys

from conftest import (CHILD_TIMEOUT_SECS, PROJECT_ROOT, SHORT_RUN_ENV,
                      TF_BEHAVIOUR_ENV, module_env)


def test_graph_builders_pass_under_tf1_behaviour(short_run):
  env = module_env(**{TF_BEHAVIOUR_ENV: 'v1',
                       SHORT_RUN_ENV: str(short_run.train_dir.parent)})
  result = subprocess.run(
      [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
       '-m', 'tf_behaviour', 'tests'], cwd=PROJECT_ROOT, env=env,
      capture_output=True, text=True, timeout=CHILD_TIMEOUT_SECS)
  summary = result.stdout.strip().splitlines()[-1] if result.stdout else ''
  assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
  # Every graph-builder test ran: none skipped or deselected by mistake.
  assert ' passed' in summary and 'skipped' not in summary, summary

"""The graph-builder tests again, inside a classic TF1 program: a pytest
process that calls tf.compat.v1.disable_v2_behavior() at start-up. conftest
starts it when the tests are collected, so it runs beside the others."""
from conftest import CHILD_TIMEOUT_SECS, tf1_child


def test_graph_builders_pass_under_tf1_behaviour():
  child = tf1_child()
  returncode = child.process.wait(CHILD_TIMEOUT_SECS)
  stdout, stderr = child.stdout.read_text(), child.stderr.read_text()
  summary = stdout.strip().splitlines()[-1] if stdout.strip() else ''
  assert returncode == 0, stdout[-5000:] + stderr[-2000:]
  # Every graph-builder test ran: none skipped or deselected by mistake.
  assert ' passed' in summary and 'skipped' not in summary, summary

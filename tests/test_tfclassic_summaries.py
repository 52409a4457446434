"""tfclassic.summaries: exact tags, and event files that never replace
each other."""
import tensorflow as tf

from conftest import read_scalars, summary_tags
from tfclassic import summaries

tf1 = tf.compat.v1


def test_writers_opened_back_to_back_keep_every_event(tmp_path):
  # Both open within a second of each other: the second must not take (and
  # truncate) the first's event file.
  for step in (1, 2, 3):
    summaries.write_scalars(str(tmp_path), step, {'x': 10.0 * step})
  assert read_scalars(tmp_path)['x'] == [(1, 10.0), (2, 20.0), (3, 30.0)]
  assert len(list(tmp_path.glob('events.out.tfevents.*'))) == 3


def test_tags_are_exactly_the_names_given(tmp_path):
  with tf.Graph().as_default():
    with tf1.name_scope('tower_1'):
      summaries.scalar_summary(
          summaries.strip_scope('tower_1/total_loss', 'tower'),
          tf.constant(1.5))
      summaries.histogram_summary('conv1/activations', tf.constant([1., 2.]))
    merged = tf1.summary.merge_all()
    with tf1.Session() as sess:
      writer = summaries.file_writer(str(tmp_path))
      writer.add_summary(sess.run(merged), 7)
      writer.close()
  assert summary_tags(tmp_path) == {'total_loss', 'conv1/activations'}
  assert read_scalars(tmp_path) == {'total_loss': [(7, 1.5)]}

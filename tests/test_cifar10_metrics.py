"""cifar10.metrics: confusion matrix and per-class figures."""
import numpy as np

from cifar10 import metrics


def test_confusion_matrix_counts_pairs():
  rng = np.random.default_rng(0)
  labels = rng.integers(0, 4, 500)
  predictions = np.where(rng.random(500) < 0.6, labels,
                         rng.integers(0, 4, 500))
  confusion = metrics.confusion_matrix(labels, predictions, 4)
  for i in range(4):
    for j in range(4):
      assert confusion[i, j] == np.sum((labels == i) & (predictions == j))
  precision, recall = metrics.precision_recall(confusion)
  for c in range(4):
    assert precision[c] == np.mean(labels[predictions == c] == c)
    assert recall[c] == np.mean(predictions[labels == c] == c)


def test_classes_never_predicted_or_absent_score_zero():
  confusion = metrics.confusion_matrix(np.array([0, 0, 1]),
                                       np.array([0, 1, 1]), 3)
  precision, recall = metrics.precision_recall(confusion)
  np.testing.assert_array_equal(precision, [1.0, 0.5, 0.0])
  np.testing.assert_array_equal(recall, [0.5, 1.0, 0.0])


def test_table_and_recall_line_show_the_figures():
  confusion = np.array([[8, 2], [1, 9]])
  table = metrics.format_table(confusion, ['cat', 'dog'])
  assert table.splitlines()[3:] == [
      'cat    |    8    2      0.889   0.800',
      'dog    |    1    9      0.818   0.900']
  assert metrics.format_recall_line(confusion, ['cat', 'dog']) == (
      'recall by class: cat 0.80, dog 0.90')


def test_confusion_image_shades_each_cell_by_row_fraction():
  image = metrics.confusion_image(np.array([[3, 1], [0, 0]]), cell_pixels=4)
  assert image.shape == (8, 8, 3) and image.dtype == np.uint8
  np.testing.assert_array_equal(image[0, 0], [63, 63, 180])   # 3/4
  np.testing.assert_array_equal(image[0, 7], [191, 191, 230])  # 1/4
  np.testing.assert_array_equal(image[7, 7], [255, 255, 255])  # empty row

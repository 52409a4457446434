"""Per-class evaluation figures: the confusion matrix and what it shows.

Plain numpy, so the figures can be checked and reused outside TensorFlow.
"""
import numpy as np

# Pixels per confusion-matrix cell in the TensorBoard image.
CELL_PIXELS = 16


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray,
                     num_classes: int) -> np.ndarray:
  """Counts [true class, predicted class] pairs.

  Returns:
    int64 [num_classes, num_classes]; row i holds the examples of class i.
  """
  confusion = np.zeros((num_classes, num_classes), np.int64)
  np.add.at(confusion, (labels, predictions), 1)
  return confusion


def precision_recall(confusion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Per-class precision (of predictions) and recall (of true examples).

  A class never predicted, or with no examples, scores 0.
  """
  correct = np.diag(confusion).astype(np.float64)
  predicted = confusion.sum(axis=0)
  actual = confusion.sum(axis=1)
  precision = np.divide(correct, predicted, out=np.zeros_like(correct),
                        where=predicted > 0)
  recall = np.divide(correct, actual, out=np.zeros_like(correct),
                     where=actual > 0)
  return precision, recall


def format_table(confusion: np.ndarray, class_names: list[str]) -> str:
  """The matrix with class names, and each class's precision and recall."""
  precision, recall = precision_recall(confusion)
  width = max(6, max(len(name) for name in class_names))
  cell = max(5, len(str(confusion.max())) + 1)
  header = ' ' * width + ' |' + ''.join(
      '%*d' % (cell, i) for i in range(len(class_names)))
  lines = ['Confusion matrix (rows: true class, columns: predicted class):',
           header + '  precision  recall', '-' * (len(header) + 19)]
  for i, name in enumerate(class_names):
    counts = ''.join('%*d' % (cell, n) for n in confusion[i])
    lines.append('%-*s |%s  %9.3f  %6.3f'
                 % (width, name, counts, precision[i], recall[i]))
  return '\n'.join(lines)


def format_recall_line(confusion: np.ndarray, class_names: list[str]) -> str:
  """One line: each class's recall (its examples classified right)."""
  _, recall = precision_recall(confusion)
  return 'recall by class: ' + ', '.join(
      '%s %.2f' % (name, r) for name, r in zip(class_names, recall))


def confusion_image(confusion: np.ndarray,
                    cell_pixels: int = CELL_PIXELS) -> np.ndarray:
  """The row-normalized matrix as an RGB image, dark blue = all of a row.

  Returns:
    uint8 [num_classes * cell_pixels, num_classes * cell_pixels, 3].
  """
  totals = confusion.sum(axis=1, keepdims=True)
  fraction = np.divide(confusion, totals, out=np.zeros(confusion.shape),
                       where=totals > 0)
  red_green = (1.0 - fraction) * 255
  rgb = np.stack([red_green, red_green, 255 - 100 * fraction], axis=-1)
  return np.kron(rgb, np.ones((cell_pixels, cell_pixels, 1))).astype(np.uint8)

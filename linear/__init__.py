"""The "Getting Started: tf.train API" linear fit and a learning-rate sweep."""
import tfclassic  # noqa: F401  (imports TensorFlow quietly, once)

"""The "Getting Started: tf.train API" linear fit and a learning-rate sweep."""

"""The "Getting Started: tf.train API" linear regression and a learning-rate sweep."""

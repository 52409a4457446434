"""MNIST tutorials (Beginners, Experts, Mechanics 101, from-scratch net) on tf.compat.v1."""

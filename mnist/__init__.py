"""MNIST tutorials on tf.compat.v1: Beginners, Experts, Mechanics 101.

Also the from-scratch numpy two-layer network ("ゼロから作るDeep Learning").
"""
import tfclassic  # noqa: F401  (imports TensorFlow quietly, once)

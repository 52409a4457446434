"""The TensorFlow CIFAR-10 tutorial, running on TF 2.x through tf.compat.v1.

Library modules build graph ops and take plain arguments; the binaries
(train, multi_gpu_train, dist_train, eval, predict, export, benchmark) turn
flags (cifar10.flags, tfclassic.flags) into those arguments and run the
graphs with tfclassic's runtime.
"""
import tfclassic  # noqa: F401  (imports TensorFlow quietly, once)

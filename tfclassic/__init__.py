"""tfclassic: the runtime every classic-tutorial package shares.

Importing it imports TensorFlow quietly once (see tfclassic.quiet_import),
with oneDNN's kernels on by default; every other module of the toolkit can
then `import tensorflow as tf` as usual.
"""
from tfclassic import quiet_import

quiet_import.import_tensorflow()

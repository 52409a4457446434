"""Trains on a cluster of parameter servers and workers: `cifar10.dist_train`.

TensorFlow's own gRPC runtime with between-graph replication, as TF1 taught
it. Every process runs this binary with the same cluster and its own role:

  python -m cifar10.dist_train --job_name=ps --task_index=0 \
      --ps_hosts=h0:2222 --worker_hosts=h1:2222,h2:2222
  python -m cifar10.dist_train --job_name=worker --task_index=0 ...  (chief)
  python -m cifar10.dist_train --job_name=worker --task_index=1 ...

or reads the role and cluster from the TF_CONFIG environment variable when
the flags are absent. Parameter servers hold the variables
(replica_device_setter); each worker reads its own input and runs
multi_gpu_train's towers; worker 0 is the chief: it initializes or restores
the model and writes checkpoints and summaries to --train_dir, so
cifar10.eval scores them unchanged. With --sync_replicas, each global step
averages the gradients of --replicas_to_aggregate workers; without it,
workers update the variables independently (asynchronously).

When training reaches --max_steps, workers exit 0 and tell each parameter
server through a shared "done" queue; a parameter server exits once every
worker has. scripts/local_cluster.py runs a whole cluster on one machine.
"""
import contextlib
import os
from typing import Optional

import tensorflow as tf
from absl import app, flags

from cifar10 import cluster as cifar10_cluster
from cifar10 import data
from cifar10 import flags as cifar10_flags
from cifar10 import towers
from tfclassic import errors
from tfclassic import flags as shared_flags
from tfclassic import train_dir
from tfclassic import training

tf1 = tf.compat.v1

# Tasks of one job: far beyond any cluster these binaries run.
MAX_TASKS = 10000

cifar10_flags.define_training_flags()
cifar10_flags.define_tower_flag()
flags.DEFINE_enum('job_name', None, ['ps', 'worker'],
                  'This process\'s role (default: from TF_CONFIG).')
flags.DEFINE_integer('task_index', None,
                     'Index of this process within its job (default: from '
                     'TF_CONFIG, else 0).', lower_bound=0,
                     upper_bound=MAX_TASKS - 1)
flags.DEFINE_list('ps_hosts', None,
                  'Parameter servers, host:port,... (default: from '
                  'TF_CONFIG).')
flags.DEFINE_list('worker_hosts', None,
                  'Workers, host:port,...; the first is the chief (default: '
                  'from TF_CONFIG).')
flags.DEFINE_boolean('sync_replicas', False,
                     'Aggregate the gradients of several workers in each '
                     'step (SyncReplicasOptimizer); otherwise asynchronous.')
flags.DEFINE_integer('replicas_to_aggregate', None,
                     'Workers\' gradients per synchronous step (default: '
                     'the number of workers).', lower_bound=1,
                     upper_bound=MAX_TASKS)
flags.DEFINE_integer('connect_timeout_secs', 120,
                     'How long a worker waits for the parameter servers, '
                     'and for the chief to initialize the model, before it '
                     'gives up.', lower_bound=1,
                     upper_bound=shared_flags.MAX_SECONDS)
flags.register_validator(
    'deterministic', lambda deterministic: not deterministic,
    message='--deterministic is not for a cluster: workers apply their '
    'gradients in whatever order the network gives them. Repeat a run with '
    'cifar10.train or multi_gpu_train.')
flags.adopt_module_key_flags(cifar10_flags)
flags.adopt_module_key_flags(shared_flags)

FLAGS = flags.FLAGS


def _worker_seed(task_index: int) -> Optional[int]:
  """--seed, made different per worker so that workers read in different
  orders; the chief's (worker 0) is --seed itself, which seeds the initial
  weights."""
  return None if FLAGS.seed is None else FLAGS.seed + task_index


def run_worker(cluster: cifar10_cluster.Cluster, task_index: int) -> None:
  """Trains as one worker of the cluster; worker 0 is the chief."""
  prefix = 'worker %d: ' % task_index
  is_chief = task_index == 0
  num_workers = len(cluster['worker'])
  replicas = FLAGS.replicas_to_aggregate or num_workers
  cifar10_cluster.wait_for_parameter_servers(cluster, prefix,
                                             FLAGS.connect_timeout_secs)
  server = cifar10_cluster.start_server(cluster, 'worker', task_index)
  data.maybe_download_and_extract(FLAGS.data_dir, FLAGS.data_url)
  towers.report_placement(FLAGS.num_gpus)
  worker_device = '/job:worker/task:%d' % task_index
  with tf.Graph().as_default():
    # Towers name only their GPU: the setter adds this worker's job and task,
    # and a job in the tower's device would keep variables off the ps.
    with tf1.device(tf1.train.replica_device_setter(
        worker_device=worker_device, cluster=cluster)):
      graph, tower_graph = towers.build_tower_train_graph(
          cifar10_flags.train_input(_worker_seed(task_index)), FLAGS.num_gpus,
          cifar10_flags.model_options(),
          wrap_optimizer=(cifar10_cluster.sync_replicas_wrapper(
              num_workers, replicas) if FLAGS.sync_replicas else None),
          replicas_per_step=replicas if FLAGS.sync_replicas else 1,
          hparams=cifar10_flags.hyperparameters())
    local_steps = cifar10_cluster.LocalStepCounter()
    hooks = [local_steps]
    if FLAGS.sync_replicas:
      hooks += cifar10_cluster.sync_replicas_hooks(tower_graph.optimizer,
                                                   is_chief)
    config = cifar10_flags.session_config_from_flags()
    config.device_filters[:] = ['/job:ps', worker_device]
    if is_chief:
      # Only the chief initializes the variables, so only its graph needs
      # the warm start's initializers.
      hooks += cifar10_flags.start_run(prefix)
    with cifar10_flags.in_training_evaluation(is_chief, prefix) as (
        evaluation, evaluation_hooks):
      finished = training.run_training(
          graph.train_op, graph.loss, graph.examples_per_step,
          shared_flags.train_config(), hooks=hooks + evaluation_hooks,
          log_prefix=prefix,
          summary_op=graph.summary_op, master=server.target,
          is_chief=is_chief, session_config=config,
          max_wait_secs=FLAGS.connect_timeout_secs,
          parameter_servers=cluster['ps'],
          chief_address=None if is_chief else cluster['worker'][0],
          evaluation=evaluation, nan_advice=cifar10_flags.NAN_ADVICE)
  if finished:
    cifar10_cluster.report_done(server, cluster, task_index, config)
    print('%sdone after %d local steps.' % (prefix, local_steps.steps),
          flush=True)


def main(argv):
  shared_flags.refuse_arguments(argv)
  with errors.exit_on_error():
    cluster, job_name, task_index = cifar10_cluster.cluster_and_role(
        FLAGS.job_name, FLAGS.task_index, FLAGS.ps_hosts, FLAGS.worker_hosts,
        os.environ.get('TF_CONFIG', ''))
    if job_name == 'ps':
      cifar10_cluster.run_parameter_server(cluster, task_index)
    else:
      # Only the chief writes to train_dir, so only the chief holds it.
      with (train_dir.prepare_train_dir(FLAGS.train_dir, FLAGS.fresh)
            if task_index == 0 else contextlib.nullcontext()):
        run_worker(cluster, task_index)


if __name__ == '__main__':
  app.run(main)

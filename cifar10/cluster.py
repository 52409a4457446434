"""A cluster of parameter servers and workers, as cifar10.dist_train runs it.

TensorFlow's own gRPC runtime with between-graph replication, as TF1 taught
it: the cluster's description, each process's server, the parameter
servers' loop, synchronous replicas, and the "done" queues through which
finished workers let the parameter servers exit.
"""
import json
import os
import time
from typing import Optional, Sequence

import tensorflow as tf

from tfclassic import cluster_health
from tfclassic import errors

tf1 = tf.compat.v1

# {'ps': ['host:port', ...], 'worker': [...]}
Cluster = dict[str, list[str]]

# How often a waiting parameter server looks for Ctrl-C.
POLL_MS = 1000
# Seconds between a worker's attempts to reach a parameter server.
RETRY_SECS = 1
# Attempts between two of a worker's "Waiting for" lines.
RETRIES_PER_MESSAGE = 10


def _parse_tf_config(tf_config: str) -> dict:
  """TF_CONFIG's {"cluster": {job: [host:port, ...]}, "task": {...}}.

  Raises:
    errors.UserError: it is not JSON of that shape.
  """
  try:
    config = json.loads(tf_config or '{}')
  except json.JSONDecodeError as e:
    raise errors.UserError('TF_CONFIG is not valid JSON (%s): %s' % (
        e, tf_config)) from e
  cluster, task = (config.get('cluster', {}), config.get('task', {})) if (
      isinstance(config, dict)) else (None, None)
  if not (isinstance(cluster, dict) and isinstance(task, dict)
          and all(isinstance(hosts, list) for hosts in cluster.values())
          and isinstance(task.get('index', 0), int)):
    raise errors.UserError(
        'TF_CONFIG must look like {"cluster": {"ps": ["host:port", ...], '
        '"worker": [...]}, "task": {"type": "worker", "index": 0}}; it is: '
        '%s' % tf_config)
  return config


def cluster_and_role(job_name: Optional[str], task_index: Optional[int],
                     ps_hosts: Optional[Sequence[str]],
                     worker_hosts: Optional[Sequence[str]],
                     tf_config: str = '') -> tuple[Cluster, str, int]:
  """The cluster and this process's role, from flags or TF_CONFIG.

  The flags' values win; what they leave out (None) comes from tf_config,
  e.g. {"cluster": {"ps": ["h0:2222"], "worker": ["h1:2222"]},
  "task": {"type": "worker", "index": 0}}.

  Args:
    job_name, task_index, ps_hosts, worker_hosts: the flags' values.
    tf_config: the TF_CONFIG environment variable ('' if unset).

  Returns:
    (cluster, job name, task index).

  Raises:
    errors.UserError: when neither says enough.
  """
  config = _parse_tf_config(tf_config)
  cluster = dict(config.get('cluster', {}))
  task = config.get('task', {})
  if ps_hosts:
    cluster['ps'] = ps_hosts
  if worker_hosts:
    cluster['worker'] = worker_hosts
  job_name = job_name or task.get('type')
  task_index = task_index if task_index is not None else task.get('index', 0)
  if not cluster.get('ps') or not cluster.get('worker') or job_name not in (
      'ps', 'worker'):
    raise errors.UserError(
        'The cluster is not fully described: give --job_name=ps|worker, '
        '--task_index, --ps_hosts and --worker_hosts, or set TF_CONFIG to '
        '{"cluster": {"ps": [...], "worker": [...]}, "task": {"type": ..., '
        '"index": ...}}.')
  if not 0 <= task_index < len(cluster[job_name]):
    raise errors.UserError('--task_index=%d, but the %s job has %d tasks.'
                           % (task_index, job_name, len(cluster[job_name])))
  return {'ps': list(cluster['ps']), 'worker': list(cluster['worker'])}, (
      job_name), task_index


def done_queues(cluster: Cluster) -> list[tf1.FIFOQueue]:
  """One queue per parameter server, where each finished worker leaves a
  token; the same shared queues in every process's graph."""
  queues = []
  for i in range(len(cluster['ps'])):
    with tf.device('/job:ps/task:%d' % i):
      queues.append(tf1.FIFOQueue(len(cluster['worker']), tf.int32,
                                  shared_name='done_queue_%d' % i))
  return queues


def wait_for_parameter_servers(cluster: Cluster, prefix: str,
                               timeout_secs: float) -> None:
  """Waits until every parameter server accepts connections.

  Args:
    cluster: the cluster.
    prefix: put before the "Waiting for" lines (the worker's name).
    timeout_secs: how long to wait in all.

  Raises:
    errors.UserError: if one does not within timeout_secs.
  """
  deadline = time.time() + timeout_secs
  for address in cluster['ps']:
    attempt = 0
    while reason := cluster_health.unreachable(address):
      if time.time() > deadline:
        raise errors.UserError(
            'Cannot reach parameter server %s after %d s (%s). Is it '
            'running, and do --ps_hosts or TF_CONFIG name it right? '
            '--connect_timeout_secs sets how long to wait.'
            % (address, timeout_secs, reason))
      if attempt % RETRIES_PER_MESSAGE == 0:
        print('%sWaiting for parameter server %s (%s); retrying for up to '
              '%d s.' % (prefix, address, reason, timeout_secs), flush=True)
      attempt += 1
      time.sleep(RETRY_SECS)


def start_server(cluster: Cluster, job_name: str,
                 task_index: int) -> tf1.train.Server:
  """This process's TensorFlow server, listening on its cluster address.

  Its calls to other servers fail at once when a connection is lost
  (GRPC_FAIL_FAST=true, unless the environment says otherwise) rather than
  waiting for that server to come back: closing a session whose parameter
  server has died would otherwise never return. The waits a cluster needs
  at start-up are explicit: wait_for_parameter_servers, and a worker's wait
  for the chief (tfclassic.training).

  Raises:
    errors.UserError: the address cannot be served (e.g. the port is taken).
  """
  os.environ.setdefault('GRPC_FAIL_FAST', 'true')
  try:
    return tf1.train.Server(tf1.train.ClusterSpec(cluster), job_name,
                            task_index)
  except tf.errors.UnknownError as e:
    raise errors.UserError(
        'Cannot serve %s %d on %s: %s. Is another process using that port?'
        % (job_name, task_index, cluster[job_name][task_index],
           e.message)) from e


def run_parameter_server(cluster: Cluster, task_index: int) -> None:
  """Serves variables until every worker has reported that it finished."""
  server = start_server(cluster, 'ps', task_index)
  num_workers = len(cluster['worker'])
  print('ps %d: serving on %s; exits when %d workers have finished.'
        % (task_index, cluster['ps'][task_index], num_workers), flush=True)
  with tf.Graph().as_default():
    dequeue = done_queues(cluster)[task_index].dequeue()
    config = tf1.ConfigProto(device_filters=['/job:ps/task:%d' % task_index])
    options = tf1.RunOptions(timeout_in_ms=POLL_MS)
    with tf1.Session(server.target, config=config) as sess:
      finished = 0
      while finished < num_workers:
        try:
          worker = sess.run(dequeue, options=options)
        except tf.errors.DeadlineExceededError:
          continue
        finished += 1
        print('ps %d: worker %d finished (%d of %d).'
              % (task_index, worker, finished, num_workers), flush=True)
  print('ps %d: all workers finished; shutting down.' % task_index,
        flush=True)


def report_done(server: tf1.train.Server, cluster: Cluster, task_index: int,
                config: tf1.ConfigProto) -> None:
  """Leaves this worker's token in every parameter server's done queue."""
  with tf.Graph().as_default():
    enqueue = [q.enqueue(task_index) for q in done_queues(cluster)]
    with tf1.Session(server.target, config=config) as sess:
      sess.run(enqueue)


def sync_replicas_wrapper(num_workers: int, replicas_to_aggregate: int):
  """A towers.WrapOptimizer making the optimizer a SyncReplicasOptimizer:
  each global step averages replicas_to_aggregate workers' gradients, and
  the chief updates the weights' moving averages once per step."""
  def wrap(optimizer: tf1.train.Optimizer,
           weight_averages: tf1.train.ExponentialMovingAverage
           ) -> tf1.train.SyncReplicasOptimizer:
    return tf1.train.SyncReplicasOptimizer(
        optimizer, replicas_to_aggregate=replicas_to_aggregate,
        total_num_replicas=num_workers, variable_averages=weight_averages,
        variables_to_average=tf1.trainable_variables())
  return wrap


def sync_replicas_hooks(optimizer: tf1.train.SyncReplicasOptimizer,
                        is_chief: bool) -> list[tf1.train.SessionRunHook]:
  """The hooks a synchronous worker runs with.

  The chief's hook runs the queue runner that aggregates the gradients and
  hands out one token per worker and step. When the chief stops, closing
  its session cancels that runner, which is waiting for gradients no worker
  will send any more: its normal end, not an error to print. The chief
  closes the token queue as it stops, which also ends a worker still
  waiting for a step (OutOfRangeError).
  """
  if is_chief:
    runner = optimizer.get_chief_queue_runner()
    # pylint: disable-next=protected-access
    runner._queue_closed_exception_types = (tf.errors.OutOfRangeError,
                                            tf.errors.CancelledError)
  return [optimizer.make_session_run_hook(is_chief)]


class LocalStepCounter(tf1.train.SessionRunHook):
  """Counts the steps this worker ran itself (the batches whose gradients it
  computed), as opposed to the global step that all workers advance."""

  def __init__(self):
    self.steps = 0

  def after_run(self, run_context, run_values):
    self.steps += 1

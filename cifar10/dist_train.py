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
import json
import os
import socket
import time
import tensorflow as tf
from absl import app, flags

from cifar10 import input as cifar10_input
from cifar10 import multi_gpu_train
from cifar10 import runtime
from cifar10 import training

tf1 = tf.compat.v1

flags.DEFINE_enum('job_name', None, ['ps', 'worker'],
                  'This process\'s role (default: from TF_CONFIG).')
flags.DEFINE_integer('task_index', None,
                     'Index of this process within its job (default: from '
                     'TF_CONFIG, else 0).')
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
                     'the number of workers).')
flags.DEFINE_integer('connect_timeout_secs', 120,
                     'How long a worker waits for the parameter servers, '
                     'and for the chief to initialize the model, before it '
                     'gives up.')
flags.adopt_module_key_flags(runtime)
flags.adopt_module_key_flags(training)

FLAGS = flags.FLAGS

# How often a waiting parameter server looks for Ctrl-C.
POLL_MS = 1000


def cluster_and_role() -> tuple[dict, str, int]:
  """The cluster {'ps': [...], 'worker': [...]} and this process's role.

  Flags win; what they leave out comes from TF_CONFIG, e.g.
  {"cluster": {"ps": ["h0:2222"], "worker": ["h1:2222"]},
   "task": {"type": "worker", "index": 0}}.

  Raises:
    runtime.UserError: when neither says enough.
  """
  tf_config = json.loads(os.environ.get('TF_CONFIG') or '{}')
  cluster = dict(tf_config.get('cluster', {}))
  task = tf_config.get('task', {})
  if FLAGS.ps_hosts:
    cluster['ps'] = FLAGS.ps_hosts
  if FLAGS.worker_hosts:
    cluster['worker'] = FLAGS.worker_hosts
  job_name = FLAGS.job_name or task.get('type')
  task_index = (FLAGS.task_index if FLAGS.task_index is not None
                else task.get('index', 0))
  if not cluster.get('ps') or not cluster.get('worker') or job_name not in (
      'ps', 'worker'):
    raise runtime.UserError(
        'The cluster is not fully described: give --job_name=ps|worker, '
        '--task_index, --ps_hosts and --worker_hosts, or set TF_CONFIG to '
        '{"cluster": {"ps": [...], "worker": [...]}, "task": {"type": ..., '
        '"index": ...}}.')
  if not 0 <= task_index < len(cluster[job_name]):
    raise runtime.UserError('--task_index=%d, but the %s job has %d tasks.'
                            % (task_index, job_name, len(cluster[job_name])))
  return {'ps': list(cluster['ps']), 'worker': list(cluster['worker'])}, (
      job_name), task_index


def done_queues(cluster: dict) -> list[tf1.FIFOQueue]:
  """One queue per parameter server, where each finished worker leaves a
  token; the same shared queues in every process's graph."""
  queues = []
  for i in range(len(cluster['ps'])):
    with tf.device('/job:ps/task:%d' % i):
      queues.append(tf1.FIFOQueue(len(cluster['worker']), tf.int32,
                                  shared_name='done_queue_%d' % i))
  return queues


def wait_for_parameter_servers(cluster: dict, prefix: str) -> None:
  """Waits until every parameter server accepts connections.

  Raises:
    runtime.UserError: if one does not within --connect_timeout_secs.
  """
  deadline = time.time() + FLAGS.connect_timeout_secs
  for address in cluster['ps']:
    host, port = address.rsplit(':', 1)
    attempt = 0
    while True:
      try:
        socket.create_connection((host, int(port)), timeout=5).close()
        break
      except OSError as e:
        if time.time() > deadline:
          raise runtime.UserError(
              'Cannot reach parameter server %s after %d s (%s). Is it '
              'running, and do --ps_hosts or TF_CONFIG name it right? '
              '--connect_timeout_secs sets how long to wait.'
              % (address, FLAGS.connect_timeout_secs, e.strerror or e)) from e
        if attempt % 10 == 0:
          print('%sWaiting for parameter server %s (%s); retrying for up to '
                '%d s.' % (prefix, address, e.strerror or e,
                           FLAGS.connect_timeout_secs), flush=True)
        attempt += 1
        time.sleep(1)


def start_server(cluster: dict, job_name: str,
                 task_index: int) -> tf1.train.Server:
  """This process's TensorFlow server, listening on its cluster address."""
  try:
    return tf1.train.Server(tf1.train.ClusterSpec(cluster), job_name,
                            task_index)
  except tf.errors.UnknownError as e:
    raise runtime.UserError(
        'Cannot serve %s %d on %s: %s. Is another process using that port?'
        % (job_name, task_index, cluster[job_name][task_index],
           e.message)) from e


def run_parameter_server(cluster: dict, task_index: int) -> None:
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


def _sync_wrapper(num_workers: int, replicas: int):
  def wrap(optimizer, weight_averages):
    return tf1.train.SyncReplicasOptimizer(
        optimizer, replicas_to_aggregate=replicas,
        total_num_replicas=num_workers, variable_averages=weight_averages,
        variables_to_average=tf1.trainable_variables())
  return wrap


def run_worker(cluster: dict, task_index: int) -> None:
  """Trains as one worker of the cluster; worker 0 is the chief."""
  prefix = 'worker %d: ' % task_index
  is_chief = task_index == 0
  num_workers = len(cluster['worker'])
  replicas = FLAGS.replicas_to_aggregate or num_workers
  wait_for_parameter_servers(cluster, prefix)
  server = start_server(cluster, 'worker', task_index)
  cifar10_input.maybe_download_and_extract(FLAGS.data_dir, FLAGS.data_url)
  if is_chief:
    training.prepare_train_dir(FLAGS.train_dir, FLAGS.fresh)
  worker_device = '/job:worker/task:%d' % task_index
  with tf.Graph().as_default():
    # Towers name only their GPU: the setter adds this worker's job and task,
    # and a job in the tower's device would keep variables off the ps.
    with tf1.device(tf1.train.replica_device_setter(
        worker_device=worker_device, cluster=cluster)):
      graph, tower_graph = multi_gpu_train.build_tower_graph(
          wrap_optimizer=(_sync_wrapper(num_workers, replicas)
                          if FLAGS.sync_replicas else None),
          replicas_per_step=replicas if FLAGS.sync_replicas else 1)
    # The chief closes the token queue when it stops, which also ends a
    # synchronous worker still waiting for a step (OutOfRangeError).
    hooks = []
    if FLAGS.sync_replicas:
      hooks.append(tower_graph.optimizer.make_session_run_hook(is_chief))
      if is_chief:
        # Closing the session cancels the chief's aggregation thread, which
        # waits for gradients no worker will send any more; that is its
        # normal end, not an error to print.
        tower_graph.optimizer.get_chief_queue_runner()._queue_closed_exception_types = (  # pylint: disable=protected-access
            tf.errors.OutOfRangeError, tf.errors.CancelledError)
    report_done = [q.enqueue(task_index) for q in done_queues(cluster)]
    config = runtime.session_config()
    config.device_filters[:] = ['/job:ps', worker_device]
    finished = training.run_training(
        graph.train_op, graph.loss, graph.examples_per_step,
        extra_hooks=hooks, log_prefix=prefix, summary_op=graph.summary_op,
        master=server.target, is_chief=is_chief, config=config,
        max_wait_secs=FLAGS.connect_timeout_secs)
    if finished:
      with tf1.Session(server.target, config=config) as sess:
        sess.run(report_done)
      print('%sdone.' % prefix, flush=True)


def main(argv):
  del argv
  with runtime.exit_on_user_error():
    cluster, job_name, task_index = cluster_and_role()
    if job_name == 'ps':
      run_parameter_server(cluster, task_index)
    else:
      run_worker(cluster, task_index)


if __name__ == '__main__':
  app.run(main)

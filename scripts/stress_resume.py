#!/usr/bin/env python3
"""Kills cifar10.train with SIGKILL at random moments, then resumes it, over
and over, and counts the runs that crash on their own.

Issue #23: about one resume in thirty after a `kill -9` during a checkpoint
save ended in a segmentation fault in the first training step. This script
repeats that: each cycle starts `python -m cifar10.train` on the same
train_dir (so it resumes), and kills it either during one of its first
checkpoint saves (as soon as its `model.ckpt-N_temp/` folder appears) or at
a random time after its session started. A run that ends by itself before
the kill is a clean exit if it exits 0 (it reached --max_steps), a crash if
a signal ended it, an error otherwise (its train_dir is then kept, and the
next cycle starts a new one); one whose session has not started within
--timeout is killed as hung. --mode=plain counts crashes of plain start-ups instead: a new
train_dir each cycle, never killed.

Each crash's stdout, stderr (PYTHONFAULTHANDLER=1 puts every thread's Python
stack there) and, with --cores, gdb's native backtrace of every thread are
kept in OUT_DIR/crashes/cycle-N/. Run it under `nice`; it is no test.

  python scripts/stress_resume.py --out_dir=/tmp/stress --cycles=300 \\
      --max_minutes=40 --cores
  python scripts/stress_resume.py --out_dir=/tmp/stress_plain --mode=plain \\
      --cycles=100
  python scripts/stress_resume.py --out_dir=/tmp/stress -- --lrn=stock

Arguments after `--` are passed on to cifar10.train.
"""
import argparse
import collections
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import time

import numpy as np

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, PROJECT_ROOT)

from tfclassic import flags as shared_flags  # noqa: E402
from tfclassic import paths  # noqa: E402

# A save under way: TensorFlow's sharded saver writes into this folder, then
# merges it into the checkpoint and deletes it.
SAVE_UNDER_WAY = re.compile(r'^model\.ckpt-\d+_temp(_[0-9a-f]{32})?$')
# The step of the checkpoint train_dir's state file names.
STATE_STEP = re.compile(r'^model_checkpoint_path: ".*-(\d+)"$', re.M)
# How often the train_dir is looked at for a save under way (seconds).
POLL_SECS = 0.005
# Lines of a crash's stderr printed in the summary.
STDERR_TAIL_LINES = 25


def build_parser() -> argparse.ArgumentParser:
  seconds = shared_flags.argparse_number(float, 0, shared_flags.MAX_SECONDS)
  steps = shared_flags.argparse_number(int, 1, shared_flags.MAX_STEPS)
  parser = argparse.ArgumentParser(
      description=__doc__.split('\n\n')[0],
      epilog='Arguments after `--` are passed on to cifar10.train.')
  parser.add_argument('--out_dir', required=True,
                      type=shared_flags.argparse_path(paths.OUTPUT_DIR),
                      help='Where the train_dir, the data (unless '
                      '--data_dir) and the crashes are written.')
  parser.add_argument('--mode', choices=['kill', 'plain'], default='kill',
                      help='kill: SIGKILL each run and resume it in the same '
                      'train_dir. plain: start each run in a new train_dir '
                      'and let it end (crashes of plain start-ups).')
  parser.add_argument('--cycles', default=200, type=steps,
                      help='Runs to start (at most).')
  parser.add_argument('--max_minutes', default=30, type=seconds,
                      help='Start no new run after this long.')
  parser.add_argument('--data_dir', default=None,
                      type=shared_flags.argparse_path(paths.INPUT_DIR),
                      help='CIFAR-10 binary data; default: a tiny synthetic '
                      'set written to OUT_DIR/data.')
  parser.add_argument('--save_fraction', default=0.7,
                      type=shared_flags.argparse_number(float, 0, 1),
                      help='Fraction of the kills aimed at a checkpoint save '
                      '(the rest come after a random time).')
  parser.add_argument('--kill_after', type=seconds, nargs=2,
                      default=[0.0, 6.0],
                      metavar=('MIN', 'MAX'),
                      help='Seconds after its session starts (its event file '
                      'appears) at which a run is killed when the kill is '
                      'not aimed at a save (uniform between the two).')
  parser.add_argument('--max_saves', default=3, type=steps,
                      help='A kill aimed at a save lands in the first to '
                      'this many-th save the run starts (uniform): the '
                      'first is the one as the session starts.')
  parser.add_argument('--save_delay', default=0.01, type=seconds,
                      help='A kill aimed at a save comes up to this many '
                      'seconds after the save folder appears (uniform), to '
                      'land in each part of the save.')
  parser.add_argument('--steps', type=steps, nargs=2, default=[20, 150],
                      metavar=('MIN', 'MAX'),
                      help='Each run is given --max_steps this many steps '
                      'past its checkpoint (uniform), so some end by '
                      'themselves.')
  parser.add_argument('--save_checkpoint_secs', default=1,
                      type=shared_flags.argparse_number(
                          int, 1, shared_flags.MAX_SECONDS))
  parser.add_argument('--save_summaries_steps', default=5, type=steps)
  parser.add_argument('--batch_size', default=32,
                      type=shared_flags.argparse_number(
                          int, 1, shared_flags.MAX_BATCH_SIZE))
  parser.add_argument('--timeout', default=120, type=seconds,
                      help='Seconds after which a run counts as hung and is '
                      'killed.')
  parser.add_argument('--cores', action='store_true',
                      help='Let crashing runs write core files and keep '
                      'gdb\'s backtraces of them (needs gdb; the core file '
                      'is deleted after).')
  return parser


def parse_args(argv: list[str]) -> argparse.Namespace:
  if '--' in argv:
    split = argv.index('--')
    argv, passed_on = argv[:split], argv[split + 1:]
  else:
    passed_on = []
  args = build_parser().parse_args(argv)
  args.passed_on = passed_on
  return args


def write_tiny_data(root: str) -> str:
  """A tiny CIFAR-10 binary dataset (200 random images per file) in root."""
  batches = os.path.join(root, 'cifar-10-batches-bin')
  os.makedirs(batches, exist_ok=True)
  rng = np.random.default_rng(0)
  for name in ['data_batch_%d.bin' % i for i in range(1, 6)] + [
      'test_batch.bin']:
    records = rng.integers(0, 256, (200, 1 + 32 * 32 * 3), dtype=np.uint8)
    records[:, 0] %= 10
    records.tofile(os.path.join(batches, name))
  with open(os.path.join(batches, 'batches.meta.txt'), 'w') as f:
    f.write('airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\n'
            'truck\n')
  return root


def saved_step(train_dir: str) -> int:
  """The step of the checkpoint train_dir's state file names (0 if none)."""
  try:
    with open(os.path.join(train_dir, 'checkpoint')) as f:
      match = STATE_STEP.search(f.read())
  except OSError:
    return 0
  return int(match.group(1)) if match else 0


def partial_saves(train_dir: str) -> dict[str, int]:
  """The save folders in train_dir, each with its modification time (ns)."""
  try:
    entries = list(os.scandir(train_dir))
  except FileNotFoundError:
    return {}
  found = {}
  for entry in entries:
    if SAVE_UNDER_WAY.match(entry.name):
      try:
        found[entry.name] = entry.stat().st_mtime_ns
      except FileNotFoundError:  # The save just ended.
        pass
  return found


def saves_under_way(train_dir: str, left_before: dict[str, int]) -> set[str]:
  """The save folders being written: those not left by an earlier run, or
  left by one and being written again (same step)."""
  return {name for name, mtime in partial_saves(train_dir).items()
          if left_before.get(name) != mtime}


def event_files(train_dir: str) -> set[str]:
  """The event files in train_dir: a run's session has started once it
  has opened its own."""
  try:
    return {n for n in os.listdir(train_dir) if n.startswith('events.out.')}
  except FileNotFoundError:
    return set()


def allow_core_files() -> None:
  resource.setrlimit(resource.RLIMIT_CORE,
                     (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def gdb_backtrace(core: str, out_path: str) -> None:
  """Writes gdb's backtrace of the crashing thread, then of every thread."""
  executable = os.path.realpath(sys.executable)
  with open(out_path, 'w') as out:
    subprocess.run(['gdb', '-batch', '-nx', '-ex', 'set pagination off',
                    '-ex', 'echo === crashing thread ===\\n', '-ex', 'bt 60',
                    '-ex', 'echo === all threads ===\\n', '-ex', 'info threads',
                    '-ex', 'thread apply all bt 40', executable, core],
                   stdout=out, stderr=subprocess.STDOUT, timeout=600,
                   check=False)


def find_core(work: str, pid: int) -> str | None:
  for name in ('core.%d' % pid, 'core'):
    path = os.path.join(work, name)
    if os.path.exists(path):
      return path
  return None


def run_cycle(args: argparse.Namespace, cycle: int, data_dir: str,
              train_dir: str, work: str) -> dict:
  """Starts one run and kills it (mode kill) or waits for it; returns what
  happened: outcome ('clean', 'killed', 'crash', 'error', 'hung'),
  returncode, whether the kill cut a save short, whether the run's session
  had started, its pid and output files."""
  step = saved_step(train_dir) if args.mode == 'kill' else 0
  max_steps = step + random.randint(*args.steps)
  command = [sys.executable, '-m', 'cifar10.train',
             '--data_dir=%s' % data_dir, '--train_dir=%s' % train_dir,
             '--max_steps=%d' % max_steps, '--batch_size=%d' % args.batch_size,
             '--min_queue_fraction=0.002', '--log_frequency=10',
             '--save_checkpoint_secs=%d' % args.save_checkpoint_secs,
             '--save_summaries_steps=%d' % args.save_summaries_steps,
             ] + args.passed_on
  env = dict(os.environ, PYTHONFAULTHANDLER='1', PYTHONUNBUFFERED='1')
  stdout_path = os.path.join(work, 'stdout.txt')
  stderr_path = os.path.join(work, 'stderr.txt')
  left_before = partial_saves(train_dir)
  events_before = event_files(train_dir)
  with open(stdout_path, 'w') as out, open(stderr_path, 'w') as err:
    process = subprocess.Popen(
        command, cwd=work, env=env, stdout=out, stderr=err,
        preexec_fn=allow_core_files if args.cores else None)
  start = time.monotonic()
  aim_at_save = args.mode == 'kill' and random.random() < args.save_fraction
  kill_after = random.uniform(*args.kill_after)
  kill_at = start + args.timeout
  session_started = timed_out = False
  target_save = random.randint(1, args.max_saves)
  saves_seen = set()
  while process.poll() is None:
    now = time.monotonic()
    if not session_started and event_files(train_dir) - events_before:
      session_started = True
      if args.mode == 'kill':
        kill_at = now + kill_after
    if aim_at_save:
      under_way = saves_under_way(train_dir, left_before)
      saves_seen.update(under_way)
      if under_way and len(saves_seen) >= target_save:
        time.sleep(random.uniform(0, args.save_delay))
        process.kill()
        break
    # A kill aimed at a save waits for it (up to --timeout).
    if now >= kill_at and not (aim_at_save and session_started and
                               now < start + args.timeout):
      timed_out = not session_started or args.mode == 'plain'
      process.kill()
      break
    time.sleep(POLL_SECS)
  returncode = process.wait()
  # The kill cut a save short if it left the save's folder behind.
  during_save = returncode == -signal.SIGKILL and bool(
      saves_under_way(train_dir, left_before))
  if returncode == 0:
    outcome = 'clean'
  elif timed_out:
    outcome = 'hung'
  elif returncode == -signal.SIGKILL:
    outcome = 'killed'
  elif returncode < 0:
    outcome = 'crash'
  else:
    outcome = 'error'
  return dict(cycle=cycle, outcome=outcome, returncode=returncode,
              during_save=during_save, session_started=session_started,
              stdout=stdout_path, stderr=stderr_path, pid=process.pid)


def keep_failure(args: argparse.Namespace, result: dict, work: str) -> str:
  """Moves a crash's or error's output to OUT_DIR/crashes/cycle-N/, with
  gdb's backtrace of its core file; returns that folder."""
  kept = os.path.join(args.out_dir, 'crashes', 'cycle-%d' % result['cycle'])
  os.makedirs(kept)
  for name in ('stdout', 'stderr'):
    shutil.move(result[name], os.path.join(kept, name + '.txt'))
  core = find_core(work, result['pid'])
  if core:
    gdb_backtrace(core, os.path.join(kept, 'backtrace.txt'))
    os.remove(core)
  return kept


def tail(path: str, lines: int) -> str:
  with open(path, errors='replace') as f:
    return ''.join(f.readlines()[-lines:])


def main(argv: list[str]) -> int:
  args = parse_args(argv)
  os.makedirs(args.out_dir, exist_ok=True)
  data_dir = args.data_dir or write_tiny_data(
      os.path.join(args.out_dir, 'data'))
  work = os.path.join(args.out_dir, 'work')
  os.makedirs(work, exist_ok=True)
  counts = collections.Counter()
  crashes_by_signal = collections.Counter()
  kept = []
  most_partial_saves = 0
  deadline = time.monotonic() + args.max_minutes * 60
  train_dir = os.path.join(args.out_dir, 'train')
  cycle = 0
  while cycle < args.cycles and time.monotonic() < deadline:
    cycle += 1
    if args.mode == 'plain':
      train_dir = os.path.join(args.out_dir, 'train')
      shutil.rmtree(train_dir, ignore_errors=True)
    most_partial_saves = max(most_partial_saves,
                             len(partial_saves(train_dir)))
    result = run_cycle(args, cycle, data_dir, train_dir, work)
    counts[result['outcome']] += 1
    if result['during_save']:
      counts['killed during a save'] += 1
    if result['session_started']:
      counts['session started'] += 1
    if result['outcome'] == 'crash':
      crashes_by_signal[signal.Signals(-result['returncode']).name] += 1
    if result['outcome'] in ('crash', 'error', 'hung'):
      folder = keep_failure(args, result, work)
      if result['outcome'] == 'error' and os.path.isdir(train_dir):
        # A run that stopped with a message (a damaged checkpoint, say)
        # would stop so again: keep its train_dir and go on in a new one
        # (an error before the run made one leaves nothing to keep).
        shutil.move(train_dir, os.path.join(folder, 'train'))
      kept.append((result, folder))
      print('cycle %d: %s (exit %d), kept in %s' % (
          cycle, result['outcome'], result['returncode'], folder), flush=True)
    elif cycle % 10 == 0:
      print('cycle %d: %s' % (cycle, dict(counts)), flush=True)
  print('\n%d cycles (%s mode) in %.1f min, %d reaching their session: %d '
        'clean exits, %d kills (%d during a save), %d crashes, %d errors, %d '
        'hung.' % (
            cycle, args.mode, (args.max_minutes * 60 - deadline +
                               time.monotonic()) / 60,
            counts['session started'], counts['clean'], counts['killed'],
            counts['killed during a save'],
            counts['crash'], counts['error'], counts['hung']))
  if crashes_by_signal:
    print('Crashes by signal: %s' % ', '.join(
        '%s: %d' % item for item in crashes_by_signal.most_common()))
  print('Partial-save folders (model.ckpt-N_temp) before a run started: at '
        'most %d; left at the end: %d.' % (most_partial_saves,
                                          len(partial_saves(train_dir))))
  for result, folder in kept:
    print('\n--- cycle %d: %s, exit %d (%s); stderr ends:\n%s' % (
        result['cycle'], result['outcome'], result['returncode'], folder,
        tail(os.path.join(folder, 'stderr.txt'), STDERR_TAIL_LINES)))
  return 1 if kept else 0


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))

"""The README and docs/ promise commands that work on a new machine.

Every `python -m MODULE ...` they name, in code blocks or inline code, must
be a project module that starts and answers --helpfull (prints its full
help; absl then exits with status 1, by design), and every --flag
given to it there must be one of its flags. The README stays an entry point
(at most 300 lines), and no page names a folder of the authors' machines.
"""
import concurrent.futures
import functools
import importlib.util
import pathlib
import re
import subprocess
from typing import Dict, List, NamedTuple, Set

import pytest

from conftest import PROJECT_ROOT, run_module

README = PROJECT_ROOT / 'README.md'
DOCS = sorted((PROJECT_ROOT / 'docs').glob('*.md'))
PAGES = [README] + DOCS
PROJECT_PACKAGES = ('cifar10', 'mnist', 'linear')
# Modules that the pages may run with `python -m` but that are not ours.
OTHER_MODULES = {'pytest', 'pip', 'venv'}
README_MAX_LINES = 300
# Paths that exist only on the developers' machines.
FORBIDDEN_PATHS = ('/work/', '../shared')
HELP_TIMEOUT_SECS = 180

_FENCE = re.compile(r'^\s*(```|~~~)')
_INLINE_CODE = re.compile(r'`([^`\n]+)`')
_PYTHON_M = re.compile(r'\bpython3?\s+-m\s+([A-Za-z_][\w.]*)(.*)')
_FLAG = re.compile(r'(?<![\w-])--([A-Za-z_][\w-]*)')
# Where one shell command ends and the next begins.
_COMMAND_END = re.compile(r'&&|\|\||[;|]')


class Command(NamedTuple):
  module: str
  flags: tuple
  where: str  # page:line, for failure messages


def _commands_in(text: str, where: str) -> List[Command]:
  """The `python -m` commands in one shell line (or inline code span)."""
  text = re.sub(r'(^|\s)#.*$', '', text)  # a shell comment
  commands = []
  for part in _COMMAND_END.split(text):
    match = _PYTHON_M.search(part)
    if match:
      commands.append(Command(match.group(1),
                              tuple(_FLAG.findall(match.group(2))), where))
  return commands


def _page_commands(page: pathlib.Path) -> List[Command]:
  """Every `python -m` command of a Markdown page."""
  name = page.relative_to(PROJECT_ROOT)
  commands = []
  in_block = False
  lines = page.read_text(encoding='utf-8').splitlines()
  i = 0
  while i < len(lines):
    line, number = lines[i], i + 1
    i += 1
    if _FENCE.match(line):
      in_block = not in_block
      continue
    if in_block:
      # A command continued over several lines with a trailing backslash.
      while line.rstrip().endswith('\\') and i < len(lines):
        line = line.rstrip()[:-1] + ' ' + lines[i]
        i += 1
      commands += _commands_in(line, '%s:%d' % (name, number))
    else:
      for span in _INLINE_CODE.findall(line):
        commands += _commands_in(span, '%s:%d' % (name, number))
  return commands


ALL_COMMANDS = [c for page in PAGES for c in _page_commands(page)]
PROJECT_MODULES = sorted({c.module for c in ALL_COMMANDS
                          if c.module.split('.')[0] in PROJECT_PACKAGES})


def test_pages_name_commands():
  assert DOCS, 'no docs/*.md'
  assert PROJECT_MODULES, 'no `python -m` commands found in the pages'


def test_every_module_is_ours():
  strangers = ['%s (%s)' % (c.module, c.where) for c in ALL_COMMANDS
               if c.module.split('.')[0] not in PROJECT_PACKAGES
               and c.module not in OTHER_MODULES]
  assert not strangers, (
      'python -m of modules that are neither the project\'s (%s) nor known '
      'tools: %s' % (', '.join(PROJECT_PACKAGES), ', '.join(strangers)))


def _run_helpfull(module: str) -> subprocess.CompletedProcess:
  try:
    return run_module(module, '--helpfull', timeout=HELP_TIMEOUT_SECS,
                      check=False)
  except subprocess.TimeoutExpired as e:
    return subprocess.CompletedProcess(
        e.cmd, -1, '', 'timed out after %d s' % HELP_TIMEOUT_SECS)


@functools.lru_cache(maxsize=None)
def _helpfull_of_all() -> Dict[str, subprocess.CompletedProcess]:
  """`python -m MODULE --helpfull` of every module, run once, 2 at a time."""
  with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
    return dict(zip(PROJECT_MODULES, pool.map(_run_helpfull,
                                              PROJECT_MODULES)))


def _flag_names(helpfull: str) -> Set[str]:
  """Flag names in absl's --helpfull text; booleans also as --noNAME."""
  names = set()
  for negatable, name in re.findall(r'--(\[no\])?([A-Za-z_][\w-]*)',
                                    helpfull):
    names.add(name)
    if negatable:
      names.add('no' + name)
  return names


@pytest.mark.parametrize('module', PROJECT_MODULES)
def test_module_is_importable(module):
  try:
    spec = importlib.util.find_spec(module)
  except ImportError as e:
    pytest.fail('%s: %s' % (module, e))
  assert spec is not None and spec.origin, '%s: no such module' % module
  assert pathlib.Path(spec.origin).resolve().is_relative_to(PROJECT_ROOT), (
      '%s is imported from %s, not from the project' % (module, spec.origin))


def _answered(result: subprocess.CompletedProcess) -> bool:
  """Whether --helpfull printed the help and exited as absl's help does.

  absl's --help and --helpfull print the help to stdout and then exit with
  status 1 by design (absl.app.HelpfullFlag), so 1 counts as an answer when
  the help is there and nothing crashed; 0 is accepted too.
  """
  return (result.returncode in (0, 1) and 'Traceback' not in result.stderr
          and re.search(r'^\s+--(\[no\])?helpfull: ', result.stdout, re.M))


@pytest.mark.parametrize('module', PROJECT_MODULES)
def test_module_answers_helpfull(module):
  result = _helpfull_of_all()[module]
  assert _answered(result), (
      'python -m %s --helpfull exited %d without printing its help\n'
      'stdout:\n%s\nstderr:\n%s' % (module, result.returncode,
                                     result.stdout[-1500:],
                                     result.stderr[-3000:]))


@pytest.mark.parametrize('module', PROJECT_MODULES)
def test_documented_flags_exist(module):
  result = _helpfull_of_all()[module]
  if not _answered(result):
    pytest.skip('python -m %s --helpfull failed (see its own test)' % module)
  known = _flag_names(result.stdout + result.stderr)
  unknown = sorted({'--%s (%s)' % (flag, c.where)
                    for c in ALL_COMMANDS if c.module == module
                    for flag in c.flags if flag not in known})
  assert not unknown, 'flags that python -m %s does not have: %s' % (
      module, ', '.join(unknown))


def test_readme_is_short():
  lines = len(README.read_text(encoding='utf-8').splitlines())
  assert lines <= README_MAX_LINES, 'README.md has %d lines, more than %d' % (
      lines, README_MAX_LINES)


@pytest.mark.parametrize('page', PAGES, ids=lambda p: p.name)
def test_no_paths_of_the_authors_machines(page):
  found = ['line %d: %s' % (number, path)
           for number, line in enumerate(
               page.read_text(encoding='utf-8').splitlines(), 1)
           for path in FORBIDDEN_PATHS if path in line]
  assert not found, '%s names %s' % (page.name, '; '.join(found))


def _anchors(page: pathlib.Path) -> Set[str]:
  """The #anchors GitHub gives the headings of a Markdown page."""
  anchors = set()
  in_block = False
  for line in page.read_text(encoding='utf-8').splitlines():
    if _FENCE.match(line):
      in_block = not in_block
    elif not in_block and line.startswith('#'):
      heading = line.lstrip('#').strip().lower()
      anchors.add(re.sub(r'[^\w\- ]', '', heading).replace(' ', '-'))
  return anchors


@pytest.mark.parametrize('page', PAGES, ids=lambda p: p.name)
def test_links_resolve(page):
  """Links to other files of the project, and to their headings, work."""
  text = page.read_text(encoding='utf-8')
  broken = []
  for target in re.findall(r'\]\(([^)\s]+)\)', text):
    if re.match(r'[a-z]+:', target):
      continue  # a web address
    path, _, anchor = target.partition('#')
    linked = (page.parent / path).resolve() if path else page
    if not linked.exists():
      broken.append(target + ' (no such file)')
    elif anchor and linked.suffix == '.md' and anchor not in _anchors(linked):
      broken.append(target + ' (no such heading)')
  assert not broken, '%s links to: %s' % (page.name, ', '.join(broken))


def test_readme_keeps_the_ci_test_command():
  """.ci/run runs the first line of the sh block after the marker."""
  text = README.read_text(encoding='utf-8')
  match = re.search(r'<!-- test-command.*?-->\s*```sh\n(.*)\n', text)
  assert match, 'README.md: no ```sh block after the <!-- test-command marker'
  assert 'python -m pytest' in match.group(1), match.group(1)

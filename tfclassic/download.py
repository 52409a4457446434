"""Downloads that never leave a bad file, and tar extraction that stays put.

A download is written to a `.part` file next to its destination and renamed
only once its checksum matches, so an interrupted or corrupt transfer never
leaves a file under the final name: a file in place is a verified one, and
callers may skip work whose result exists. Archives are unpacked only after
every member has been checked to land inside the destination folder.
"""
import gzip
import hashlib
import http.client
import os
import secrets
import sys
import tarfile
import urllib.request
import zlib

from tfclassic import paths
from tfclassic.errors import DataError

DOWNLOAD_TIMEOUT_SECS = 60
_CHUNK_BYTES = 1 << 20


def make_data_dir(data_dir: str) -> None:
  """Creates data_dir, where missing data is to be downloaded.

  Raises:
    DataError: it cannot be created or written, saying so.
  """
  problem = paths.output_dir_problem(data_dir)
  if problem:
    raise DataError(
        '%s The data is missing there and would be downloaded into it: put '
        'the data files there yourself, or pass a --data_dir that has them '
        'or can be written.' % paths.describe('--data_dir', data_dir,
                                             problem))
  os.makedirs(data_dir, exist_ok=True)


def md5sum(path: str, gunzip: bool = False) -> str:
  """The MD5 hex digest of a file, or of its content gunzipped.

  Raises:
    OSError: if the file cannot be read (gzip.BadGzipFile if gunzip and it
      is not gzip).
    EOFError, zlib.error: if gunzip and the gzip stream is incomplete or
      corrupt.
  """
  digest = hashlib.md5()
  with (gzip.open if gunzip else open)(path, 'rb') as f:
    for chunk in iter(lambda: f.read(_CHUNK_BYTES), b''):
      digest.update(chunk)
  return digest.hexdigest()


def download(url: str, path: str, md5: str, gunzip_md5: bool = False,
             timeout: float = DOWNLOAD_TIMEOUT_SECS) -> None:
  """Fetches url to path, atomically: a failed download leaves no file.

  Shows a progress line on stdout when the server sends the size, and says
  how many bytes arrived.

  Args:
    url: what to fetch.
    path: where it goes; its folder must exist.
    md5: the expected MD5 of the file, or with gunzip_md5 of its gunzipped
      content (mirrors may re-compress a file, changing its bytes but not
      what they decompress to).
    gunzip_md5: check the content's checksum rather than the file's.
    timeout: seconds to wait for the server, per connect or read.

  Raises:
    DataError: the transfer failed or broke off, or the checksum does not
      match.
    OSError: the server or network failed (urllib.error.URLError, with the
      reason), or path cannot be written.
  """
  # A name of its own, so that processes fetching the same file at once (the
  # workers of a cluster sharing a folder) do not write into each other's.
  partial = '%s.%s.part' % (path, secrets.token_hex(4))
  name = os.path.basename(path)
  try:
    with urllib.request.urlopen(url, timeout=timeout) as response, \
        open(partial, 'xb') as out:
      total = int(response.headers.get('Content-Length') or 0)
      done = 0
      for chunk in iter(lambda: response.read(_CHUNK_BYTES), b''):
        out.write(chunk)
        done += len(chunk)
        if total:
          sys.stdout.write('\r>> Downloading %s %.1f%%'
                           % (name, 100.0 * done / total))
          sys.stdout.flush()
    if total:
      sys.stdout.write('\n')
      # A connection closed early ends the reads as if the file were whole.
      if done < total:
        raise DataError('%s: the transfer broke off after %d of %d bytes.'
                        % (url, done, total))
    _verify(url, partial, md5, gunzip_md5)
    os.replace(partial, path)
  except http.client.HTTPException as e:
    raise DataError('%s: the HTTP transfer failed (%r).' % (url, e)) from None
  finally:
    if os.path.exists(partial):
      os.remove(partial)
  print('Successfully downloaded', name, os.path.getsize(path), 'bytes.')


def _verify(url: str, path: str, md5: str, gunzip_md5: bool) -> None:
  try:
    actual = md5sum(path, gunzip_md5)
  except (gzip.BadGzipFile, EOFError, zlib.error) as e:
    raise DataError('%s is not a complete gzip file (%s).'
                    % (url, e)) from None
  if actual != md5:
    raise DataError('%s: checksum %s%s, expected %s (corrupt download).'
                    % (url, actual, ' of the uncompressed content'
                       if gunzip_md5 else '', md5))


def safe_extract(archive: str, dest: str) -> None:
  """Unpacks a tar archive (compressed or not) into dest.

  Nothing is written unless every member passes: only files, folders and
  links, none with an absolute or '..' path or link target. Such paths are
  how archives write outside their folder; refusing every '..' (not only
  those that leave dest when read as text) also refuses a link that climbs
  out through another link of the same archive.

  Raises:
    DataError: naming the first refused member, or if the archive is not a
      readable tar file.
    OSError: if the archive cannot be read or dest cannot be written.
  """
  try:
    with tarfile.open(archive) as tar:
      members = tar.getmembers()
      for member in members:
        _check_member(member, dest)
      tar.extractall(dest, members=members)
  except (tarfile.TarError, EOFError, zlib.error) as e:
    # tarfile's reasons may span lines; the message stays one paragraph.
    raise DataError('%s: not a readable tar archive (%s).'
                    % (archive, ' '.join(str(e).split()))) from None


def _climbs(path: str) -> bool:
  return os.path.isabs(path) or '..' in path.split('/')


def _check_member(member: tarfile.TarInfo, dest: str) -> None:
  if _climbs(member.name):
    raise DataError("archive member %r has an absolute or '..' path, which "
                    'could write outside %s.' % (member.name, dest))
  if (member.issym() or member.islnk()) and _climbs(member.linkname):
    raise DataError("archive member %r links to %r, an absolute or '..' "
                    'path, which could reach outside %s.'
                    % (member.name, member.linkname, dest))
  if not (member.isfile() or member.isdir() or member.issym() or
          member.islnk()):
    raise DataError('archive member %r is not a file or folder.'
                    % member.name)

"""tfclassic.download against a real loopback HTTP server and real tar files."""
import gzip
import hashlib
import io
import os
import tarfile
import urllib.error

import pytest

from tfclassic import download
from tfclassic.errors import DataError

BODY = bytes(range(256)) * 4096  # 1 MiB: more than one read chunk


def _files(folder):
  return sorted(os.listdir(folder))


def test_download_writes_the_verified_file_and_nothing_else(
    tmp_path, loopback_server, capsys):
  loopback_server.files['/a.bin'] = BODY
  path = str(tmp_path / 'a.bin')
  download.download(loopback_server.url + '/a.bin', path,
                    hashlib.md5(BODY).hexdigest())
  assert (tmp_path / 'a.bin').read_bytes() == BODY
  assert _files(tmp_path) == ['a.bin']
  out = capsys.readouterr().out
  assert '>> Downloading a.bin 100.0%' in out
  assert 'Successfully downloaded a.bin %d bytes.' % len(BODY) in out


def test_a_wrong_checksum_leaves_no_file(tmp_path, loopback_server):
  loopback_server.files['/a.bin'] = BODY
  with pytest.raises(DataError, match='checksum %s, expected %s' % (
      hashlib.md5(BODY).hexdigest(), '0' * 32)):
    download.download(loopback_server.url + '/a.bin',
                      str(tmp_path / 'a.bin'), '0' * 32)
  assert _files(tmp_path) == []


def test_a_transfer_that_breaks_off_leaves_no_file(tmp_path, loopback_server):
  loopback_server.files['/a.bin'] = BODY
  loopback_server.cut.add('/a.bin')
  with pytest.raises(DataError, match='broke off after %d of %d bytes' % (
      len(BODY) // 2, len(BODY))):
    download.download(loopback_server.url + '/a.bin',
                      str(tmp_path / 'a.bin'), hashlib.md5(BODY).hexdigest())
  assert _files(tmp_path) == []


def test_a_missing_file_is_an_http_error_and_leaves_nothing(
    tmp_path, loopback_server):
  with pytest.raises(urllib.error.HTTPError, match='404'):
    download.download(loopback_server.url + '/nothing', str(tmp_path / 'x'),
                      '0' * 32)
  assert _files(tmp_path) == []


def test_gunzip_md5_checks_the_content_not_the_compressed_bytes(
    tmp_path, loopback_server):
  compressed = gzip.compress(BODY, compresslevel=1)
  loopback_server.files['/a.gz'] = compressed
  content_md5 = hashlib.md5(BODY).hexdigest()
  path = str(tmp_path / 'a.gz')
  download.download(loopback_server.url + '/a.gz', path, content_md5,
                    gunzip_md5=True)
  assert download.md5sum(path, gunzip=True) == content_md5
  assert download.md5sum(path) == hashlib.md5(compressed).hexdigest()


def _tar(path, members):
  """Writes a tar of (TarInfo, bytes or None) pairs."""
  with tarfile.open(path, 'w:gz') as tar:
    for info, data in members:
      if data is not None:
        info.size = len(data)
      tar.addfile(info, io.BytesIO(data) if data is not None else None)
  return str(path)


def _info(name, kind=tarfile.REGTYPE, linkname=''):
  info = tarfile.TarInfo(name)
  info.type, info.linkname = kind, linkname
  return info


def test_safe_extract_unpacks_files_folders_and_inner_links(tmp_path):
  archive = _tar(tmp_path / 'ok.tar.gz', [
      (_info('top', tarfile.DIRTYPE), None),
      (_info('top/a.txt'), b'hello'),
      (_info('top/link', tarfile.SYMTYPE, 'a.txt'), None)])
  dest = tmp_path / 'out'
  dest.mkdir()
  download.safe_extract(archive, str(dest))
  assert (dest / 'top' / 'a.txt').read_bytes() == b'hello'
  assert (dest / 'top' / 'link').read_bytes() == b'hello'


@pytest.mark.parametrize('members, refused', [
    ([(_info('/etc/evil'), b'x')], "'/etc/evil' has an absolute"),
    ([(_info('top/../../evil'), b'x')], "'top/../../evil' has an absolute"),
    ([(_info('up', tarfile.SYMTYPE, '../outside'), None)],
     "'up' links to '../outside'"),
    # Each link alone stays inside; together they climb out.
    ([(_info('d', tarfile.SYMTYPE, '.'), None),
      (_info('a', tarfile.SYMTYPE, 'd/..'), None)], "'a' links to 'd/..'"),
    ([(_info('fifo', tarfile.FIFOTYPE), None)], "'fifo' is not a file"),
])
def test_safe_extract_refuses_members_that_could_escape(tmp_path, members,
                                                         refused):
  archive = _tar(tmp_path / 'bad.tar.gz',
                 [(_info('first.txt'), b'ok')] + members)
  dest = tmp_path / 'out'
  dest.mkdir()
  with pytest.raises(DataError, match=refused.replace('(', r'\(')):
    download.safe_extract(archive, str(dest))
  assert _files(dest) == []
  assert not (tmp_path / 'outside').exists()


def test_a_broken_archive_is_one_paragraph(tmp_path):
  archive = tmp_path / 'broken.tar.gz'
  archive.write_bytes(gzip.compress(b'not a tar file' * 100))
  with pytest.raises(DataError, match='not a readable tar archive') as raised:
    download.safe_extract(str(archive), str(tmp_path))
  assert '\n' not in str(raised.value)

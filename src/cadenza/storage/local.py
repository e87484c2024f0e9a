"""Media in a local directory, served by the API itself: the single-machine default."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from cadenza.storage import MediaNotFound, StorageError, public_base, validate_key, validate_prefix


class LocalStorage:
    """Files under ``root``; every write is atomic (temp file in the same dir + os.replace).

    Readers (the media route, a worker) therefore never see a half-written file.
    """

    #: Links are the base URL and the key: the same every time.
    stable_urls = True

    def __init__(self, root: Path, base_url: str) -> None:
        self._root = Path(root).resolve()
        self._base_url = base_url.rstrip("/")
        try:
            self._root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError("media storage unavailable") from exc

    @property
    def root(self) -> Path:
        return self._root

    def _path(self, key: str) -> Path:
        path = (self._root / validate_key(key)).resolve()
        # A symlink planted inside the root must not lead out of it.
        if not path.is_relative_to(self._root):
            raise MediaNotFound("media not found")
        return path

    def path_for(self, key: str) -> Path:
        """The file to stream for ``key``; MediaNotFound if absent or the key is invalid."""
        path = self._path(key)
        if not path.is_file():
            raise MediaNotFound("media not found")
        return path

    @contextlib.contextmanager
    def _atomic_target(self, key: str) -> Iterator[Path]:
        dest = self._path(key)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", dir=dest.parent)
        except OSError as exc:
            raise StorageError("media storage unavailable") from exc
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            yield tmp
            os.chmod(tmp, 0o644)
            os.replace(tmp, dest)
        except OSError as exc:
            raise StorageError("media storage unavailable") from exc
        finally:
            tmp.unlink(missing_ok=True)

    def put_file(self, key: str, path: Path, content_type: str) -> None:
        """Stores ``path`` (the source stays); the content type is implied by the extension.

        On the same file system the file is hard-linked, not copied: a render hands over
        ~400 MB of stems per clip, finished and never written again. Elsewhere it is copied.
        """
        with self._atomic_target(key) as tmp:
            try:
                tmp.unlink()
                os.link(path, tmp)
            except OSError:
                shutil.copyfile(path, tmp)

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        with self._atomic_target(key) as tmp:
            tmp.write_bytes(data)

    def get_bytes(self, key: str) -> bytes:
        path = self.path_for(key)
        try:
            return path.read_bytes()
        except FileNotFoundError as exc:
            raise MediaNotFound("media not found") from exc
        except OSError as exc:
            raise StorageError("media storage unavailable") from exc

    def fetch_to(self, key: str, dest: Path) -> Path:
        source = self.path_for(key)
        dest = Path(dest)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", dir=dest.parent)
            os.close(fd)
            try:
                shutil.copyfile(source, tmp_name)
                os.replace(tmp_name, dest)
            finally:
                Path(tmp_name).unlink(missing_ok=True)
        except FileNotFoundError as exc:
            raise MediaNotFound("media not found") from exc
        except OSError as exc:
            raise StorageError("media storage unavailable") from exc
        return dest

    def exists(self, key: str) -> bool:
        try:
            return self._path(key).is_file()
        except MediaNotFound:
            return False

    def url(self, key: str) -> str:
        return f"{public_base.resolve(self._base_url)}/media/{validate_key(key)}"

    def delete_prefix(self, prefix: str) -> None:
        """Deletes every key that starts with ``prefix`` (string prefix, as in S3)."""
        validate_prefix(prefix)
        head, _, tail = prefix.rpartition("/")
        try:
            directory = self._path(head) if head else self._root
        except MediaNotFound:
            return
        if not directory.is_dir():
            return
        try:
            for entry in directory.iterdir():
                if not entry.name.startswith(tail) or entry.name.startswith("."):
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink(missing_ok=True)
            self._prune(directory)
        except OSError as exc:
            raise StorageError("media storage unavailable") from exc

    def _prune(self, directory: Path) -> None:
        """Removes directories left empty, up to (not including) the root."""
        while directory != self._root and directory.is_relative_to(self._root):
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent

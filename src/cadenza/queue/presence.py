"""Which in-process queues are alive, known for certain from locks the kernel releases.

The tasks an in-process queue holds (waiting or running) live in its server's memory and
die with it, however it dies (``kill -9`` included). Each start of such a queue takes a
*slot* in a directory under the data dir: an exclusive ``flock`` on ``slot-<n>.lock``,
held for the queue's life, with the queue's identity written inside. The kernel drops the
lock when the process ends, so any process sharing the data dir can tell for certain that
an identity is gone: its slot is free, or held by a later start. Nothing needs cleaning
up: a slot is reused by the next start that finds it free.

An identity names its directory (by a random id kept there, ``home``), so an identity
made under another data dir (another machine sharing a PostgreSQL database) is never
declared gone; stall detection and deadlines still settle such tasks.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import threading
from collections.abc import Iterable
from pathlib import Path

HOME_FILE = "home"
#: Servers sharing one data dir at once; more than this many is a misconfiguration.
MAX_SLOTS = 1024
_READ_LIMIT = 256


class Presence:
    """Claims a slot for one start of a queue (``claim``/``release``) and tells whether
    identities claimed under the same directory are gone (``gone``)."""

    def __init__(self, directory: Path) -> None:
        self._dir = Path(directory)
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._instance: str | None = None

    @property
    def instance(self) -> str | None:
        """The identity held now, None when none is."""
        return self._instance

    def claim(self) -> str:
        """Takes the first free slot and returns a new identity, held until ``release``
        (or until this process ends)."""
        with self._lock:
            if self._instance is not None:
                return self._instance
            self._dir.mkdir(parents=True, exist_ok=True)
            home = self._home(create=True)
            if home is None:
                raise OSError(f"{self._dir / HOME_FILE} is empty")
            nonce = secrets.token_hex(8)
            for slot in range(MAX_SLOTS):
                fd = os.open(self._slot(slot), os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    continue
                except BaseException:
                    os.close(fd)
                    raise
                identity = f"{home}.{slot}.{nonce}"
                try:
                    os.ftruncate(fd, 0)
                    os.pwrite(fd, identity.encode(), 0)
                except BaseException:
                    os.close(fd)
                    raise
                self._fd, self._instance = fd, identity
                return identity
            raise OSError(f"no free queue slot in {self._dir} ({MAX_SLOTS} in use)")

    def release(self) -> None:
        """Gives the slot up: from now on the identity is gone."""
        with self._lock:
            fd, self._fd, self._instance = self._fd, None, None
        if fd is not None:
            os.close(fd)  # closing the only descriptor drops the lock

    def gone(self, identities: Iterable[str]) -> set[str]:
        """The identities among ``identities`` that were claimed under this directory and
        are held no more. Malformed ones and those of other directories are not gone."""
        home = self._home(create=False)
        if home is None:
            return set()
        own = self._instance
        dead: set[str] = set()
        for identity in set(identities):
            parts = identity.split(".")
            if len(parts) != 3 or parts[0] != home or not parts[1].isdigit():
                continue
            if identity != own and self._slot_gone(int(parts[1]), identity):
                dead.add(identity)
        return dead

    # -- internals ------------------------------------------------------------------------

    def _slot(self, slot: int) -> Path:
        return self._dir / f"slot-{slot}.lock"

    def _slot_gone(self, slot: int, identity: str) -> bool:
        try:
            fd = os.open(self._slot(slot), os.O_RDWR)
        except FileNotFoundError:
            return False  # never claimed here (or removed by hand): cannot tell
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                # Held: by this identity (written before it was ever handed a task), or
                # by a later start that found the slot free, so this one had ended.
                return os.pread(fd, _READ_LIMIT, 0).decode(errors="replace") != identity
            return True  # free: whoever held it has stopped or died
        finally:
            os.close(fd)  # also drops the lock taken just now

    def _home(self, *, create: bool) -> str | None:
        """The directory's id; made once, atomically (a complete file or none)."""
        path = self._dir / HOME_FILE
        with contextlib.suppress(FileNotFoundError):
            return path.read_text().strip() or None
        if not create:
            return None
        draft = self._dir / f".{HOME_FILE}-{secrets.token_hex(4)}"
        draft.write_text(secrets.token_hex(8))
        try:
            with contextlib.suppress(FileExistsError):  # another server made it first
                os.link(draft, path)
        finally:
            draft.unlink()
        return path.read_text().strip() or None

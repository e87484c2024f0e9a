"""Media stores (local directory, S3) and the errors they raise at their edge.

The errors are domain errors so the API maps them without knowing the backend: a missing
or malformed key reads as 404, a backend failure as 502.
"""

from __future__ import annotations

import re

from cadenza.domain.errors import NotFound, UpstreamUnavailable


class StorageError(UpstreamUnavailable):
    """The media store failed; the detail is in ``__cause__``, never in the message."""


class MediaNotFound(NotFound, StorageError):
    """No object under this key (NotFound comes first so it maps to 404)."""


class InvalidMediaKey(NotFound, StorageError):
    """A key that could escape the store or is not one the server would generate."""


#: A segment is at most 255 characters, a file name's limit on every common file system:
#: a longer one is no key the server makes, and the local store's lookup would fail on it
#: with ENAMETOOLONG (a 500) instead of answering 404.
_SEGMENT = r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}"
#: Segments of that form joined by single slashes (one match per key: URLs are built
#: from keys on every poll).
_KEY = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*")
MAX_KEY_LENGTH = 512


def validate_key(key: str) -> str:
    """Accept only server-style keys: ``a/b/c.ext`` from ``[A-Za-z0-9._-]``, segments of at
    most 255 characters.

    No segment may start with a dot, which rules out ``.``, ``..`` and hidden temp files;
    absolute paths, backslashes and empty segments are rejected too.
    """
    if not key or len(key) > MAX_KEY_LENGTH or not _KEY.fullmatch(key):
        raise InvalidMediaKey("media not found")
    return key


def validate_prefix(prefix: str) -> str:
    """A prefix is a key, optionally ending in ``/``; an empty prefix is never allowed.

    Deleting by prefix is destructive, so it is held to the same rules as a key.
    """
    validate_key(prefix.removesuffix("/"))
    return prefix


__all__ = [
    "MAX_KEY_LENGTH",
    "InvalidMediaKey",
    "MediaNotFound",
    "StorageError",
    "validate_key",
    "validate_prefix",
]

"""Channel credentials sealed at rest with Fernet (AES-128-CBC and HMAC-SHA256)."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken


class FernetBox:
    """Seals with a key derived from the operator's secret (any string: a Fernet key or a
    passphrase), so rotating it means re-adding the channels."""

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("no channel secret is set (CADENZA_CHANNEL_SECRET)")
        digest = hashlib.sha256(secret.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def seal(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise ValueError("the credential was sealed with another channel secret") from None

"""Encryption of credentials at rest (Fernet, with MultiFernet key rotation).

The key comes from settings.encryption_key: one key, or several comma-separated keys where the
first encrypts and every one decrypts (rotation: put the new key first, re-save, then drop the old
one). Without a configured key one is generated once into <data_dir>/proxy.key with mode 0600;
every replica must then share that file. Each ciphertext is bound to its account id, so a
ciphertext copied onto another account record does not decrypt.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

from .errors import StoreUnavailable
from .settings import ProxySettings

__all__ = ["CredentialCipher", "load_cipher"]

logger = logging.getLogger(__name__)
KEY_FILE_NAME = "proxy.key"


class CredentialCipher:
    """Encrypts and decrypts account secrets; the first key encrypts, all keys decrypt."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is required")
        try:
            self._fernet = MultiFernet([Fernet(key) for key in keys])
        except (ValueError, TypeError):
            raise ValueError(
                "the credential encryption key is not a valid Fernet key (32 bytes, url-safe base64); "
                'generate one with: python -c "from cryptography.fernet import Fernet; '
                'print(Fernet.generate_key().decode())"'
            ) from None

    def encrypt(self, account_id: str, secret: SecretStr) -> str:
        """A Fernet token (text) holding the secret bound to the account id."""
        plain = json.dumps({"a": account_id, "s": secret.get_secret_value()}).encode()
        return self._fernet.encrypt(plain).decode("ascii")

    def decrypt(self, account_id: str, token: str) -> SecretStr:
        """The secret; StoreUnavailable when no configured key opens it or it belongs elsewhere."""
        try:
            payload = json.loads(self._fernet.decrypt(token.encode("ascii")))
        except (InvalidToken, ValueError, UnicodeError) as exc:
            raise StoreUnavailable(
                f"the credential of account {account_id} cannot be decrypted with the configured "
                "encryption key(s); was the key changed without keeping the old one?"
            ) from exc
        if (
            not isinstance(payload, dict)
            or payload.get("a") != account_id
            or not isinstance(payload.get("s"), str)
        ):
            raise StoreUnavailable(f"the stored credential of account {account_id} does not belong to it")
        return SecretStr(payload["s"])

    def rotate(self, token: str) -> str:
        """Re-encrypt a token under the first (current) key."""
        return self._fernet.rotate(token.encode("ascii")).decode("ascii")


def _key_file(data_dir: Path) -> bytes:
    path = data_dir / KEY_FILE_NAME
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        # Another replica may have created it a moment ago and still be writing it.
        for _ in range(50):
            key = path.read_bytes().strip()
            if key:
                return key
            time.sleep(0.02)
        raise ValueError(
            f"the key file {path} is empty; delete it or set GMCP_PROXY_ENCRYPTION_KEY"
        ) from None
    key = Fernet.generate_key()
    with os.fdopen(fd, "wb") as handle:
        handle.write(key + b"\n")
    logger.warning("generated a credential encryption key in %s; every replica must share it", path)
    return key


def load_cipher(settings: ProxySettings) -> CredentialCipher:
    """The cipher from settings.encryption_key, or from the key file (created once, 0600)."""
    if settings.encryption_key is not None and settings.encryption_key.get_secret_value().strip():
        raw = settings.encryption_key.get_secret_value()
        keys = [part.strip().encode("ascii") for part in raw.split(",") if part.strip()]
    else:
        keys = [_key_file(settings.data_dir)]
    return CredentialCipher(keys)

"""Unit tests: credential encryption, the generated key file and key rotation."""

from __future__ import annotations

import stat

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from services.gumloop_proxy import errors
from services.gumloop_proxy.crypto import CredentialCipher, load_cipher
from services.gumloop_proxy.settings import ProxySettings


def test_round_trip_hides_the_secret_and_binds_it_to_the_account():
    """A ciphertext decrypts for its own account only and does not contain the secret."""
    cipher = CredentialCipher([Fernet.generate_key()])
    token = cipher.encrypt("acc_1", SecretStr("gk_live_secret"))
    assert "gk_live_secret" not in token
    assert cipher.decrypt("acc_1", token).get_secret_value() == "gk_live_secret"
    with pytest.raises(errors.StoreUnavailable):
        cipher.decrypt("acc_2", token)


def test_generated_key_file_is_private_and_reused(tmp_path):
    """Without a configured key one is generated once into data_dir/proxy.key with mode 0600."""
    settings = ProxySettings(data_dir=tmp_path / "d")
    token = load_cipher(settings).encrypt("a", SecretStr("s"))
    key_file = tmp_path / "d" / "proxy.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert load_cipher(settings).decrypt("a", token).get_secret_value() == "s"


def test_rotation_decrypts_with_old_keys_and_encrypts_with_the_first(tmp_path):
    """With several keys the first encrypts and all decrypt."""
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    before = load_cipher(ProxySettings(data_dir=tmp_path, encryption_key=SecretStr(old)))
    token = before.encrypt("a", SecretStr("s"))
    rotated = load_cipher(ProxySettings(data_dir=tmp_path, encryption_key=SecretStr(f"{new}, {old}")))
    assert rotated.decrypt("a", token).get_secret_value() == "s"
    fresh = rotated.encrypt("a", SecretStr("s"))
    only_new = CredentialCipher([new.encode()])
    assert only_new.decrypt("a", fresh).get_secret_value() == "s"
    assert only_new.decrypt("a", rotated.rotate(token)).get_secret_value() == "s"
    with pytest.raises(errors.StoreUnavailable):
        only_new.decrypt("a", token)
    assert not (tmp_path / "proxy.key").exists()


def test_bad_key_is_a_clear_error(tmp_path):
    """A malformed key fails with a message saying how to make one, without echoing it."""
    with pytest.raises(ValueError, match="not a valid Fernet key") as caught:
        load_cipher(ProxySettings(data_dir=tmp_path, encryption_key=SecretStr("short-key")))
    assert "short-key" not in str(caught.value)

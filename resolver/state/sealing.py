"""Personal ID numbers at rest: encrypted in the state, keyed hashes where matching needs them.

The state key is a Fernet key (32 url-safe base64 bytes, from the `cryptography` package)
taken from ``CREDGRAPH_STATE_KEY`` or, failing that, from ``state.key`` beside the state,
created owner-only (0600) on first use. A copy of ``state.db`` alone (a backup, a file
shared by mistake) then holds no ID number in clear: the ID fields of every stored record
are sealed, the key table holds keyed hashes of ID numbers (the look-up of a mention
by its ID number still works: same number, same hash), and the hash salt is derived from
the key (HMAC-SHA256), so it is stored nowhere (a state made before sealing keeps its old
salt, stored encrypted). One-shot runs (``--no-state``) take their salt from the default
state's key, so that a published ``id_hash`` can never be recomputed from a public salt.

A sealed value is ``aesgcm:`` + url-safe base64 of a random 96-bit nonce and the AES-256-GCM
ciphertext with its tag (authenticated, like Fernet, at a fifth of its cost: a batch seals
and opens tens of thousands of values); the AES key is derived from the state key
(HMAC-SHA256), so the key file is unchanged. Values sealed earlier as Fernet tokens
(``fernet:`` + token) are still opened, and replaced as their records are written again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from pathlib import Path
from typing import Any

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_ENV = "CREDGRAPH_STATE_KEY"
KEY_FILE = "state.key"
#: Record fields (raw or standardised) that hold a personal ID number.
SECRET_FIELDS = frozenset({"id_number", "legal_rep_id", "holder_id_number", "id18"})
#: Prefix of a value sealed with AES-256-GCM (what :meth:`Sealer.encrypt` writes).
SEALED_PREFIX = "aesgcm:"
#: Prefix of a value sealed with Fernet (states written before AES-GCM): still opened.
FERNET_PREFIX = "fernet:"


class StateKeyError(RuntimeError):
    """A state key that is missing, malformed or does not open this state."""


def derive_salt(key: bytes) -> str:
    """The ID-hash salt of a key: secret as long as the key is, and never stored."""
    raw = base64.urlsafe_b64decode(key)
    return hmac.new(raw, b"credgraph id-hash salt v1", hashlib.sha256).hexdigest()


def aead_key(key: bytes) -> bytes:
    """The AES-256-GCM key of a state key (so that one key file serves both formats)."""
    raw = base64.urlsafe_b64decode(key)
    return hmac.new(raw, b"credgraph aes-gcm seal v1", hashlib.sha256).digest()


def key_id(key: bytes) -> str:
    """A short fingerprint telling whether a key is the one a state was sealed with."""
    raw = base64.urlsafe_b64decode(key)
    return hmac.new(raw, b"credgraph key id v1", hashlib.sha256).hexdigest()[:16]


def installation_salt() -> str:
    """The salt of one-shot runs: that of the default state's key."""
    from resolver.state.store import default_state_dir

    return derive_salt(load_key(default_state_dir()))


def load_key(state_dir: Path, sealed_with: str | None = None) -> bytes:
    """The state key: ``CREDGRAPH_STATE_KEY``, else ``state.key`` (created 0600 if absent).
    ``sealed_with``: the key id a state's records were sealed with (None for a new state):
    such a state's missing key file is an error, never replaced by a new key."""
    env = os.environ.get(KEY_ENV)
    if env:
        key = env.strip().encode()
    else:
        from resolver.state.run_files import private_dir

        path = private_dir(state_dir, own=(KEY_FILE, "state.db")) / KEY_FILE
        if path.is_symlink() and not path.exists():
            raise StateKeyError(
                f"{path} is a symbolic link to {os.readlink(path)}, which does not exist: "
                f"put the state key there, or set {KEY_ENV}"
            )
        if path.exists() and not path.is_file():
            raise StateKeyError(
                f"{path} is not a file: the state key is kept in a file of that name "
                f"(mode 600), or given in {KEY_ENV}"
            )
        if not path.exists() and sealed_with is not None:
            raise StateKeyError(
                f"{path} is missing and {KEY_ENV} is not set: the records of "
                f"{state_dir / 'state.db'} are sealed with the key whose id is {sealed_with}; "
                f"put that key back in {path} (mode 600) or set {KEY_ENV} to it — "
                "a new key would not open them"
            )
        if not path.exists():
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process created it a moment ago
            else:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(Fernet.generate_key() + b"\n")
        if path.stat().st_mode & 0o077:
            raise StateKeyError(
                f"{path}: the state key is readable by other users; chmod 600 {path}"
            )
        try:
            key = path.read_bytes().strip()
        except OSError as exc:
            raise StateKeyError(f"{path}: cannot read the state key: {exc.strerror}") from exc
    try:
        Fernet(key)
    except ValueError as exc:
        src = KEY_ENV if env else str(state_dir / KEY_FILE)
        raise StateKeyError(f"{src}: not a state key (32 url-safe base64-encoded bytes)") from exc
    return key


class Sealer:
    """Encrypts ID fields of records, and hashes ID numbers with the installation's salt."""

    def __init__(self, key: bytes) -> None:
        self.fernet = Fernet(key)
        self.aead = AESGCM(aead_key(key))
        self.salt: str = ""

    def encrypt(self, text: str) -> str:
        nonce = os.urandom(12)
        sealed = nonce + self.aead.encrypt(nonce, text.encode(), None)
        return SEALED_PREFIX + base64.urlsafe_b64encode(sealed).decode()

    def decrypt(self, token: str, what: str) -> str:
        try:
            if token.startswith(SEALED_PREFIX):
                data = base64.urlsafe_b64decode(token[len(SEALED_PREFIX) :])
                return self.aead.decrypt(data[:12], data[12:], None).decode()
            if token.startswith(FERNET_PREFIX):
                return self.fernet.decrypt(token[len(FERNET_PREFIX) :].encode()).decode()
        except (InvalidTag, InvalidToken, ValueError) as exc:
            raise StateKeyError(
                f"{what}: the state key does not open this value (it is damaged, or was "
                "sealed with another key)"
            ) from exc
        return token

    def seal(self, values: dict[str, Any]) -> str:
        """JSON of a record's values with every ID field encrypted."""
        return msgspec.json.encode(
            {
                k: self.encrypt(v) if k in SECRET_FIELDS and isinstance(v, str) and v else v
                for k, v in values.items()
            }
        ).decode()

    @staticmethod
    def decode(text: str) -> dict[str, Any]:
        """A record's values with the ID fields left sealed."""
        values: dict[str, Any] = msgspec.json.decode(text)
        return values

    def unseal(self, text: str, where: str = "") -> dict[str, Any]:
        """A record's values with the ID fields opened; ``where`` names the record in
        errors (e.g. ``"record AMR/person/R1, "``)."""
        values: dict[str, Any] = msgspec.json.decode(text)
        for k in SECRET_FIELDS.intersection(values):
            v = values[k]
            if isinstance(v, str) and v.startswith((SEALED_PREFIX, FERNET_PREFIX)):
                values[k] = self.decrypt(v, f"{where}record field {k}")
        return values

    def key_token(self, key: str) -> str:
        """A key-table entry: an ID-number key (``I|…``) becomes a keyed hash of the number."""
        if key.startswith("I|"):
            return "I|" + self.keyed_hash(key[2:])
        return key

    def keyed_hash(self, text: str) -> str:
        return hashlib.blake2b(
            text.encode(), key=self.salt.encode()[:64], digest_size=16
        ).hexdigest()

"""Encryption of face templates at rest (AES-256-GCM, key derived with scrypt).

Face templates are biometric data that cannot be revoked, so a gallery created
with a secret (``FACESCOPE_KEY``) stores every embedding encrypted. The key is
derived from the secret with scrypt and a per-gallery random salt; each
template has its own random 96-bit nonce and is authenticated together with
what it stands for: its subject's name, its row id and its photo's content
hash (the store's associated data), so a ciphertext moved to another row or
subject, or a subject renamed behind facescope's back, fails authentication.
"""

from __future__ import annotations

import base64
import os

from facescope.errors import CorruptGalleryError, GalleryError

KEY_ENV = "FACESCOPE_KEY"
SCHEME = "aes-256-gcm/scrypt-n16384-r8-p1"
_NONCE_BYTES = 12
_KEY_CHECK_PLAINTEXT = b"facescope gallery key check"


class GalleryKeyError(GalleryError):
    """The gallery's encryption key is missing or wrong."""


class TemplateAuthenticationError(CorruptGalleryError, GalleryKeyError):
    """A template's ciphertext does not authenticate with its row, though the key is right.

    The key was checked when the gallery opened, so the row was moved (another
    subject, another id) or altered outside facescope. A CorruptGalleryError
    (``path``, ``reason``, ``template_id``) and, as tampered ciphertexts always
    were, a GalleryKeyError.
    """


class TemplateCipher:
    """Encrypts and decrypts template bytes with one derived key."""

    def __init__(self, secret: str, salt: bytes) -> None:
        if not secret:
            raise GalleryKeyError(f"{KEY_ENV} is set but empty")
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

        key = Scrypt(salt=salt, length=32, n=2**14, r=8, p=1).derive(secret.encode("utf-8"))
        self._aead = AESGCM(key)

    def encrypt(self, plaintext: bytes, associated: bytes) -> bytes:
        """nonce || ciphertext-with-tag."""
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, associated)

    def decrypt(self, blob: bytes, associated: bytes) -> bytes:
        """Inverse of :meth:`encrypt`; a wrong key or tampered data is a GalleryKeyError."""
        from cryptography.exceptions import InvalidTag

        try:
            return self._aead.decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], associated)
        except InvalidTag:
            raise GalleryKeyError(
                "template failed authentication: wrong key, or the data was altered"
            ) from None

    def key_check(self) -> str:
        """A value stored at creation that proves a later key is the same one."""
        return base64.b64encode(self.encrypt(_KEY_CHECK_PLAINTEXT, b"key-check")).decode("ascii")

    def verify_key_check(self, stored: str) -> None:
        """Raise GalleryKeyError unless this cipher's key made `stored`."""
        try:
            plaintext = self.decrypt(base64.b64decode(stored), b"key-check")
        except GalleryKeyError:
            raise GalleryKeyError(
                f"wrong key: {KEY_ENV} does not open this encrypted gallery"
            ) from None
        if plaintext != _KEY_CHECK_PLAINTEXT:
            raise GalleryKeyError(f"wrong key: {KEY_ENV} does not open this encrypted gallery")


def new_salt() -> bytes:
    """A random per-gallery salt for the key derivation."""
    return os.urandom(16)

"""RS256 verification for PyJWT without `cryptography`, and the user pool's JWKS fetched and cached.

PyJWT verifies RS256 only through `cryptography`, whose Rust extension is 15 MB of the Lambda
package. Verifying is the public half of RSA and small: RSASSA-PKCS1-v1_5 with SHA-256
(RFC 8017 §8.2.2) is one modular exponentiation and a byte-for-byte comparison with the encoding
we build ourselves (never a parse of the decrypted block, which is where forgeries come from).
Signing is not implemented: staff tokens are only ever issued by Cognito.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

import jwt
from jwt.algorithms import Algorithm

# DER of DigestInfo's AlgorithmIdentifier for SHA-256, ahead of the 32-byte digest (RFC 8017 §9.2, note 1).
_SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
# Cognito's keys are 2048-bit; anything below that is refused rather than trusted.
MIN_KEY_BITS = 2048


@dataclass(frozen=True, slots=True)
class RsaPublicKey:
    n: int
    e: int

    @classmethod
    def from_jwk(cls, jwk: dict[str, Any]) -> RsaPublicKey:
        if jwk.get("kty") != "RSA" or not isinstance(jwk.get("n"), str) or not isinstance(jwk.get("e"), str):
            raise jwt.InvalidKeyError("not an RSA public key")
        return cls(_b64_int(jwk["n"]), _b64_int(jwk["e"]))


def _b64_int(value: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


def verify_pkcs1_sha256(message: bytes, signature: bytes, key: RsaPublicKey) -> bool:
    """RSASSA-PKCS1-v1_5-VERIFY with SHA-256 (RFC 8017 §8.2.2)."""
    k = (key.n.bit_length() + 7) // 8
    if key.n.bit_length() < MIN_KEY_BITS or len(signature) != k:
        return False
    if key.e < 3 or key.e % 2 == 0:  # e = 1 would make any block its own signature
        return False
    s = int.from_bytes(signature, "big")
    if s >= key.n:
        return False
    encoded = pow(s, key.e, key.n).to_bytes(k, "big")
    t = _SHA256_DIGEST_INFO + hashlib.sha256(message).digest()
    expected = b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t
    return hmac.compare_digest(encoded, expected)


class RS256(Algorithm):
    """PyJWT's Algorithm interface over `verify_pkcs1_sha256`; verification only."""

    def prepare_key(self, key: Any) -> RsaPublicKey:
        if isinstance(key, RsaPublicKey):
            return key
        numbers = getattr(key, "public_numbers", None)  # a `cryptography` public key, where that is installed
        if callable(numbers):
            nums = numbers()
            return RsaPublicKey(int(nums.n), int(nums.e))
        raise jwt.InvalidKeyError("RS256 needs an RSA public key")

    def sign(self, msg: bytes, key: Any) -> bytes:
        raise NotImplementedError("replydesk only verifies RS256 tokens; Cognito signs them")

    def verify(self, msg: bytes, key: Any, sig: bytes) -> bool:
        return verify_pkcs1_sha256(msg, sig, self.prepare_key(key))

    @staticmethod
    def to_jwk(key_obj: Any, as_dict: bool = False) -> Any:
        raise NotImplementedError("replydesk reads JWKs, it does not write them")

    @staticmethod
    def from_jwk(jwk: str | dict[str, Any]) -> RsaPublicKey:
        return RsaPublicKey.from_jwk(json.loads(jwk) if isinstance(jwk, str) else jwk)


def signature_checker() -> jwt.PyJWS:
    """A PyJWS that knows RS256 (ours) and nothing else, whatever else PyJWT could do here."""
    jws = jwt.PyJWS(algorithms=[])
    jws.register_algorithm("RS256", RS256())
    return jws


@dataclass(frozen=True, slots=True)
class SigningKey:
    key_id: str
    key: RsaPublicKey


class JwksClient:
    """The pool's signing keys by `kid`: fetched once, kept `lifespan` seconds; an unknown `kid` refetches.

    The same contract as PyJWKClient's `get_signing_key` (and its two errors), so the verifier works
    with either; a refetch for an unknown kid happens at most once per `refetch_cooldown`, so a flood
    of forged kids does not become a flood of requests to the pool.
    """

    def __init__(self, url: str, *, lifespan: float, timeout: float, refetch_cooldown: float = 60.0) -> None:
        self.url = url
        self.lifespan = lifespan
        self.timeout = timeout
        self.refetch_cooldown = refetch_cooldown
        self._keys: dict[str, SigningKey] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()

    def _fetch(self) -> None:
        try:
            with urllib.request.urlopen(self.url, timeout=self.timeout) as resp:  # noqa: S310 (the pool's https URL)
                body = json.loads(resp.read())
        except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
            raise jwt.PyJWKClientConnectionError(f"Fail to fetch data from the url, err: {type(exc).__name__}") from exc
        keys: dict[str, SigningKey] = {}
        for jwk in body.get("keys", []) if isinstance(body, dict) else []:
            kid = jwk.get("kid") if isinstance(jwk, dict) else None
            if not isinstance(kid, str) or jwk.get("use", "sig") != "sig" or jwk.get("alg", "RS256") != "RS256":
                continue
            try:
                keys[kid] = SigningKey(kid, RsaPublicKey.from_jwk(jwk))
            except (jwt.InvalidKeyError, ValueError):
                continue
        self._keys = keys
        self._fetched_at = time.monotonic()

    def get_signing_key(self, kid: str) -> SigningKey:
        with self._lock:
            now = time.monotonic()
            stale = self._fetched_at is None or now - self._fetched_at > self.lifespan
            may_refetch = self._fetched_at is None or now - self._fetched_at > self.refetch_cooldown
            if stale or (kid not in self._keys and may_refetch):
                self._fetch()
            key = self._keys.get(kid)
        if key is None:
            raise jwt.PyJWKClientError(f'Unable to find a signing key that matches: "{kid}"')
        return key

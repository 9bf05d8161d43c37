"""RS256 verified without `cryptography` (auth/rs256.py), checked against tokens `cryptography` signs."""

from __future__ import annotations

import base64
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib.auth.rs256 import RS256, RsaPublicKey, signature_checker, verify_pkcs1_sha256

pytestmark = pytest.mark.unit

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public(key: rsa.RSAPrivateKey) -> RsaPublicKey:
    nums = key.public_key().public_numbers()
    return RsaPublicKey(nums.n, nums.e)


def b64(n: int) -> str:
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def signed(key: rsa.RSAPrivateKey = KEY) -> str:
    return jwt.encode({"sub": "abc", "iat": int(time.time())}, key, algorithm="RS256", headers={"kid": "k1"})


def parts(token: str) -> tuple[bytes, bytes]:
    head, body, sig = token.split(".")
    return f"{head}.{body}".encode(), base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))


def test_a_signature_cryptography_made_verifies() -> None:
    # GIVEN a token signed by `cryptography`  WHEN verified with the public key's numbers alone
    message, signature = parts(signed())
    # THEN it verifies, and the JWS decoder returns its payload
    assert verify_pkcs1_sha256(message, signature, public(KEY))
    assert signature_checker().decode_complete(signed(), public(KEY), algorithms=["RS256"])["payload"]


@pytest.mark.parametrize(
    "case",
    ["other key", "payload changed", "signature cut", "signature flipped", "signature = n", "1024-bit key", "e = 1"],
)
@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_what_is_not_a_valid_signature_is_refused(case: str) -> None:
    # GIVEN a signature that is wrong in one way
    message, signature = parts(signed())
    key = public(KEY)
    if case == "other key":
        key = public(OTHER)
    elif case == "payload changed":
        message = message[:-1] + (b"A" if message[-1:] != b"A" else b"B")
    elif case == "signature cut":
        signature = signature[1:]
    elif case == "signature flipped":
        signature = signature[:-1] + bytes([signature[-1] ^ 1])
    elif case == "signature = n":
        signature = key.n.to_bytes(256, "big")
    elif case == "e = 1":
        # a "key" whose exponent is 1 makes the expected block its own signature: a forgery
        import hashlib

        t = bytes.fromhex("3031300d060960864801650304020105000420") + hashlib.sha256(message).digest()
        signature = b"\x00\x01" + b"\xff" * (256 - len(t) - 3) + b"\x00" + t
        key = RsaPublicKey(key.n, 1)
    else:
        small = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 (the point: refused)
        message, signature = parts(signed(small))
        key = public(small)
    # WHEN verified  THEN it is refused
    assert not verify_pkcs1_sha256(message, signature, key)


def test_the_jws_decoder_raises_pyjwts_own_errors() -> None:
    # GIVEN our checker  WHEN a token signed by another key, then an HS256 token, is decoded
    checker = signature_checker()
    # THEN the errors are PyJWT's, which the verifier maps to 401s
    with pytest.raises(jwt.InvalidSignatureError):
        checker.decode_complete(signed(OTHER), public(KEY), algorithms=["RS256"])
    hs = jwt.encode({"sub": "x"}, "a-shared-secret-of-32-bytes-long!", algorithm="HS256")
    with pytest.raises(jwt.InvalidAlgorithmError):
        checker.decode_complete(hs, public(KEY), algorithms=["RS256", "HS256"])


def test_keys_come_from_a_jwk_or_a_cryptography_key() -> None:
    # GIVEN the same key as a JWK and as a `cryptography` key  WHEN prepared  THEN both are the same numbers
    nums = KEY.public_key().public_numbers()
    jwk = {"kty": "RSA", "kid": "k1", "n": b64(nums.n), "e": b64(nums.e), "alg": "RS256", "use": "sig"}
    assert RS256.from_jwk(jwk) == RS256().prepare_key(KEY.public_key()) == public(KEY)
    with pytest.raises(jwt.InvalidKeyError):
        RS256.from_jwk({"kty": "EC", "crv": "P-256"})
    with pytest.raises(NotImplementedError):
        RS256().sign(b"x", KEY)

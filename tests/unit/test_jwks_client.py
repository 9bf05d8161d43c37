"""The pool's JWKS: fetched once, an unknown kid refetches at most once per cooldown, errors are PyJWT's."""

from __future__ import annotations

import base64
import io
import json
import urllib.error
from typing import Any

import jwt
import pytest

from chalicelib.auth import rs256
from chalicelib.auth.rs256 import JwksClient, RsaPublicKey

pytestmark = pytest.mark.unit

N = (1 << 2047) + 12345


def b64(n: int) -> str:
    return base64.urlsafe_b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()


class Pool:
    """Stands in for the HTTPS endpoint only (urlopen), counting fetches."""

    def __init__(self, kids: list[str]) -> None:
        self.kids = kids
        self.fetches = 0
        self.down = False

    def urlopen(self, url: str, timeout: float) -> Any:
        self.fetches += 1
        if self.down:
            raise urllib.error.URLError("connection refused")
        keys = [{"kty": "RSA", "kid": k, "n": b64(N), "e": "AQAB", "alg": "RS256", "use": "sig"} for k in self.kids]
        keys.append({"kty": "EC", "kid": "ec1", "crv": "P-256", "x": "a", "y": "b"})  # skipped, not an error
        return io.BytesIO(json.dumps({"keys": keys}).encode())


@pytest.fixture
def pool(monkeypatch: pytest.MonkeyPatch) -> Pool:
    p = Pool(["k1"])
    monkeypatch.setattr(rs256.urllib.request, "urlopen", p.urlopen)
    return p


def test_keys_are_fetched_once_and_cached(pool: Pool) -> None:
    # GIVEN a client  WHEN the same kid is asked for twice
    client = JwksClient("https://pool/.well-known/jwks.json", lifespan=3600, timeout=3)
    first, second = client.get_signing_key("k1"), client.get_signing_key("k1")
    # THEN one fetch, and the key is the JWK's numbers
    assert pool.fetches == 1
    assert first == second
    assert first.key == RsaPublicKey(N, 65537)


def test_an_unknown_kid_refetches_once_per_cooldown(pool: Pool) -> None:
    # GIVEN keys fetched a moment ago
    client = JwksClient("https://pool/.well-known/jwks.json", lifespan=3600, timeout=3, refetch_cooldown=60)
    client.get_signing_key("k1")
    # WHEN a forged kid is asked for again and again
    for _ in range(3):
        with pytest.raises(jwt.PyJWKClientError):
            client.get_signing_key("forged")
    # THEN the pool was not asked again within the cooldown
    assert pool.fetches == 1
    # AND with no cooldown a rotated key is found by refetching
    pool.kids.append("k2")
    client.refetch_cooldown = 0
    assert client.get_signing_key("k2").key_id == "k2"
    assert pool.fetches == 2


def test_an_unreachable_pool_is_a_connection_error(pool: Pool) -> None:
    # GIVEN the pool cannot be reached  WHEN a key is asked for  THEN PyJWT's connection error (a 503 upstream)
    pool.down = True
    with pytest.raises(jwt.PyJWKClientConnectionError):
        JwksClient("https://pool/.well-known/jwks.json", lifespan=3600, timeout=3).get_signing_key("k1")

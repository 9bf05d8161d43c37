"""The ID token checks one by one, with a key made here (the signing-key lookup is the only seam)."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib.auth.tokens import TokenVerifier
from chalicelib.errors import TransientError, Unauthorized

pytestmark = pytest.mark.unit

ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Pool1"
CLIENT = "client-1"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


class Keys:
    """The pool's keys by kid, as PyJWKClient hands them out."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.fail = fail
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key()))
        self.keys = {"k1": jwt.PyJWK({**public, "kid": "k1", "alg": "RS256"})}

    def get_signing_key(self, kid: str) -> jwt.PyJWK:
        if self.fail is not None:
            raise self.fail
        if kid not in self.keys:
            raise jwt.PyJWKClientError(f'Unable to find a signing key that matches: "{kid}"')
        return self.keys[kid]


def verifier(keys: Keys | None = None) -> TokenVerifier:
    return TokenVerifier(issuer=ISSUER, client_id=CLIENT, jwks_url="unused", jwks_client=keys or Keys())  # type: ignore[arg-type]


def token(key: Any = KEY, kid: str = "k1", **claims: Any) -> str:
    now = int(time.time())
    body = {
        "iss": ISSUER,
        "aud": CLIENT,
        "sub": "abc",
        "token_use": "id",
        "iat": now,
        "exp": now + 3600,
        "cognito:username": "sam",
        "cognito:groups": ["agent"],
        "name": "Sam",
    }
    body.update(claims)
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key, algorithm="RS256", headers={"kid": kid})


def test_a_good_token_names_the_staff_member() -> None:
    staff = verifier().verify(token())
    assert (staff.username, staff.name, staff.groups) == ("sam", "Sam", ("agent",))


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        (token(exp=int(time.time()) - 120), "expired"),
        (token(iss="https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Other"), "another user pool"),
        (token(aud="client-2"), "another app client"),
        (token(token_use="access", aud=None, client_id=CLIENT), "ID token"),
        (token(key=rsa.generate_private_key(public_exponent=65537, key_size=2048)), "signature"),
        (token(kid="k9"), "key this user pool does not have"),
        (token(exp=None), "'exp'"),
        ("not.a.jwt", "not a JWT"),
        (
            jwt.encode({"iss": ISSUER}, "a-shared-secret-of-32-bytes-long!", algorithm="HS256", headers={"kid": "k1"}),
            "RS256",
        ),
    ],
)
def test_each_bad_token_is_refused_with_its_reason(bad: str, words: str) -> None:
    with pytest.raises(Unauthorized, match=words):
        verifier().verify(bad)


def test_unreachable_keys_are_a_transient_error_not_a_401() -> None:
    keys = Keys(fail=jwt.PyJWKClientConnectionError("Fail to fetch data from the url"))
    with pytest.raises(TransientError):
        verifier(keys).verify(token())

"""Cognito ID token verification in our own code: RS256 against the pool's JWKS, iss, aud, token_use, exp."""

from __future__ import annotations

import functools
from typing import Any

import jwt

from chalicelib.auth.roles import Staff
from chalicelib.auth.rs256 import JwksClient, signature_checker
from chalicelib.errors import TransientError, Unauthorized

# A token minted a moment ago on a machine whose clock runs slightly ahead is still fine.
LEEWAY_SECONDS = 30
# Cognito rotates its keys rarely; an unknown `kid` refetches, at most once per cooldown (PyJWT).
JWKS_LIFESPAN_SECONDS = 3600
JWKS_TIMEOUT_SECONDS = 3


class TokenVerifier:
    """Verifies the pool's ID tokens; the JWKS is fetched once and cached per `kid`."""

    def __init__(self, *, issuer: str, client_id: str, jwks_url: str, jwks_client: JwksClient | None = None):
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self.jwks = jwks_client or JwksClient(jwks_url, lifespan=JWKS_LIFESPAN_SECONDS, timeout=JWKS_TIMEOUT_SECONDS)
        # RS256 in pure Python: the Lambda package leaves out `cryptography` (15 MB), see auth/rs256.py.
        self._jws = signature_checker()

    def claims(self, token: str) -> dict[str, Any]:
        """The verified claims; raises Unauthorized naming what is wrong (never the token itself)."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError as exc:
            raise Unauthorized("the token is not a JWT") from exc
        if header.get("alg") != "RS256":
            raise Unauthorized("the token is not signed with RS256")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthorized("the token names no signing key")
        try:
            key = self.jwks.get_signing_key(kid)
        except jwt.PyJWKClientConnectionError as exc:
            raise TransientError("the user pool's signing keys could not be fetched") from exc
        except jwt.PyJWKClientError as exc:
            raise Unauthorized("the token is signed with a key this user pool does not have") from exc
        try:
            # The signature first (our RS256), then PyJWT's claim checks on the verified token.
            public_key: Any = key.key  # ours, or a `cryptography` key from a PyJWKClient: RS256 takes both
            self._jws.decode_complete(token, public_key, algorithms=["RS256"])
            claims: dict[str, Any] = jwt.decode(
                token,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                # `aud` is checked below, after `token_use`: an access token has `client_id` instead.
                options={
                    "verify_signature": False,  # verified just above
                    "verify_exp": True,
                    "verify_nbf": True,
                    "verify_iat": True,
                    "verify_iss": True,
                    "verify_aud": False,
                    "require": ["exp", "iat", "iss", "sub", "token_use"],
                },
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("the token has expired: sign in again or refresh it") from exc
        except jwt.InvalidSignatureError as exc:
            raise Unauthorized("the token's signature is not valid") from exc
        except jwt.InvalidIssuerError as exc:
            raise Unauthorized("the token is from another user pool") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthorized(f"the token has no {exc.claim!r} claim") from exc
        except jwt.InvalidTokenError as exc:
            raise Unauthorized("the token is not valid") from exc
        # The ID token is the one that carries the staff member's name, email and groups.
        if claims.get("token_use") != "id":
            raise Unauthorized("send the ID token, not the access token")
        audience = claims.get("aud")
        if audience != self.client_id and not (isinstance(audience, list) and self.client_id in audience):
            raise Unauthorized("the token is for another app client")
        return claims

    def verify(self, token: str) -> Staff:
        return Staff.from_claims(self.claims(token))


@functools.cache
def verifier_for(issuer: str, client_id: str, jwks_url: str) -> TokenVerifier:
    """One verifier (and so one JWKS cache) per pool; keyed on the settings, so a new stack gets a new one."""
    return TokenVerifier(issuer=issuer, client_id=client_id, jwks_url=jwks_url)

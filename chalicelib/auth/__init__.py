"""Staff authentication: Cognito ID tokens verified in our code, and the role a route needs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.auth.roles import Role, Staff
from chalicelib.config import get_settings
from chalicelib.errors import Forbidden, Unauthorized

if TYPE_CHECKING:
    from chalice.app import Request

    from chalicelib.auth.tokens import TokenVerifier

__all__ = ["Role", "Staff", "TokenVerifier", "authenticate", "bearer_token", "get_verifier"]


def get_verifier() -> TokenVerifier:
    """The verifier for this stage's pool (COGNITO_ISSUER, COGNITO_CLIENT_ID, COGNITO_JWKS_URL)."""
    # Imported here, not at the top: the intake functions import app.py too, and PyJWT with
    # cryptography would add ~70 ms to their cold start for routes they never serve.
    from chalicelib.auth.tokens import verifier_for

    s = get_settings()
    return verifier_for(s.cognito_issuer, s.cognito_client_id, s.cognito_jwks_url)


def bearer_token(request: Request | None) -> str:
    header = (request.headers.get("authorization") if request is not None else None) or ""
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("sign in first: send 'Authorization: Bearer <ID token>'")
    return token.strip()


def authenticate(request: Request | None, *, role: Role = Role.AGENT, verifier: TokenVerifier | None = None) -> Staff:
    """The staff member behind the request's bearer token; Unauthorized (401) or Forbidden (403) otherwise."""
    staff = (verifier or get_verifier()).verify(bearer_token(request))
    if not staff.has(role):
        raise Forbidden(f"this needs the {role.value} role")
    return staff

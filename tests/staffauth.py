"""Staff tokens for tests: real ones from the local pool, and the bad kinds a verifier must refuse."""

from __future__ import annotations

import gzip
import json
import time
import uuid
from importlib import resources
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from local.stack import DEMO_STAFF


def demo(role: str) -> Any:
    return next(u for u in DEMO_STAFF if u.role == role)


def login(stack: Any, username: str, password: str, *, client_id: str | None = None) -> dict[str, Any]:
    """Tokens straight from the pool (as the page gets them through /api/auth/login)."""
    result: dict[str, Any] = stack.client("cognito-idp").initiate_auth(
        ClientId=client_id or stack.env["COGNITO_CLIENT_ID"],
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": password},
    )["AuthenticationResult"]
    return result


def id_token(stack: Any, role: str) -> str:
    user = demo(role)
    return str(login(stack, user.username, user.password)["IdToken"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def claims_for(stack: Any, **overrides: Any) -> dict[str, Any]:
    """The claims of a real agent ID token, with some replaced."""
    claims: dict[str, Any] = jwt.decode(id_token(stack, "agent"), options={"verify_signature": False})
    claims.update(overrides)
    return claims


def forged(claims: dict[str, Any]) -> str:
    """Signed by a key of our own under the pool's key id: the signature check must catch it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "dummy"})


def signed_by_pool(claims: dict[str, Any]) -> str:
    """Signed with the emulator's own pool key, as Cognito would: for tokens it will not mint (expired)."""
    raw = (resources.files("moto") / "cognitoidp/resources/jwks-private.json.gz").read_bytes()
    jwk = json.loads(gzip.decompress(raw))
    key = jwt.PyJWK(jwk).key
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": jwk["kid"]})


def expired(stack: Any) -> str:
    now = int(time.time())
    return signed_by_pool(claims_for(stack, iat=now - 7200, auth_time=now - 7200, exp=now - 3600))


def other_pool(stack: Any) -> str:
    """A valid ID token of another user pool (same emulator, so even the same signing key)."""
    idp = stack.client("cognito-idp")
    pool = idp.create_user_pool(PoolName=f"other-{uuid.uuid4().hex[:8]}")["UserPool"]["Id"]
    client = idp.create_user_pool_client(
        UserPoolId=pool, ClientName="other", ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"]
    )["UserPoolClient"]["ClientId"]
    idp.create_group(UserPoolId=pool, GroupName="admin")
    idp.admin_create_user(UserPoolId=pool, Username="intruder", MessageAction="SUPPRESS")
    idp.admin_set_user_password(UserPoolId=pool, Username="intruder", Password="Intruder-pass1", Permanent=True)
    idp.admin_add_user_to_group(UserPoolId=pool, Username="intruder", GroupName="admin")
    return str(login(stack, "intruder", "Intruder-pass1", client_id=client)["IdToken"])


def other_client(stack: Any) -> str:
    """A valid ID token of this pool, issued to another app client."""
    idp = stack.client("cognito-idp")
    client = idp.create_user_pool_client(
        UserPoolId=stack.env["COGNITO_USER_POOL_ID"],
        ClientName=f"other-{uuid.uuid4().hex[:8]}",
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"],
    )["UserPoolClient"]["ClientId"]
    user = demo("admin")
    return str(login(stack, user.username, user.password, client_id=client)["IdToken"])


def agent_headers(stack: Any) -> dict[str, str]:
    """The demo agent's bearer header, with the models bound to the stack's tables for direct reads."""
    from chalicelib.runtime import get_runtime

    get_runtime()
    return bearer(id_token(stack, "agent"))


def conversation(client: Any, headers: dict[str, str], ref: str) -> dict[str, Any]:
    """GET /api/conversations/{ref} through a Chalice test client; asserts it answered 200."""
    resp = client.http.get(f"/api/conversations/{ref}", headers=headers)
    assert resp.status_code == 200, resp.body
    body: dict[str, Any] = resp.json_body
    return body

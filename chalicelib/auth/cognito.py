"""Sign-in through our API with the pool's app client (no secret): login, new password, refresh, sign-out."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import RETRYABLE_AWS_CODES, TooManyRequests, TransientError, Unauthorized, ValidationError

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient
    from mypy_boto3_cognito_idp.type_defs import InitiateAuthResponseTypeDef, RespondToAuthChallengeResponseTypeDef

    # Annotations only: PyJWT is imported when a staff route first verifies a token, not by every function.
    from chalicelib.auth.tokens import TokenVerifier

MAX_USERNAME = 128
MAX_PASSWORD = 256
MAX_TOKEN = 8192
WRONG_CREDENTIALS = "wrong username or password"


def _field(body: Mapping[str, Any], name: str, limit: int) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"'{name}' is required", field=name)
    if len(value) > limit:
        raise ValidationError(f"'{name}' is longer than {limit} characters", field=name)
    return value.strip() if name == "username" else value


@contextmanager
def _cognito(unauthorized: str) -> Iterator[None]:
    """Cognito's refusals as our errors; the caller learns nothing about which users exist."""
    try:
        yield
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("NotAuthorizedException", "UserNotFoundException", "UserNotConfirmedException"):
            raise Unauthorized(unauthorized) from exc
        if code == "PasswordResetRequiredException":
            raise Unauthorized("a password reset is required: ask an admin to reset it") from exc
        if code == "InvalidPasswordException":
            # Cognito's message names the policy rule that failed, nothing personal.
            raise ValidationError(str(exc.response["Error"].get("Message", "")), field="new_password") from exc
        if code in ("TooManyRequestsException", "LimitExceededException", "TooManyFailedAttemptsException"):
            raise TooManyRequests("too many sign-in attempts: wait a minute and try again") from exc
        if code in RETRYABLE_AWS_CODES or code.startswith("InternalError"):
            raise TransientError("the user pool is unavailable") from exc
        raise
    except BotoCoreError as exc:
        raise TransientError("the user pool is unavailable") from exc


def _tokens(
    response: InitiateAuthResponseTypeDef | RespondToAuthChallengeResponseTypeDef,
    verifier: TokenVerifier,
    *,
    refresh_token: str | None = None,
) -> dict[str, Any]:
    result = response.get("AuthenticationResult")
    if result is None:
        challenge = response.get("ChallengeName")
        if challenge == "NEW_PASSWORD_REQUIRED":
            return {"challenge": challenge, "session": response.get("Session", "")}
        # The pool has no MFA or custom auth; any other challenge is a configuration the console cannot finish.
        raise Unauthorized(f"sign-in needs the {challenge} step, which the console does not support")
    id_token = result["IdToken"]
    return {
        "id_token": id_token,
        "access_token": result["AccessToken"],
        # A refresh answers without a new refresh token: the old one stays valid.
        "refresh_token": result.get("RefreshToken") or refresh_token,
        "expires_in": result["ExpiresIn"],
        "token_type": "Bearer",
        "staff": verifier.verify(id_token).to_dict(),
    }


def login(
    body: Mapping[str, Any], *, idp: CognitoIdentityProviderClient, client_id: str, verifier: TokenVerifier
) -> dict[str, Any]:
    """Tokens for a username and password, or the NEW_PASSWORD_REQUIRED challenge of an invited user."""
    username = _field(body, "username", MAX_USERNAME)
    password = _field(body, "password", MAX_PASSWORD)
    with _cognito(WRONG_CREDENTIALS):
        response = idp.initiate_auth(
            ClientId=client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": password},
        )
    return _tokens(response, verifier)


def new_password(
    body: Mapping[str, Any], *, idp: CognitoIdentityProviderClient, client_id: str, verifier: TokenVerifier
) -> dict[str, Any]:
    """Answer NEW_PASSWORD_REQUIRED (first sign-in of an invited staff member) and return the tokens."""
    username = _field(body, "username", MAX_USERNAME)
    session = _field(body, "session", MAX_TOKEN)
    password = _field(body, "new_password", MAX_PASSWORD)
    with _cognito("the sign-in session has expired: sign in again"):
        response = idp.respond_to_auth_challenge(
            ClientId=client_id,
            ChallengeName="NEW_PASSWORD_REQUIRED",
            Session=session,
            ChallengeResponses={"USERNAME": username, "NEW_PASSWORD": password},
        )
    return _tokens(response, verifier)


def refresh(
    body: Mapping[str, Any], *, idp: CognitoIdentityProviderClient, client_id: str, verifier: TokenVerifier
) -> dict[str, Any]:
    """New ID and access tokens for a refresh token that has not been revoked."""
    token = _field(body, "refresh_token", MAX_TOKEN)
    with _cognito("the session has ended: sign in again"):
        response = idp.initiate_auth(
            ClientId=client_id, AuthFlow="REFRESH_TOKEN_AUTH", AuthParameters={"REFRESH_TOKEN": token}
        )
    return _tokens(response, verifier, refresh_token=token)


def logout(
    body: Mapping[str, Any], *, idp: CognitoIdentityProviderClient, client_id: str | None = None
) -> dict[str, Any]:
    """Sign the staff member out: Cognito revokes their refresh tokens, so no new ID token can be had.

    GlobalSignOut (with an access token) rather than RevokeToken: both are Cognito's own APIs, and the
    emulator implements only this one. Given only the refresh token, it is exchanged for an access token
    first. It ends every session of this staff member, not just this tab's. An ID token already issued
    stays valid until it expires (at most an hour): JWTs are not looked up per request.
    """
    if body.get("access_token"):
        token = _field(body, "access_token", MAX_TOKEN)
    else:
        refresh_token = _field(body, "refresh_token", MAX_TOKEN)
        if client_id is None:
            raise ValidationError("'access_token' is required", field="access_token")
        with _cognito("already signed out"):
            result = idp.initiate_auth(
                ClientId=client_id, AuthFlow="REFRESH_TOKEN_AUTH", AuthParameters={"REFRESH_TOKEN": refresh_token}
            )
        token = result["AuthenticationResult"]["AccessToken"]
    with _cognito("already signed out"):
        idp.global_sign_out(AccessToken=token)
    return {"signed_out": True}


def public_config(*, region: str, user_pool_id: str, client_id: str, issuer: str) -> dict[str, Any]:
    """What the console page may know about the pool (nothing secret: the app client has no secret)."""
    return {
        "region": region,
        "user_pool_id": user_pool_id,
        "client_id": client_id,
        "issuer": issuer,
        "token": "Send the ID token as 'Authorization: Bearer <id_token>'.",
        "routes": {
            "login": "/api/auth/login",
            "password": "/api/auth/password",
            "refresh": "/api/auth/refresh",
            "logout": "/api/auth/logout",
        },
    }

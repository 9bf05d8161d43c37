"""Public sign-in routes under /api/auth: the console page never talks to Cognito directly."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint

from chalicelib import aws
from chalicelib.api.errors import http_errors
from chalicelib.api.staff import json_body
from chalicelib.auth import cognito, get_verifier
from chalicelib.config import get_settings

auth_api = Blueprint(__name__)
_JSON = ["application/json"]


@auth_api.route("/config", methods=["GET"])
def auth_config() -> dict[str, Any]:
    s = get_settings()
    return cognito.public_config(
        region=s.region, user_pool_id=s.cognito_user_pool_id, client_id=s.cognito_client_id, issuer=s.cognito_issuer
    )


@auth_api.route("/login", methods=["POST"], content_types=_JSON)
def auth_login() -> dict[str, Any]:
    with http_errors():
        return cognito.login(
            json_body(auth_api),
            idp=aws.cognito_idp(),
            client_id=get_settings().cognito_client_id,
            verifier=get_verifier(),
        )


@auth_api.route("/password", methods=["POST"], content_types=_JSON)
def auth_new_password() -> dict[str, Any]:
    with http_errors():
        return cognito.new_password(
            json_body(auth_api),
            idp=aws.cognito_idp(),
            client_id=get_settings().cognito_client_id,
            verifier=get_verifier(),
        )


@auth_api.route("/refresh", methods=["POST"], content_types=_JSON)
def auth_refresh() -> dict[str, Any]:
    with http_errors():
        return cognito.refresh(
            json_body(auth_api),
            idp=aws.cognito_idp(),
            client_id=get_settings().cognito_client_id,
            verifier=get_verifier(),
        )


@auth_api.route("/logout", methods=["POST"], content_types=_JSON)
def auth_logout() -> dict[str, Any]:
    with http_errors():
        return cognito.logout(json_body(auth_api), idp=aws.cognito_idp(), client_id=get_settings().cognito_client_id)

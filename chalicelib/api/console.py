"""The staff console's JSON API (Blueprint under /api): every route behind `staff_route`."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint

from chalicelib import aws
from chalicelib.api.staff import json_body, staff_route
from chalicelib.auth import Role, Staff
from chalicelib.config import get_settings
from chalicelib.console import detail, staffadmin
from chalicelib.reply import staff_reply
from chalicelib.runtime import get_runtime

console_api = Blueprint(__name__)
_JSON = ["application/json"]


@staff_route(console_api, "/me")
def me(staff: Staff) -> dict[str, Any]:
    return staff.to_dict()


@staff_route(console_api, "/conversations/{conversation_id}")
def get_conversation(staff: Staff, conversation_id: str) -> dict[str, Any]:
    get_runtime()  # binds the models to this stage's tables
    return detail.conversation_detail(conversation_id)


@staff_route(console_api, "/conversations/{conversation_id}/reply", methods=["POST"], content_types=_JSON)
def reply_to_conversation(staff: Staff, conversation_id: str) -> dict[str, Any]:
    body = json_body(console_api)
    return staff_reply(
        conversation_id,
        str(body.get("text") or ""),
        # Who answered comes from the token, never from the body.
        sent_by=staff.display_name,
        # The client generates the key so a double-click or a retry sends once.
        idempotency_key=str(body.get("idempotency_key") or ""),
        rt=get_runtime(),
        wait_for_customer=bool(body.get("wait_for_customer", True)),
    )


@staff_route(console_api, "/staff", role=Role.ADMIN)
def list_staff(staff: Staff) -> list[dict[str, Any]]:
    return staffadmin.list_staff(idp=aws.cognito_idp(), pool_id=get_settings().cognito_user_pool_id)

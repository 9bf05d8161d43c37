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
    from chalicelib.library import service as library

    body = json_body(console_api)
    rt = get_runtime()
    if body.get("offer_id"):
        library.check_offer(conversation_id, str(body["offer_id"]), rt=rt)  # before anything is sent
    result = staff_reply(
        conversation_id,
        str(body.get("text") or ""),
        # Who answered comes from the token, never from the body.
        sent_by=staff.display_name,
        # The client generates the key so a double-click or a retry sends once.
        idempotency_key=str(body.get("idempotency_key") or ""),
        rt=rt,
        wait_for_customer=bool(body.get("wait_for_customer", True)),
        # The library template the answer came from (400 naming a missing required input), stored on the message.
        template=library.reply_template(conversation_id, body, rt=rt),
    )
    if body.get("offer_id") and result.get("sent") and not result.get("duplicate"):
        library.record_offer_sent(
            conversation_id,
            str(body["offer_id"]),
            message_id=str(result.get("message_id") or ""),
            rt=rt,
            agent={"username": staff.username, "name": staff.display_name},
        )
    return result


@staff_route(console_api, "/staff", role=Role.ADMIN)
def list_staff(staff: Staff) -> list[dict[str, Any]]:
    return staffadmin.list_staff(idp=aws.cognito_idp(), pool_id=get_settings().cognito_user_pool_id)

"""The staff console's JSON API (Blueprint under /api): every route behind `staff_route`."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, Response

from chalicelib import aws
from chalicelib.api.staff import json_body, staff_route
from chalicelib.auth import Role, Staff
from chalicelib.config import get_settings
from chalicelib.runtime import get_runtime

console_api = Blueprint(__name__)
_JSON = ["application/json"]


def _query(name: str) -> str | None:
    params = console_api.current_request.query_params
    value = params.get(name) if params is not None else None
    return str(value) if value else None


def _access(staff: Staff) -> Any:
    """The queues this staff member works (per-queue access), checked by every conversation route."""
    from chalicelib.console.access import queue_access

    return queue_access(staff)


def _viewers(conversation_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    from chalicelib.console import presence

    rt = get_runtime()
    return presence.viewers(
        ddb=aws.dynamodb(), table=rt.settings.presence_table, conversation_ids=conversation_ids, now=rt.clock()
    )


@staff_route(console_api, "/me")
def me(staff: Staff) -> dict[str, Any]:
    # `queues`: the queues this staff member works (per-queue access), in the campaign's order.
    return {**staff.to_dict(), "queues": _access(staff).visible(get_runtime().campaign.queues)}


@staff_route(console_api, "/queues")
def list_queues(staff: Staff) -> list[dict[str, Any]]:
    from chalicelib.console import gauge

    rt = get_runtime()
    # The counts of a gauge refreshed every minute (console/gauge.py): one GetItem per poll.
    return gauge.cached_counts(
        ddb=aws.dynamodb(),
        presence_table=rt.settings.presence_table,
        conversations_table=rt.settings.conversations_table,
        campaign=rt.campaign,
        now=rt.clock(),
        access=_access(staff),
    )


@staff_route(console_api, "/conversations")
def list_conversations(staff: Staff) -> Response:
    from chalicelib.console import queues

    rt = get_runtime()
    page = queues.conversation_page(
        ddb=aws.dynamodb(),
        table=rt.settings.conversations_table,
        campaign=rt.campaign,
        view=queues.parse_view(_query("view")),
        queue=_query("queue"),
        username=staff.username,
        cursor=_query("cursor"),
        limit=queues.parse_limit(_query("limit")),
        now=rt.clock(),
        presence=_viewers,
        access=_access(staff),
    )
    tag = queues.etag(page)
    headers: dict[str, str | list[str]] = {"ETag": tag, "Cache-Control": "private, no-cache"}
    if console_api.current_request.headers.get("if-none-match") == tag:
        return Response(body="", status_code=304, headers=headers)
    return Response(body=page, status_code=200, headers=headers)


@staff_route(console_api, "/conversations/{conversation_id}")
def get_conversation(staff: Staff, conversation_id: str) -> dict[str, Any]:
    from chalicelib.console import detail

    rt = get_runtime()
    viewers = _viewers([conversation_id]).get(conversation_id, [])
    return detail.conversation_detail(
        conversation_id, now=rt.clock(), viewers=viewers, library=rt.templates, access=_access(staff)
    )


@staff_route(console_api, "/customers/{customer_id}")
def get_customer(staff: Staff, customer_id: str) -> dict[str, Any]:
    from chalicelib.console import customers

    get_runtime()  # binds the models to this stage's tables
    return customers.customer_view(customer_id, access=_access(staff))


@staff_route(console_api, "/customers/merge", methods=["POST"], role=Role.SUPERVISOR, content_types=_JSON)
def merge_customers(staff: Staff) -> dict[str, Any]:
    from chalicelib.console import merge

    rt = get_runtime()
    return merge.merge_customers(json_body(console_api), staff=staff, ddb=aws.dynamodb(), now=rt.clock())


@staff_route(console_api, "/conversations/{conversation_id}/reply", methods=["POST"], content_types=_JSON)
def reply_to_conversation(staff: Staff, conversation_id: str) -> dict[str, Any]:
    from chalicelib.library import service as library
    from chalicelib.reply import staff_reply

    body = json_body(console_api)
    rt = get_runtime()
    _access(staff).check_id(conversation_id)
    if body.get("offer_id"):
        library.check_offer(conversation_id, str(body["offer_id"]), rt=rt)  # before anything is sent
    result = staff_reply(
        conversation_id,
        str(body.get("text") or ""),
        # Who answered comes from the token, never from the body.
        sent_by=staff.display_name,
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


@staff_route(console_api, "/conversations/{conversation_id}", methods=["PATCH"], content_types=_JSON)
def patch_conversation(staff: Staff, conversation_id: str) -> dict[str, Any]:
    from chalicelib.console import actions

    rt = get_runtime()
    _access(staff).check_id(conversation_id)
    return actions.patch_conversation(conversation_id, json_body(console_api), staff=staff, rt=rt)


@staff_route(console_api, "/conversations/{conversation_id}/notes", methods=["POST"], content_types=_JSON)
def add_note(staff: Staff, conversation_id: str) -> dict[str, Any]:
    from chalicelib.console import mentions

    rt = get_runtime()
    _access(staff).check_id(conversation_id)
    return mentions.add_note(
        conversation_id,
        json_body(console_api),
        staff=staff,
        rt=rt,
        idp=aws.cognito_idp(),
        pool_id=get_settings().cognito_user_pool_id,
    )


@staff_route(console_api, "/conversations/{conversation_id}/callback", methods=["POST"], content_types=_JSON)
def request_callback(staff: Staff, conversation_id: str) -> dict[str, Any]:
    from chalicelib.console import actions

    rt = get_runtime()
    _access(staff).check_id(conversation_id)
    return actions.request_callback(conversation_id, staff=staff, rt=rt)


@staff_route(console_api, "/conversations/{conversation_id}/presence", methods=["POST"], content_types=_JSON)
def post_presence(staff: Staff, conversation_id: str) -> dict[str, Any]:
    from chalicelib.console import presence

    rt = get_runtime()
    _access(staff).check_id(conversation_id)
    state = presence.parse_state(json_body(console_api).get("state"))
    viewers = presence.beat(
        ddb=aws.dynamodb(),
        table=rt.settings.presence_table,
        conversation_id=conversation_id,
        username=staff.username,
        name=staff.display_name,
        state=state,
        now=rt.clock(),
    )
    return {"viewers": viewers}


@staff_route(console_api, "/search")
def search_everything(staff: Staff) -> dict[str, Any]:
    from chalicelib.console import search

    return search.search(_query("q") or "", campaign=get_runtime().campaign, access=_access(staff))


@staff_route(console_api, "/mentions")
def my_mentions(staff: Staff) -> dict[str, Any]:
    from chalicelib.console import search

    get_runtime()  # binds the models to this stage's tables
    return search.mentioned(staff.username, access=_access(staff))


@staff_route(console_api, "/staff")
def list_staff(staff: Staff) -> list[dict[str, Any]]:
    from chalicelib.console import staffadmin

    # Everyone may see who the colleagues are (mentions, assignment); only an admin sees emails and roles.
    return staffadmin.staff_for(
        staff,
        idp=aws.cognito_idp(),
        pool_id=get_settings().cognito_user_pool_id,
        queues=list(get_runtime().campaign.queues),
    )


@staff_route(console_api, "/staff", methods=["POST"], role=Role.ADMIN, content_types=_JSON)
def invite_staff(staff: Staff) -> dict[str, Any]:
    from chalicelib.console import staffadmin

    return staffadmin.invite(
        json_body(console_api),
        idp=aws.cognito_idp(),
        pool_id=get_settings().cognito_user_pool_id,
        by=staff,
        ddb=aws.dynamodb(),
        now=get_runtime().clock(),
    )


@staff_route(console_api, "/staff/{username}", methods=["PATCH"], role=Role.ADMIN, content_types=_JSON)
def update_staff(staff: Staff, username: str) -> dict[str, Any]:
    from chalicelib.console import staffadmin

    return staffadmin.update(
        username,
        json_body(console_api),
        idp=aws.cognito_idp(),
        pool_id=get_settings().cognito_user_pool_id,
        by=staff,
        ddb=aws.dynamodb(),
        now=get_runtime().clock(),
        queues=list(get_runtime().campaign.queues),
    )

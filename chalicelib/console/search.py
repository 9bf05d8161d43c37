"""Console search: reference, email and phone exactly (the conversation key, the identities table),
customer names and message words through the inverted index (chalicelib/searchindex.py).

Results are as fresh as the stored messages: a message is indexed when it is stored.
"""

from __future__ import annotations

import re
from typing import Any

from chalicelib import searchindex, store
from chalicelib.config import Campaign
from chalicelib.console.access import QueueAccess
from chalicelib.errors import ValidationError
from chalicelib.models import ConversationModel, CustomerModel, IdentityModel, SearchTokenModel

MAX_QUERY = 200
MAX_TERMS = 5
PER_TERM = 200
MAX_RESULTS = 25
_REF_RE = re.compile(r"^[A-Z]{2,4}-[A-Z0-9]{6,8}$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE_RE = re.compile(r"^\+?[\d\s().-]{7,20}$")


def _conversation_row(c: ConversationModel) -> dict[str, Any]:
    return {
        "conversation_id": c.conversation_id,
        "reference": c.reference,
        "customer_id": c.customer_id,
        "subject": c.subject,
        "status": c.status,
        "channel": c.channel,
        "topic": c.topic,
        "queue": c.queue,
        "updated_at": c.updated_at,
    }


def _customer_rows(ids: list[str]) -> list[dict[str, Any]]:
    if not ids:
        return []
    found = {c.customer_id: c for c in CustomerModel.batch_get(ids[:MAX_RESULTS])}
    return [{"customer_id": i, "name": found[i].name} for i in ids if i in found]


def _conversations(ids: list[str]) -> list[dict[str, Any]]:
    if not ids:
        return []
    found = {c.conversation_id: c for c in ConversationModel.batch_get(ids[:MAX_RESULTS])}
    rows = [_conversation_row(found[i]) for i in ids if i in found]
    return sorted(rows, key=lambda r: str(r["updated_at"]), reverse=True)


def _by_identity(identity: str) -> dict[str, Any]:
    try:
        customer_id = IdentityModel.get(identity).customer_id
    except IdentityModel.DoesNotExist:
        return {"conversations": [], "customers": []}
    convs = store.customer_conversations(customer_id, limit=MAX_RESULTS)
    return {"conversations": [_conversation_row(c) for c in convs], "customers": _customer_rows([customer_id])}


def _phone(q: str, campaign: Campaign) -> str | None:
    # Imported on the first phone search, not with the staff API: ~20 ms of its cold start (issue 13).
    import phonenumbers

    region = (
        phonenumbers.region_code_for_number(phonenumbers.parse(campaign.sms.number)) if campaign.sms.number else None
    )
    try:
        number = phonenumbers.parse(q, None if q.startswith("+") else region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _all_terms(prefix: str, words: list[str]) -> list[str]:
    """Refs holding every word: one Query per word (at most MAX_TERMS), intersected, newest first."""
    result: list[str] | None = None
    for word in words[:MAX_TERMS]:
        hits = {h.ref: h.at or "" for h in SearchTokenModel.query(prefix + word, limit=PER_TERM)}
        if result is None:
            result = sorted(hits, key=lambda r: hits[r], reverse=True)
        else:
            result = [r for r in result if r in hits]
        if not result:
            return []
    return result or []


def search(q: str, *, campaign: Campaign, access: QueueAccess | None = None) -> dict[str, Any]:
    """`{conversations, customers, matched}`: what the query found and how it was read; an agent's
    conversations only from the queues they work (`access`)."""
    found = _search(q, campaign=campaign)
    if access is not None and not access.unrestricted:
        found["conversations"] = [c for c in found["conversations"] if access.allows(c.get("queue"))]
    return found


def _search(q: str, *, campaign: Campaign) -> dict[str, Any]:
    q = (q or "").strip()
    if not q:
        raise ValidationError("'q' is required", field="q")
    if len(q) > MAX_QUERY:
        raise ValidationError(f"'q' is longer than {MAX_QUERY} characters", field="q")
    if _REF_RE.match(q.upper()):
        conv = store.get_conversation(q.upper())
        if conv is not None:
            return {"matched": "reference", "conversations": [_conversation_row(conv)], "customers": []}
    if _EMAIL_RE.match(q):
        return {"matched": "email", **_by_identity(f"email#{q.lower()}")}
    if _PHONE_RE.match(q) and sum(ch.isdigit() for ch in q) >= 7:
        e164 = _phone(q, campaign)
        if e164:
            return {"matched": "phone", **_by_identity(f"phone#{e164}")}
    words = searchindex.tokens(q)
    if not words:
        raise ValidationError("search for at least one word of two letters or more", field="q")
    return {
        "matched": "text",
        "customers": _customer_rows(_all_terms(searchindex.NAME, words)),
        "conversations": _conversations(_all_terms(searchindex.WORD, words)),
    }


def mentioned(username: str, access: QueueAccess | None = None) -> dict[str, Any]:
    """Conversations whose internal notes @mention this staff member, newest note first (one Query)."""
    hits = sorted(
        SearchTokenModel.query(searchindex.MENTION + username.lower(), limit=PER_TERM),
        key=lambda h: h.at or "",
        reverse=True,
    )
    latest: dict[str, str] = {}
    for h in hits:  # newest first: the first hit of a conversation is its latest mention
        latest.setdefault(h.ref, h.at or "")
    ids = list(latest)
    found = {c.conversation_id: c for c in ConversationModel.batch_get(ids[:MAX_RESULTS])} if ids else {}
    rows = [
        _conversation_row(found[i]) | {"mentioned_at": latest[i]}
        for i in ids
        if i in found and (access is None or access.allows(found[i].queue))
    ]
    names = {c["customer_id"]: c["name"] for c in _customer_rows(list(dict.fromkeys(r["customer_id"] for r in rows)))}
    # `mentioned_at` lets the console count what is new since the agent last looked; `customer` is the
    # list row's customer cell.
    for r in rows:
        r["customer"] = {"customer_id": r["customer_id"], "name": names.get(r["customer_id"])}
    return {"conversations": rows}

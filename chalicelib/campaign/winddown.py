"""A retiring campaign's open conversations, from inside the stack: closed with a final message, or moved.

`replydesk campaign retire --step open-conversations` asks for these through the events queue, so
they run with the stack's own settings, clients and template library, exactly as a staff reply does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib import store, workflow
from chalicelib.auth import Staff
from chalicelib.errors import Conflict, InvalidInput, NotFound, TransientError, ValidationError
from chalicelib.inbound import Channel
from chalicelib.models import EffectStatus, Status
from chalicelib.observability import logger
from chalicelib.outbox import Effect, Kind, Policy

if TYPE_CHECKING:
    from chalicelib.models import ConversationModel
    from chalicelib.runtime import Runtime

# The events' actions (chalicelib/workflow_events.py hands them here).
CLOSE_ACTION = "retire_close"
REASSIGN_ACTION = "retire_reassign"
# Work still waiting for staff or the customer; resolved and closed conversations are done.
OPEN_STATUSES = (Status.NEW.value, Status.OPEN.value, Status.PENDING_CUSTOMER.value)
CLOSING_KIND = "closing_message"  # the timeline entry of the final message
# Who the timeline and the audit name for these changes; a supervisor may move anyone's work.
RETIRE_STAFF = Staff(
    sub="replydesk-retire", username="retire", email="", name="campaign retire", groups=("supervisor",)
)
_ATTEMPTS = 3  # a staff change in between makes the conditional write fail; read again and retry


def closing_effect_id(conversation_id: str) -> str:
    """One final message per conversation, whatever the number of requests or redeliveries."""
    return f"closing-{conversation_id}"


def _current(conversation_id: str) -> ConversationModel:
    conv = store.get_conversation(conversation_id)
    if conv is None:
        raise InvalidInput(f"retire: no conversation {conversation_id}")
    return conv


def _patch(conversation_id: str, body: dict[str, Any], rt: Runtime) -> ConversationModel:
    from chalicelib.console.actions import patch_conversation

    for _ in range(_ATTEMPTS):
        conv = _current(conversation_id)
        try:
            patch_conversation(conversation_id, {**body, "version": int(conv.version or 0)}, staff=RETIRE_STAFF, rt=rt)
            return _current(conversation_id)
        except Conflict:
            continue
        except ValidationError as exc:  # e.g. a malformed username: never right on a retry
            raise InvalidInput(f"retire: {exc}") from exc
    raise TransientError(f"retire: {conversation_id} kept changing while it was being updated")


def close_conversation(conversation_id: str, *, rt: Runtime) -> dict[str, Any]:
    """Send the closing message in the conversation's language at most once, record it, then close it.

    A redelivered request finds the outbox record (nothing is sent again) and the timeline entry
    (nothing is recorded twice); a closed conversation is left as it is.
    """
    conv = _current(conversation_id)
    if conv.status not in OPEN_STATUSES:
        return {"action": CLOSE_ACTION, "closed": False, "reason": f"already {conv.status}"}
    campaign = rt.campaign
    language = conv.language or campaign.default_language
    text = campaign.closing.message_for(language)
    if not text:
        raise InvalidInput("retire: the campaign has no closing.message to tell the customer")
    effect = Effect(
        effect_id=closing_effect_id(conversation_id),
        kind=Kind.REPLY,
        policy=Policy.AT_MOST_ONCE,  # a closing message is better lost than sent twice
        channel=Channel.EMAIL.value,
        target_kind="email",
        conversation_id=conversation_id,
    )
    from chalicelib.reply import send_final_message

    try:
        delivery = send_final_message(conv, effect=effect, text=text, sent_by=campaign.sender_name, rt=rt)
        by = "SMS" if conv.channel == Channel.SMS.value else "email"  # a web form is answered by email
        outcome = (
            f"sent by {by} ({language})"
            if delivery.status in (EffectStatus.SENT, EffectStatus.UNKNOWN)
            else f"not sent: {delivery.reason or delivery.status.value}"
        )
    except NotFound:
        outcome = "not sent: no customer address to answer"
    if not any(_kind(e) == CLOSING_KIND for e in conv.timeline or ()):
        entry = workflow.TimelineEntry(rt.clock(), CLOSING_KIND, f"campaign retired: closing message {outcome}")
        store.add_timeline_once(conversation_id, entry.to_item(), condition=_still_open())
    _patch(conversation_id, {"status": Status.CLOSED.value}, rt)
    logger.info("conversation closed by retire", extra={"conversation_id": conversation_id, "outcome": outcome})
    return {"action": CLOSE_ACTION, "closed": True, "message": outcome}


def reassign_conversation(
    conversation_id: str, *, queue: str | None, assignee: str | None, rt: Runtime
) -> dict[str, Any]:
    """Move open work to another queue and/or staff member (a supervisor's change, with the clock following)."""
    conv = _current(conversation_id)
    if conv.status not in OPEN_STATUSES:
        return {"action": REASSIGN_ACTION, "moved": False, "reason": f"already {conv.status}"}
    if queue is not None and queue not in rt.campaign.queues:
        raise InvalidInput(f"retire: unknown queue {queue!r}")
    body: dict[str, Any] = {}
    if queue is not None and conv.queue != queue:
        body["queue"] = queue
    if assignee is not None and conv.assignee != assignee:
        body["assignee"] = assignee
    if not body:
        return {"action": REASSIGN_ACTION, "moved": False, "reason": "already there"}
    _patch(conversation_id, body, rt)
    logger.info("conversation moved by retire", extra={"conversation_id": conversation_id, "fields": sorted(body)})
    return {"action": REASSIGN_ACTION, "moved": True}


def handle_retire_event(data: dict[str, Any], rt: Runtime) -> dict[str, Any]:
    conversation_id = str(data["conversation_id"])
    if data.get("action") == CLOSE_ACTION:
        return close_conversation(conversation_id, rt=rt)
    queue, assignee = data.get("queue"), data.get("assignee")
    return reassign_conversation(
        conversation_id,
        queue=str(queue) if queue else None,
        assignee=str(assignee) if assignee else None,
        rt=rt,
    )


def _kind(entry: Any) -> str:
    # PynamoDB hands back raw MapAttribute objects inside the timeline list.
    data = entry.as_dict() if hasattr(entry, "as_dict") else entry
    return str(data.get("kind", "")) if isinstance(data, dict) else ""


def _still_open() -> Any:
    from chalicelib.models import ConversationModel

    return ConversationModel.status.is_in(*OPEN_STATUSES)

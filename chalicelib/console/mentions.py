"""@mentions in internal notes: each mentioned colleague gets one email with a link to the console, nothing more."""

from __future__ import annotations

from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chalicelib import outbox, store
from chalicelib.auth import Staff
from chalicelib.console import actions
from chalicelib.console.access import queue_access
from chalicelib.delivery import email_message_id
from chalicelib.errors import TransientError
from chalicelib.observability import logger
from chalicelib.outbox import Effect, Kind, Policy, Sent

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient

    from chalicelib.runtime import Runtime


def mention_effect_id(note_source_id: str, username: str) -> str:
    """One mail per note and colleague: the same note stored again (its idempotency key) finds the record."""
    return "mention-" + store.stable_id("mention", note_source_id, username)


def colleague(idp: CognitoIdentityProviderClient, pool_id: str, username: str) -> Staff | None:
    """An enabled staff member with their email and groups, from the Cognito user; None when there is no
    such colleague (or they are disabled)."""
    try:
        user = idp.admin_get_user(UserPoolId=pool_id, Username=username)
        if not user.get("Enabled", True):
            return None
        groups = idp.admin_list_groups_for_user(UserPoolId=pool_id, Username=username, Limit=60).get("Groups", [])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "UserNotFoundException":
            return None
        raise TransientError("the user pool is unavailable") from exc
    attrs = {a["Name"]: a.get("Value", "") for a in user.get("UserAttributes", [])}
    return Staff(
        sub=attrs.get("sub", ""),
        username=username,
        email=attrs.get("email", ""),
        name=attrs.get("name", ""),
        groups=tuple(g["GroupName"] for g in groups),
    )


def mention_mail(
    *, to: str, reference: str, author: Staff, brand: str, sender: str, console_url: str | None, message_id: str
) -> EmailMessage:
    """The notice: who mentioned you on which conversation, and where to read it. No customer text, no note
    text (a note quotes customers): the console, behind its login, is where the content is."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = f"{brand}: {author.display_name} mentioned you on {reference}"
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = f"<{message_id}>"
    # RFC 3834: generated, not a reply; autoresponders stay silent.
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    where = f"Open it in the console: {console_url}" if console_url else "Open it in the staff console."
    msg.set_content(
        f"{author.display_name} (@{author.username}) mentioned you in an internal note on conversation "
        f"{reference}.\n\n{where}\n\nThe note and the customer's messages are only in the console, "
        "never in this mail.\n"
    )
    return msg


def _mail(effect: Effect, *, to: str, reference: str, author: Staff, rt: Runtime) -> outbox.EffectResult:
    base = rt.settings.public_url
    message_id = email_message_id(effect.effect_id, rt.campaign.message_id_domain)

    def send() -> Sent:
        msg = mention_mail(
            to=to,
            reference=reference,
            author=author,
            brand=rt.campaign.brand,
            sender=rt.campaign.sender_email,
            console_url=f"{base}/console/#/c/{reference}" if base else None,
            message_id=message_id,
        )
        resp = rt.ses.send_raw_email(
            Source=rt.campaign.sender_email, Destinations=[to], RawMessage={"Data": msg.as_bytes()}
        )
        return Sent(provider_id=resp["MessageId"], message_id=message_id)

    return outbox.perform(effect, send, now=rt.clock)


def notify(
    note: Mapping[str, Any],
    conversation_id: str,
    *,
    author: Staff,
    rt: Runtime,
    idp: CognitoIdentityProviderClient,
    pool_id: str,
) -> list[dict[str, Any]]:
    """Mail every colleague the note mentions (not its author), at most once each, through the outbox."""
    source_id = str(note.get("source_id") or "")
    out: list[dict[str, Any]] = []
    queue: str | None = None
    for username in note.get("mentions") or []:
        username = str(username)
        if username == author.username.lower():
            continue
        who = colleague(idp, pool_id, username)
        if who is None or not who.email:
            out.append({"username": username, "sent": False, "reason": "no such staff member", "duplicate": False})
            continue
        if queue is None:
            conv = store.get_conversation(conversation_id)
            queue = conv.queue if conv is not None else ""
        if not queue_access(who).allows(queue):
            # The link would not open for them (per-queue access): the author is told instead.
            reason = f"does not work the {queue} queue"
            out.append({"username": username, "sent": False, "reason": reason, "duplicate": False})
            continue
        address = who.email
        effect = Effect(
            mention_effect_id(source_id, username), Kind.MENTION, Policy.AT_MOST_ONCE, "email", "email", conversation_id
        )
        result = _mail(effect, to=address, reference=conversation_id, author=author, rt=rt)
        out.append({"username": username, "sent": result.sent, "reason": result.reason, "duplicate": result.duplicate})
        if result.sent and not result.duplicate:
            logger.info("mention mailed", extra={"conversation_id": conversation_id, "staff": username})
    return out


def add_note(
    conversation_id: str,
    body: Mapping[str, Any],
    *,
    staff: Staff,
    rt: Runtime,
    idp: CognitoIdentityProviderClient,
    pool_id: str,
) -> dict[str, Any]:
    """The note (stored once per idempotency key), then its mentions mailed; a retry mails what is left."""
    note = actions.add_note(conversation_id, body, staff=staff, rt=rt)
    notified = notify(note, conversation_id, author=staff, rt=rt, idp=idp, pool_id=pool_id)
    return {**{k: v for k, v in note.items() if k != "source_id"}, "notified": notified}

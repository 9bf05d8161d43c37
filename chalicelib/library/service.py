"""What the library's HTTP routes do: list, read, save, retire, preview, offers and outcomes, as plain functions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from chalicelib import store
from chalicelib.acknowledge import reply_subject
from chalicelib.errors import NotFound, ValidationError
from chalicelib.library import offers
from chalicelib.library.context import conversation_context, sample_context
from chalicelib.library.model import STAFF_PURPOSES, TemplateChannel, draft
from chalicelib.library.rendering import validate_draft
from chalicelib.library.repository import TemplateRepository

if TYPE_CHECKING:
    from chalicelib.runtime import Runtime

Agent = Mapping[str, str]  # {"username", "name"}: from the verified token, never from the body


def _matches(t: Any, *, q: str, topic: str, language: str, channel: str, purpose: str) -> bool:
    if topic and topic not in t.topics:
        return False
    if language and language not in t.languages:
        return False
    if channel and t.channel.value != channel:
        return False
    if purpose and t.purpose.value != purpose:
        return False
    if q:
        words = q.lower().split()
        haystack = " ".join(
            [t.template_id, t.title, *t.topics, *(s for parts in t.bodies.values() for s in parts.values())]
        ).lower()
        return all(w in haystack for w in words)
    return True


def _for_staff(t: Any) -> bool:
    """Answers and offers, not what the system sends itself (`follow_up.email` is the automatic follow-up)."""
    return t.purpose in STAFF_PURPOSES and t.template_id != f"{t.purpose.value}.{t.channel.value}"


def list_templates(repo: TemplateRepository, params: Mapping[str, str | None]) -> list[dict[str, Any]]:
    """The composer's search: text over id, title and bodies; filters by topic, language, channel, purpose."""
    filters = {k: str(params.get(k) or "").strip() for k in ("q", "topic", "language", "channel", "purpose")}
    # By default what staff insert in the composer; the editor asks for every template (`all=1`).
    everything = str(params.get("all") or "") in ("1", "true", "yes")
    found = [
        t.summary()
        for t in repo.list(include_retired=str(params.get("retired") or "") in ("1", "true"))
        if _matches(t, **filters) and (everything or _for_staff(t))
    ]
    return sorted(found, key=lambda s: (s["purpose"], s["id"]))


def get_template(repo: TemplateRepository, template_id: str, version: str | None = None) -> dict[str, Any]:
    if version:
        try:
            found = repo.get(template_id, int(version))
        except ValueError as exc:
            raise ValidationError("'version' must be a number", field="version") from exc
    else:
        latest = repo.latest(template_id, include_retired=True)
        if latest is None:
            raise NotFound(f"no template {template_id}")
        found = latest
    number, _ = repo.latest_number(template_id)
    return {**found.to_dict(), "latest_version": number, "versions": list(range(1, (number or 0) + 1))}


def template_history(repo: TemplateRepository, template_id: str) -> list[dict[str, Any]]:
    return [
        {"version": v.version, "author": v.author, "created_at": v.created_at, "diff": v.diff}
        for v in repo.history(template_id)
    ]


def save_template(
    repo: TemplateRepository,
    body: Mapping[str, Any],
    *,
    author: str,
    rt: Runtime,
    template_id: str | None = None,
) -> dict[str, Any]:
    """A new version (or a new template); refused with a 400 naming the variable when it fails on the sample."""
    if template_id is not None:
        if body.get("id") not in (None, template_id):
            raise ValidationError("the body's 'id' differs from the URL's", field="id")
        expected = body.get("version")
        if not isinstance(expected, int) or isinstance(expected, bool):
            raise ValidationError("'version' (the version you edited) is required to save an edit", field="version")
        data = {**body, "id": template_id}
    else:
        expected = 0  # a new template: someone else creating the same id first is a conflict
        data = dict(body)
    d = draft(data, languages=rt.campaign.languages)
    validate_draft(d, sample=sample_context(rt.campaign), default_language=rt.campaign.default_language)
    saved = repo.save(d, author=author, expected_version=expected)
    return saved.to_dict()


def retire_template(repo: TemplateRepository, template_id: str, *, retired: bool = True) -> dict[str, Any]:
    repo.retire(template_id, retired=retired)
    return {"id": template_id, "retired": retired}


def _conversation(conversation_id: str) -> Any:
    conv = store.get_conversation(conversation_id)
    if conv is None:
        raise NotFound(f"no conversation {conversation_id}")
    return conv


def preview(conversation_id: str, body: Mapping[str, Any], *, rt: Runtime, agent: Agent) -> dict[str, Any]:
    """The template rendered with the conversation's real context: the text for the reply box, and the full message."""
    from chalicelib.sms import count_segments

    template_id = str(body.get("template_id") or "")
    if not template_id:
        raise ValidationError("'template_id' is required", field="template_id")
    inputs = body.get("inputs") or {}
    if not isinstance(inputs, Mapping):
        raise ValidationError("'inputs' must map input names to values", field="inputs")
    version = body.get("version")
    conv = _conversation(conversation_id)
    customer = store.get_customer(conv.customer_id)
    context = conversation_context(campaign=rt.campaign, conversation=conv, customer=customer, agent=agent)
    found = rt.templates.version(template_id, int(version) if version else None)
    rendered = rt.templates.render_template(
        template_id,
        language=str(body.get("language") or conv.language or "") or None,
        context=context,
        inputs={str(k): str(v) for k, v in inputs.items()},
        version=found.version,
    )
    out: dict[str, Any] = {
        "subject": rendered.subject,
        "text": rendered.text,
        "html": rendered.html,
        "template": rendered.reference(),
        "fallback": rendered.fallback,
        "channel": found.channel.value,
    }
    if found.purpose in STAFF_PURPOSES and found.channel in (TemplateChannel.EMAIL, TemplateChannel.SMS):
        # What the customer receives: the answer inside the reply wrapper, on the conversation's thread.
        wrapped = {**context, "reply": {"text": rendered.text.strip(), "sent_by": agent.get("name", "")}}
        channel = found.channel.value
        message = rt.templates.render("reply", channel, "txt", rendered.language, wrapped)
        out["message"] = {"text": message.text}
        if channel == "email":
            out["subject"] = rendered.subject or reply_subject(conv.subject, conv.reference)
            out["message"]["html"] = rt.templates.render("reply", "email", "html", rendered.language, wrapped).text
    if found.channel is TemplateChannel.SMS:
        sent = out.get("message", {}).get("text") or rendered.text
        count = count_segments(sent.strip())
        out["segments"] = {
            "encoding": count.encoding.value,
            "segments": count.segments,
            "units": count.units,
            "budget": rt.campaign.sms.segment_budget,
        }
    return out


def conversation_offers(conversation_id: str, params: Mapping[str, str | None], *, rt: Runtime) -> list[dict[str, Any]]:
    """Every offer of the playbook for this conversation: eligible ones with their template, the rest with why not."""
    conv = _conversation(conversation_id)
    customer = store.get_customer(conv.customer_id)
    raw_value = params.get("order_value")
    try:
        order_value = float(raw_value) if raw_value not in (None, "") else None
    except ValueError as exc:
        raise ValidationError("'order_value' must be a number", field="order_value") from exc
    history = store.customer_conversations(conv.customer_id, limit=200)  # one Query on by_customer
    result = offers.evaluate(
        rt.campaign,
        topic=conv.topic,
        tags=getattr(customer, "tags", None) or (),
        customer_conversations=history,
        today=rt.clock().date(),
        order_value=order_value,
    )
    out = []
    for e in result:
        template = rt.templates.source.latest(e.offer.template)
        out.append(
            {
                "id": e.offer.id,
                "label": e.offer.label,
                "gives": e.offer.gives,
                "eligible": e.eligible,
                "reason": e.reason,
                "used": e.used,
                "per_customer_limit": e.offer.per_customer_limit,
                "expires": e.offer.expires.isoformat() if e.offer.expires else None,
                "template": template.summary() if template is not None else None,
            }
        )
    return out


def record_retention(conversation_id: str, body: Mapping[str, Any], *, rt: Runtime, agent: Agent) -> dict[str, Any]:
    _conversation(conversation_id)
    return offers.record_outcome(
        conversation_id,
        str(body.get("outcome") or ""),
        offer_id=str(body.get("offer_id") or "") or None,
        recorded_by=agent.get("username", ""),
        now=rt.clock(),
        campaign=rt.campaign,
    )


def check_offer(conversation_id: str, offer_id: str, *, rt: Runtime) -> None:
    """Before a reply carries an offer: it must be one this customer may still get (400 saying why not)."""
    conv = _conversation(conversation_id)
    offer = offers.find_offer(rt.campaign, offer_id)
    customer = store.get_customer(conv.customer_id)
    result = offers.evaluate(
        rt.campaign,
        topic=conv.topic,
        tags=getattr(customer, "tags", None) or (),
        customer_conversations=store.customer_conversations(conv.customer_id, limit=200),
        today=rt.clock().date(),
        order_value=None,
    )
    e = next(x for x in result if x.offer.id == offer.id)
    # The order value is the agent's call (the console shows the condition); every other condition is checked here.
    if not e.eligible and "order value" not in e.reason:
        raise ValidationError(f"offer {offer.id} is not available here: {e.reason}", field="offer_id")


def record_offer_sent(
    conversation_id: str, offer_id: str, *, message_id: str, rt: Runtime, agent: Agent
) -> dict[str, Any]:
    """After a reply that carried an offer: the offer goes on the conversation (the per-customer limit counts it)."""
    offer = offers.find_offer(rt.campaign, offer_id)
    offers.record_sent(conversation_id, offer, sent_by=agent.get("username", ""), message_id=message_id, now=rt.clock())
    return {"offer_id": offer.id, "message_id": message_id}


def rate_conversation(token: str) -> Any:
    """`GET /rate/{token}`: the rating stored once, the thank-you in the conversation's language."""
    from chalicelib.library import csat
    from chalicelib.runtime import get_runtime

    rt = get_runtime()

    def thanks(conversation_id: str) -> tuple[str, str]:
        conv = store.get_conversation(conversation_id)
        language = (conv.language if conv is not None else None) or rt.campaign.default_language
        context = {"campaign": sample_context(rt.campaign)["campaign"]}
        try:
            rendered = rt.templates.render("rating-thanks", "snippet", "txt", language, context)
        except (NotFound, ValidationError):
            return language, "Thank you!"
        return rendered.language, rendered.text.strip()

    return csat.rate(token, secret=rt.settings.csat_secret, now=rt.clock(), thanks=thanks)


def rating_choices(token: str) -> Any:
    """`GET /r/{token}`: an SMS's short link opens the three one-click ratings, in the conversation's language."""
    from chalicelib.library import csat
    from chalicelib.runtime import get_runtime

    rt = get_runtime()

    def language_of(conversation_id: str) -> str:
        conv = store.get_conversation(conversation_id)
        return (conv.language if conv is not None else None) or rt.campaign.default_language

    return csat.choices(token, secret=rt.settings.csat_secret, now=rt.clock(), language_of=language_of)


def check_template(body: Mapping[str, Any], *, rt: Runtime, agent: Agent) -> dict[str, Any]:
    """Validate an unsaved template and render it on the sample context, or on `conversation_id`'s real one."""
    from chalicelib.library.rendering import render_version

    d = draft(body, languages=rt.campaign.languages)
    validate_draft(d, sample=sample_context(rt.campaign), default_language=rt.campaign.default_language)
    conversation_id = str(body.get("conversation_id") or "")
    if conversation_id:
        conv = _conversation(conversation_id)
        context = conversation_context(
            campaign=rt.campaign, conversation=conv, customer=store.get_customer(conv.customer_id), agent=agent
        )
    else:
        context = sample_context(rt.campaign)
    inputs = body.get("inputs") if isinstance(body.get("inputs"), Mapping) else {}
    sample_inputs = {name: str((inputs or {}).get(name) or f"<{name}>") for name in d.required_inputs}
    previews = {}
    for lang in d.languages:
        r = render_version(
            d,
            language=lang,
            default_language=rt.campaign.default_language,
            context=rt.templates.enrich(context, lang),
            inputs=sample_inputs,
        )
        previews[lang] = {"subject": r.subject, "text": r.text, "html": r.html}
    return {"ok": True, "id": d.template_id, "previews": previews}


def reply_template(conversation_id: str, body: Mapping[str, Any], *, rt: Runtime) -> Any:
    """The reply's `template` reference checked before sending: a missing required input is a 400 naming it.

    Returns the TemplateRef the sent message stores (id, version, language used), or None for free text.
    """
    from chalicelib.inbound import TemplateRef

    ref = body.get("template")
    if ref in (None, {}):
        return None
    if not isinstance(ref, Mapping) or not ref.get("id"):
        raise ValidationError("'template' must be {id, version, language, inputs}", field="template")
    version = ref.get("version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        raise ValidationError("'template.version' must be a number", field="template.version")
    checked = preview(
        conversation_id,
        {
            "template_id": ref["id"],
            "version": version,
            "language": ref.get("language"),
            "inputs": ref.get("inputs") or {},
        },
        rt=rt,
        agent={"username": "", "name": ""},
    )
    t = checked["template"]
    return TemplateRef(id=str(t["id"]), version=int(t["version"]), language=str(t["language"]))

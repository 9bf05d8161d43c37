"""Template values: purposes, channels and their parts, one immutable version, a draft to save."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from chalicelib.errors import ValidationError


class Purpose(StrEnum):
    # Stored in DynamoDB: never rename.
    ANSWER = "answer"
    RETENTION_OFFER = "retention_offer"
    FOLLOW_UP = "follow_up"
    ACKNOWLEDGE = "acknowledge"
    REPLY = "reply"
    RESOLUTION = "resolution"
    OPT_OUT_CONFIRMATION = "opt_out_confirmation"
    OPT_IN_CONFIRMATION = "opt_in_confirmation"
    FAQ = "faq"
    COMPLEMENTARY_OFFER = "complementary_offer"
    RATING_THANKS = "rating_thanks"


# Sent by the system, not chosen by staff; every campaign language needs each of them.
SYSTEM_PURPOSES = frozenset(
    {
        Purpose.ACKNOWLEDGE,
        Purpose.REPLY,
        Purpose.FOLLOW_UP,
        Purpose.RESOLUTION,
        Purpose.OPT_OUT_CONFIRMATION,
        Purpose.OPT_IN_CONFIRMATION,
        Purpose.FAQ,
        Purpose.COMPLEMENTARY_OFFER,
        Purpose.RATING_THANKS,
    }
)
# What staff insert in the composer.
STAFF_PURPOSES = frozenset({Purpose.ANSWER, Purpose.RETENTION_OFFER, Purpose.FOLLOW_UP})


class TemplateChannel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    SNIPPET = "snippet"  # a text block other templates pull in (FAQ answers, the complementary offer)


# part -> required?  The subject is optional: a reply keeps the conversation's "Re:" subject.
PARTS: Mapping[TemplateChannel, Mapping[str, bool]] = {
    # HTML is required of system mail (seed.py checks it); a staff answer's text goes into the reply wrapper.
    TemplateChannel.EMAIL: {"subject": False, "text": True, "html": False},
    TemplateChannel.SMS: {"text": True},
    TemplateChannel.SNIPPET: {"text": True},
}
# File name of each part: `<lang>/<stem>.<channel>.<ext>`, the subject as `<lang>/<stem>-subject.email.txt`.
PART_EXT = {"text": "txt", "html": "html", "subject": "txt"}

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}\.(email|sms|snippet)$")
_INPUT_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_LANG_RE = re.compile(r"^[a-z]{2}$")
MAX_PART_CHARS = 20_000


def template_id(stem: str, channel: str) -> str:
    return f"{stem}.{channel}"


@dataclass(frozen=True, slots=True)
class TemplateDraft:
    """What an author saves; validated on construction by `draft()`."""

    template_id: str
    purpose: Purpose
    channel: TemplateChannel
    title: str
    topics: tuple[str, ...]
    required_inputs: tuple[str, ...]
    bodies: Mapping[str, Mapping[str, str]]  # language -> part -> Jinja2 source

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(sorted(self.bodies))

    def digest(self) -> str:
        """A content hash: `push` makes a new version only when this changes."""
        payload = {
            "purpose": self.purpose.value,
            "channel": self.channel.value,
            "title": self.title,
            "topics": list(self.topics),
            "required_inputs": list(self.required_inputs),
            "bodies": {lang: dict(sorted(parts.items())) for lang, parts in sorted(self.bodies.items())},
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class TemplateVersion:
    """One saved version; never changes once written."""

    template_id: str
    version: int
    purpose: Purpose
    channel: TemplateChannel
    title: str
    topics: tuple[str, ...]
    required_inputs: tuple[str, ...]
    bodies: Mapping[str, Mapping[str, str]]
    author: str
    created_at: str
    diff: str = ""
    retired: bool = False
    digest: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(sorted(self.bodies))

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.template_id,
            "purpose": self.purpose.value,
            "channel": self.channel.value,
            "topics": list(self.topics),
            "languages": list(self.languages),
            "required_inputs": list(self.required_inputs),
            "version": self.version,
            "title": self.title,
            "retired": self.retired,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "bodies": {lang: dict(parts) for lang, parts in self.bodies.items()},
            "author": self.author,
            "created_at": self.created_at,
            "diff": self.diff,
        }


def draft(data: Mapping[str, Any], *, languages: tuple[str, ...] | None = None) -> TemplateDraft:
    """Validate an author's template (API body or seed entry) into a draft; every problem in one error."""
    problems: list[str] = []
    tid = str(data.get("id") or data.get("template_id") or "")
    if not _ID_RE.match(tid):
        problems.append(f"id must look like 'returns-label.email' (<name>.<email|sms|snippet>), got {tid!r}")
    try:
        purpose = Purpose(str(data.get("purpose") or ""))
    except ValueError:
        problems.append(f"purpose must be one of {', '.join(p.value for p in Purpose)}")
        purpose = Purpose.ANSWER
    try:
        channel = TemplateChannel(str(data.get("channel") or (tid.rsplit(".", 1)[-1] if "." in tid else "")))
    except ValueError:
        problems.append("channel must be email, sms or snippet")
        channel = TemplateChannel.EMAIL
    if "." in tid and tid.rsplit(".", 1)[-1] != channel.value:
        problems.append(f"id {tid!r} must end in '.{channel.value}' (its channel)")
    topics = tuple(str(t) for t in data.get("topics") or ())
    inputs = tuple(str(i) for i in data.get("required_inputs") or ())
    for name in inputs:
        if not _INPUT_RE.match(name):
            problems.append(f"required input {name!r} must be a lower-case name like 'tracking_number'")
    raw_bodies = data.get("bodies") or {}
    bodies: dict[str, dict[str, str]] = {}
    if not isinstance(raw_bodies, Mapping) or not raw_bodies:
        problems.append("bodies must map at least one language to its parts")
        raw_bodies = {}
    parts_spec = PARTS[channel]
    for lang, parts in raw_bodies.items():
        if not _LANG_RE.match(str(lang)):
            problems.append(f"bodies.{lang}: not a language code like 'sv'")
            continue
        if languages is not None and lang not in languages:
            problems.append(f"bodies.{lang}: the campaign does not declare language {lang!r}")
        if not isinstance(parts, Mapping):
            problems.append(f"bodies.{lang} must map parts ({', '.join(parts_spec)}) to text")
            continue
        clean: dict[str, str] = {}
        for part, source in parts.items():
            if part not in parts_spec:
                problems.append(f"bodies.{lang}.{part}: a {channel.value} template has parts {', '.join(parts_spec)}")
            elif not isinstance(source, str):
                problems.append(f"bodies.{lang}.{part} must be text")
            elif len(source) > MAX_PART_CHARS:
                problems.append(f"bodies.{lang}.{part} is longer than {MAX_PART_CHARS} characters")
            elif source.strip():
                clean[part] = source
        for part, required in parts_spec.items():
            if required and part not in clean:
                problems.append(f"bodies.{lang}.{part} is required for a {channel.value} template")
        bodies[str(lang)] = clean
    if problems:
        raise ValidationError("; ".join(problems), field="template")
    return TemplateDraft(
        template_id=tid,
        purpose=purpose,
        channel=channel,
        title=str(data.get("title") or tid),
        topics=topics,
        required_inputs=inputs,
        bodies=bodies,
    )

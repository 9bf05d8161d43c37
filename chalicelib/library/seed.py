"""The seed library in the repo (`templates/<campaign>/`): read, validate against the campaign, push as versions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from chalicelib.config import Campaign
from chalicelib.errors import ConfigError, ValidationError
from chalicelib.library.model import (
    PART_EXT,
    PARTS,
    SYSTEM_PURPOSES,
    Purpose,
    TemplateChannel,
    TemplateDraft,
    TemplateVersion,
    draft,
)
from chalicelib.library.rendering import validate_draft

INDEX_FILE = "library.yaml"


def part_file(template_id: str, language: str, part: str) -> str:
    """`sv/acknowledge.email.txt`, `sv/acknowledge.email.html`, `sv/acknowledge-subject.email.txt`."""
    stem, channel = template_id.rsplit(".", 1)
    if part == "subject":
        return f"{language}/{stem}-subject.{channel}.txt"
    return f"{language}/{stem}.{channel}.{PART_EXT[part]}"


def _read_index(directory: Path) -> dict[str, Any]:
    path = directory / INDEX_FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(str(path.name), [f"{directory.name}/{INDEX_FILE} not found"]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(INDEX_FILE, [f"not valid YAML: {exc}"]) from exc
    templates = data.get("templates") if isinstance(data, dict) else None
    if not isinstance(templates, dict):
        raise ConfigError(INDEX_FILE, ["must hold a mapping 'templates: {<id>: {purpose, title, topics, ...}}'"])
    return templates


def _has_any(directory: Path, tid: str, lang: str, parts: Mapping[str, bool]) -> bool:
    return any((directory / part_file(tid, lang, p)).is_file() for p in parts)


def read_seed(campaign: Campaign, directory: Path) -> list[TemplateDraft]:
    """Every template of the seed, validated: a system template missing in a campaign language names the file."""
    index = _read_index(directory)
    problems: list[str] = []
    drafts: list[TemplateDraft] = []
    known_files: set[str] = set()
    topic_ids = set(campaign.topic_ids())
    for tid, meta in index.items():
        meta = meta if isinstance(meta, dict) else {}
        channel = str(tid).rsplit(".", 1)[-1] if "." in str(tid) else ""
        try:
            parts_spec = PARTS[TemplateChannel(channel)]
        except ValueError:
            problems.append(f"{INDEX_FILE}: {tid}: the id must end in .email, .sms or .snippet")
            continue
        bodies: dict[str, dict[str, str]] = {}
        purpose = str(meta.get("purpose") or "")
        system = purpose in {p.value for p in SYSTEM_PURPOSES} and meta.get("system", True)
        for lang in campaign.languages:
            parts: dict[str, str] = {}
            for part, required in parts_spec.items():
                required = required or (system and channel == "email" and part == "html")
                rel = part_file(str(tid), lang, part)
                known_files.add(rel)
                path = directory / rel
                if path.is_file():
                    parts[part] = path.read_text(encoding="utf-8")
                elif required and (system or _has_any(directory, str(tid), lang, parts_spec)):
                    problems.append(f"{directory.name}/{rel} is missing (template {tid}, language {lang})")
            if parts:
                bodies[lang] = parts
        for t in meta.get("topics") or ():
            if t not in topic_ids:
                problems.append(f"{INDEX_FILE}: {tid}: unknown topic {t!r}")
        if not bodies:
            problems.append(f"{INDEX_FILE}: {tid}: no body files in any campaign language")
            continue
        try:
            data = {**meta, "id": tid, "channel": channel, "bodies": bodies}
            drafts.append(draft(data, languages=campaign.languages))
        except ValidationError as exc:
            problems.append(f"{tid}: {exc}")
    for path in sorted(directory.rglob("*")):
        rel = str(path.relative_to(directory))
        if path.is_file() and rel != INDEX_FILE and rel not in known_files:
            problems.append(
                f"{directory.name}/{rel} is not listed in {INDEX_FILE} (or its language is not a campaign language)"
            )
    if problems:
        raise ConfigError(f"templates/{directory.name}", problems)
    return drafts


def check_seed(campaign: Campaign, directory: Path, sample: Mapping[str, Any]) -> list[TemplateDraft]:
    """read_seed, then render every template on the sample context: what deploy and `push` refuse to load."""
    drafts = read_seed(campaign, directory)
    problems = []
    for d in drafts:
        try:
            validate_draft(d, sample=sample, default_language=campaign.default_language)
        except ValidationError as exc:
            problems.append(str(exc))
    if problems:
        raise ConfigError(f"templates/{directory.name}", problems)
    return drafts


@dataclass(frozen=True, slots=True)
class Pushed:
    template_id: str
    version: int
    changed: bool
    retired: bool = False


def push(drafts: list[TemplateDraft], repo: Any, *, author: str) -> list[Pushed]:
    """A new version for each template whose content changed since its latest version; the rest stay.

    A template an admin retired stays retired: the seed does not bring it back behind their back.
    """
    out = []
    for d in drafts:
        current: TemplateVersion | None = repo.latest(d.template_id, include_retired=True)
        if current is not None and current.retired:
            out.append(Pushed(d.template_id, current.version, changed=False, retired=True))
            continue
        if current is not None and current.digest == d.digest():
            out.append(Pushed(d.template_id, current.version, changed=False))
            continue
        saved = repo.save(d, author=author)
        out.append(Pushed(d.template_id, saved.version, changed=True))
    return out


def push_seed(campaign: Campaign, directory: Path, *, author: str, repo: Any = None) -> list[Pushed]:
    """Check the seed, then push it into the bound templates table (`replydesk templates push`, the local stack)."""
    from chalicelib.library.context import sample_context
    from chalicelib.library.repository import TemplateRepository

    drafts = check_seed(campaign, directory, sample_context(campaign))
    return push(drafts, repo or TemplateRepository(), author=author)


class SeedSource:
    """The seed read straight from the repo, as version 0: for campaign checks and offline unit tests."""

    def __init__(self, campaign: Campaign, directory: Path) -> None:
        self.templates = {
            d.template_id: TemplateVersion(
                template_id=d.template_id,
                version=0,
                purpose=d.purpose,
                channel=d.channel,
                title=d.title,
                topics=d.topics,
                required_inputs=d.required_inputs,
                bodies=d.bodies,
                author="seed",
                created_at="",
                digest=d.digest(),
            )
            for d in read_seed(campaign, directory)
        }

    def latest(self, template_id: str, *, include_retired: bool = False) -> TemplateVersion | None:
        return self.templates.get(template_id)

    def get(self, template_id: str, version: int) -> TemplateVersion:
        from chalicelib.errors import NotFound

        found = self.templates.get(template_id)
        if found is None:
            raise NotFound(f"no template {template_id}")
        return found

    def list(self, *, include_retired: bool = False) -> list[TemplateVersion]:
        return list(self.templates.values())


__all__ = ["Purpose", "Pushed", "SeedSource", "check_seed", "part_file", "push", "push_seed", "read_seed"]

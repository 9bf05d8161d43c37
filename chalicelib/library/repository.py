"""Template versions in the campaign's `templates` table: immutable versions, a latest pointer, per-container caches."""

from __future__ import annotations

import builtins
import difflib
import functools
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, GetError, QueryError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib.errors import Conflict, NotFound, TransientError
from chalicelib.library.model import PART_EXT, Purpose, TemplateChannel, TemplateDraft, TemplateVersion
from chalicelib.models import TemplateModel

POINTER = 0  # the latest pointer's range key; versions start at 1
KIND = "template"
# Staff edit the library while the system runs: a new latest version reaches every container within this.
LATEST_TTL_SECONDS = 30.0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _plain(value: Any) -> dict[str, Any]:
    """A raw MapAttribute (or a dict, as freshly built models hold) as a dict."""
    if value is None:
        return {}
    if hasattr(value, "as_dict"):
        return dict(value.as_dict())
    return dict(value)


def _version(model: TemplateModel) -> TemplateVersion:
    raw = _plain(model.bodies)
    bodies = {str(lang): {str(k): str(v) for k, v in _plain(parts).items()} for lang, parts in raw.items()}
    return TemplateVersion(
        template_id=model.template_id,
        version=int(model.version),
        purpose=Purpose(model.purpose),
        channel=TemplateChannel(model.channel),
        title=model.title or "",
        topics=tuple(str(t) for t in model.topics or ()),
        required_inputs=tuple(str(i) for i in model.required_inputs or ()),
        bodies=bodies,
        author=model.author or "",
        created_at=model.created_at or "",
        diff=model.diff or "",
        retired=bool(model.retired),
        digest=model.digest or "",
    )


def _flat(bodies: Any) -> list[str]:
    """A readable text form of all bodies, so a diff shows what changed where."""
    lines: list[str] = []
    for lang in sorted(bodies):
        for part in ("subject", "text", "html"):
            if part in bodies[lang]:
                lines.append(f"## {lang}/{part}.{PART_EXT[part]}")
                lines.extend(str(bodies[lang][part]).splitlines())
    return lines


def diff_versions(before: TemplateVersion | None, after: TemplateDraft, *, number: int) -> str:
    old = _flat(before.bodies) if before else []
    meta_old = _meta_lines(before) if before else []
    meta_new = _meta_lines(after)
    return "\n".join(
        difflib.unified_diff(
            meta_old + old,
            meta_new + _flat(after.bodies),
            fromfile=f"{after.template_id} v{before.version}" if before else "(new)",
            tofile=f"{after.template_id} v{number}",
            lineterm="",
        )
    )


def _meta_lines(t: TemplateVersion | TemplateDraft) -> list[str]:
    return [
        f"title: {t.title}",
        f"purpose: {t.purpose.value}",
        f"topics: {', '.join(t.topics)}",
        f"required_inputs: {', '.join(t.required_inputs)}",
    ]


class TemplateRepository:
    """Reads and writes the templates table; every read of a version is cached forever (versions never change)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._versions: dict[tuple[str, int], TemplateVersion] = {}
        self._latest: dict[str, tuple[float, int | None, bool]] = {}
        self.calls = 0  # DynamoDB requests made, for the benchmark

    # ------------------------------------------------------------------ reads
    def get(self, template_id: str, version: int) -> TemplateVersion:
        key = (template_id, int(version))
        cached = self._versions.get(key)
        if cached is not None:
            return cached
        self.calls += 1
        try:
            model = TemplateModel.get(template_id, int(version))
        except DoesNotExist as exc:
            raise NotFound(f"no template {template_id} version {version}") from exc
        except GetError as exc:
            raise TransientError("could not read the template library") from exc
        found = _version(model)
        self._versions[key] = found
        return found

    def latest_number(self, template_id: str, *, fresh: bool = False) -> tuple[int | None, bool]:
        """(latest version or None, retired), cached for LATEST_TTL_SECONDS."""
        hit = self._latest.get(template_id)
        if hit is not None and not fresh and self.clock() - hit[0] < LATEST_TTL_SECONDS:
            return hit[1], hit[2]
        self.calls += 1
        try:
            pointer = TemplateModel.get(template_id, POINTER, consistent_read=fresh)
            number, retired = int(pointer.latest or 0) or None, bool(pointer.retired)
        except DoesNotExist:
            number, retired = None, False
        except GetError as exc:
            raise TransientError("could not read the template library") from exc
        self._latest[template_id] = (self.clock(), number, retired)
        return number, retired

    def latest(self, template_id: str, *, include_retired: bool = False) -> TemplateVersion | None:
        number, retired = self.latest_number(template_id)
        if number is None or (retired and not include_retired):
            return None
        found = self.get(template_id, number)
        return found if not retired else _retired(found)

    def list(self, *, include_retired: bool = False) -> list[TemplateVersion]:
        """Every template's latest version: one Query on the sparse by_kind index, never a Scan."""
        out = []
        self.calls += 1
        try:
            for pointer in TemplateModel.by_kind.query(KIND):
                if pointer.retired and not include_retired:
                    continue
                pointer.version = int(pointer.latest or 0)
                out.append(_retired(_version(pointer)) if pointer.retired else _version(pointer))
        except QueryError as exc:
            raise TransientError("could not list the template library") from exc
        return out

    def history(self, template_id: str) -> builtins.list[TemplateVersion]:
        """Every version, oldest first (the pointer excluded)."""
        self.calls += 1
        items = [
            _version(m) for m in TemplateModel.query(template_id, TemplateModel.version > POINTER, consistent_read=True)
        ]
        if not items:
            raise NotFound(f"no template {template_id}")
        return items

    # ------------------------------------------------------------------ writes
    def save(self, draft: TemplateDraft, *, author: str, expected_version: int | None = None) -> TemplateVersion:
        """Write the next version and move the pointer in one transaction; 409 if someone saved first.

        `expected_version` is the version the author edited (None: whatever is latest now, as `push` does).
        """
        current, _retired_now = self.latest_number(draft.template_id, fresh=True)
        if expected_version is not None and expected_version != (current or 0):
            raise Conflict(
                f"template {draft.template_id} is at version {current or 0}, not {expected_version}: "
                "reload and edit again"
            )
        before = self.get(draft.template_id, current) if current else None
        number = (current or 0) + 1
        created = _now()
        fields: dict[str, Any] = {
            "purpose": draft.purpose.value,
            "channel": draft.channel.value,
            "title": draft.title,
            "topics": list(draft.topics),
            "required_inputs": list(draft.required_inputs),
            "languages": list(draft.languages),
            "bodies": {lang: dict(parts) for lang, parts in draft.bodies.items()},
            "digest": draft.digest(),
            "author": author,
            "created_at": created,
        }
        version = TemplateModel(
            template_id=draft.template_id, version=number, diff=diff_versions(before, draft, number=number), **fields
        )
        pointer = TemplateModel(template_id=draft.template_id, version=POINTER, kind=KIND, latest=number, **fields)
        condition = TemplateModel.template_id.does_not_exist() if current is None else (TemplateModel.latest == current)
        try:
            connection = Connection(region=TemplateModel.Meta.region, host=TemplateModel.Meta.host)
            with TransactWrite(connection=connection) as tx:
                tx.save(version, condition=TemplateModel.template_id.does_not_exist())
                tx.save(pointer, condition=condition)
        except TransactWriteError as exc:
            reasons = [getattr(r, "code", None) for r in (exc.cancellation_reasons or []) if r is not None]
            if "ConditionalCheckFailed" in reasons:
                raise Conflict(
                    f"template {draft.template_id} was saved by someone else first: reload and edit again"
                ) from exc
            raise TransientError("could not save the template") from exc
        saved = _version(version)
        self._versions[(saved.template_id, saved.version)] = saved
        self._latest[saved.template_id] = (self.clock(), number, False)
        return saved

    def retire(self, template_id: str, *, retired: bool = True) -> None:
        """Retire instead of delete: old messages still name the version they came from."""
        number, _ = self.latest_number(template_id, fresh=True)
        if number is None:
            raise NotFound(f"no template {template_id}")
        try:
            TemplateModel(template_id=template_id, version=POINTER).update(
                actions=[TemplateModel.retired.set(retired)], condition=TemplateModel.template_id.exists()
            )
        except UpdateError as exc:
            raise TransientError("could not retire the template") from exc
        self._latest[template_id] = (self.clock(), number, retired)

    def forget(self, template_ids: Iterable[str] = ()) -> None:
        """Drop cached latest pointers (tests, and after a push from the same process)."""
        ids = list(template_ids)
        for tid in ids or list(self._latest):
            self._latest.pop(tid, None)


@functools.cache
def repository() -> TemplateRepository:
    """The container's repository: its version cache lives as long as the container."""
    return TemplateRepository()


def _retired(v: TemplateVersion) -> TemplateVersion:
    return TemplateVersion(
        template_id=v.template_id,
        version=v.version,
        purpose=v.purpose,
        channel=v.channel,
        title=v.title,
        topics=v.topics,
        required_inputs=v.required_inputs,
        bodies=v.bodies,
        author=v.author,
        created_at=v.created_at,
        diff=v.diff,
        retired=True,
        digest=v.digest,
    )

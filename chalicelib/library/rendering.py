"""Sandboxed rendering: Jinja2's SandboxedEnvironment with StrictUndefined, checked before saving and sending."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.errors import NotFound, ValidationError
from chalicelib.library.model import TemplateChannel, TemplateDraft, TemplateVersion

if TYPE_CHECKING:
    from jinja2.exceptions import UndefinedError
    from jinja2.sandbox import SandboxedEnvironment

# What a template may refer to; anything else is an unknown variable and cannot be saved.
CONTEXT_ROOTS = frozenset({"customer", "conversation", "campaign", "agent", "inputs", "reply", "offer", "faq", "links"})


class TemplateError(ValidationError):
    """A template that cannot be rendered: syntax, an unknown or missing value, or a refused attribute."""

    def __init__(self, message: str, *, field: str | None = None, variable: str | None = None) -> None:
        self.variable = variable
        super().__init__(message, field=field or "template")


class MissingInput(ValidationError):
    """A required input the agent did not fill; the 400 names it."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        super().__init__(f"required input {', '.join(names)} is missing", field=names[0])


class NoVariant(NotFound):
    """A template without a body in the wanted language or the campaign default: as good as missing."""


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    """A template rendered for one conversation: the parts and which template, version and language made them."""

    template_id: str
    version: int
    language: str
    fallback: bool
    text: str
    subject: str | None = None
    html: str | None = None

    def reference(self) -> dict[str, Any]:
        return {"id": self.template_id, "version": self.version, "language": self.language}


def _environment(autoescape: bool) -> SandboxedEnvironment:
    # Jinja2 on the first render, not at import: the staff API's reads never render (cold start).
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(
        undefined=StrictUndefined,
        autoescape=autoescape,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


@functools.cache
def environment(autoescape: bool) -> SandboxedEnvironment:
    return _environment(autoescape)


def _undefined_name(exc: UndefinedError) -> str:
    # StrictUndefined says "'x' is undefined" or "'dict object' has no attribute 'x'": the name is the last quoted word.
    message = str(exc)
    parts = message.split("'")
    return parts[-2] if len(parts) >= 3 else message


def check_source(source: str, *, where: str) -> None:
    """Refuse at save time what the sandbox would refuse at send time: internals and unknown variables."""
    from jinja2 import TemplateSyntaxError, nodes  # imported with the environment (see _environment)

    env = environment(False)
    try:
        tree = env.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"{where}: syntax error on line {exc.lineno}: {exc.message}") from exc
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        attr = node.attr if isinstance(node, nodes.Getattr) else getattr(getattr(node, "arg", None), "value", None)
        if isinstance(attr, str) and attr.startswith("_"):
            raise TemplateError(f"{where}: access to {attr!r} is not allowed in templates", variable=attr)
    assigned = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    for name in tree.find_all(nodes.Name):
        if name.ctx == "load" and name.name not in CONTEXT_ROOTS and name.name not in assigned:
            raise TemplateError(
                f"{where}: unknown variable {name.name!r} (use {', '.join(sorted(CONTEXT_ROOTS))})",
                variable=name.name,
            )


@functools.lru_cache(maxsize=2048)
def _compiled(source: str, autoescape: bool) -> Any:
    return environment(autoescape).from_string(source)


def render_source(source: str, context: Mapping[str, Any], *, autoescape: bool, where: str) -> str:
    """One part rendered; a missing value or a refused attribute is a TemplateError naming it."""
    from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError  # see _environment

    try:
        template = _compiled(source, autoescape)
        return str(template.render(**context)).strip() + "\n"
    except SecurityError as exc:
        raise TemplateError(f"{where}: refused by the sandbox: {exc}") from exc
    except UndefinedError as exc:
        name = _undefined_name(exc)
        if "unsafe" in str(exc):
            raise TemplateError(f"{where}: refused by the sandbox: {exc}", variable=name) from exc
        raise TemplateError(f"{where}: no value for {name!r}", variable=name) from exc
    except TemplateSyntaxError as exc:
        raise TemplateError(f"{where}: syntax error on line {exc.lineno}: {exc.message}") from exc
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise TemplateError(f"{where}: {type(exc).__name__}: {exc}") from exc


def choose_language(available: tuple[str, ...], wanted: str | None, default: str) -> tuple[str, bool]:
    """Conversation language, else the campaign default; (language, whether it was a fallback)."""
    if wanted and wanted in available:
        return wanted, False
    if default in available:
        return default, bool(wanted) and wanted != default
    raise NoVariant(f"no variant in {wanted or default!r} or the campaign default {default!r}")


def render_version(
    version: TemplateVersion | TemplateDraft,
    *,
    language: str | None,
    default_language: str,
    context: Mapping[str, Any],
    inputs: Mapping[str, Any] | None = None,
) -> RenderedMessage:
    """Render every part of a template for a conversation; required inputs are checked first."""
    given = {k: v for k, v in (inputs or {}).items() if v is not None and str(v).strip()}
    missing = tuple(name for name in version.required_inputs if name not in given)
    if missing:
        raise MissingInput(missing)
    lang, fallback = choose_language(version.languages, language, default_language)
    full = {**context, "inputs": {**dict(context.get("inputs") or {}), **given}}
    parts = version.bodies[lang]
    out: dict[str, str | None] = {}
    for part in ("subject", "text", "html"):
        source = parts.get(part)
        where = f"{version.template_id} [{lang}] {part}"
        out[part] = render_source(source, full, autoescape=part == "html", where=where) if source else None
    number = version.version if isinstance(version, TemplateVersion) else 0
    subject = out["subject"].strip() if out["subject"] else None
    return RenderedMessage(
        template_id=version.template_id,
        version=number,
        language=lang,
        fallback=fallback,
        text=out["text"] or "",
        subject=subject,
        html=out["html"] if version.channel is TemplateChannel.EMAIL else None,
    )


def validate_draft(draft: TemplateDraft, *, sample: Mapping[str, Any], default_language: str) -> None:
    """A template that fails to render on the sample context cannot be saved: the 400 names the variable."""
    for lang, parts in draft.bodies.items():
        for part, source in parts.items():
            check_source(source, where=f"{draft.template_id} [{lang}] {part}")
    sample_inputs = {name: f"<{name}>" for name in draft.required_inputs}
    for lang in draft.languages:
        render_version(draft, language=lang, default_language=default_language, context=sample, inputs=sample_inputs)

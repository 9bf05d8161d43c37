"""The render boundary the ack, reply and follow-up paths call: purposes rendered from the template library."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from chalicelib.errors import NotFound
from chalicelib.library.model import Purpose, TemplateVersion, template_id
from chalicelib.library.rendering import NoVariant, RenderedMessage, TemplateError, choose_language, render_source

_EXT_PART = {"txt": "text", "html": "html"}


class TemplateSource(Protocol):
    """Where versions come from: the DynamoDB repository (runtime) or the seed in the repo (checks, unit tests)."""

    def latest(self, template_id: str, *, include_retired: bool = False) -> TemplateVersion | None: ...

    def get(self, template_id: str, version: int) -> TemplateVersion: ...


@dataclass(frozen=True, slots=True)
class Rendered:
    """One rendered part, with the template id, version and language (after fallback) it came from."""

    template: str  # a readable name: `sv/acknowledge.email.txt`
    language: str
    text: str
    template_id: str = ""
    version: int = 0
    fallback: bool = False


class TemplateStore:
    """Renders a purpose for a channel in the best language the library has.

    The store also fills what only the library knows in the rendered language: the topic's FAQ answer
    (`faq-<topic>.snippet`), the complementary offer (`complementary_offer.snippet`, only when the caller
    passed a truthy `offer`, i.e. the customer may get marketing) and `links` (rating, live chat).
    """

    def __init__(
        self,
        source: TemplateSource,
        default_language: str,
        *,
        links: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None,
    ) -> None:
        self.source = source
        self.default_language = default_language
        self.links = links

    def version(self, template_id: str, version: int | None = None) -> TemplateVersion:
        if version:
            return self.source.get(template_id, int(version))
        found = self.source.latest(template_id)
        if found is None:
            raise NotFound(f"no template {template_id} in the library")
        return found

    def render(
        self, purpose: str, channel: str, ext: str, language: str | None, context: Mapping[str, Any]
    ) -> Rendered:
        """Render one part of the system template `<purpose>.<channel>`; `<purpose>-subject` is its subject."""
        base, part = (purpose.removesuffix("-subject"), "subject") if purpose.endswith("-subject") else (purpose, "")
        part = part or _EXT_PART.get(ext, "")
        if not part:
            raise NotFound(f"no template part for extension {ext!r}")
        tid = template_id(base, channel)
        found = self.source.latest(tid)
        if found is None:
            raise NotFound(f"no template {tid} in the library")
        lang, fallback = choose_language(found.languages, language, self.default_language)
        source = found.bodies[lang].get(part)
        if source is None:
            raise NotFound(f"template {tid} has no {part} in {lang}")
        full = self.enrich(context, lang, uses=source)
        text = render_source(source, full, autoescape=part == "html", where=f"{tid} [{lang}] {part}")
        name = f"{lang}/{base}{'-subject' if part == 'subject' else ''}.{channel}.{ext}"
        return Rendered(
            template=name, language=lang, text=text, template_id=tid, version=found.version, fallback=fallback
        )

    def enrich(self, context: Mapping[str, Any], language: str, *, uses: str | None = None) -> dict[str, Any]:
        """The caller's context plus FAQ, offer and links in `language`.

        `uses` is the source about to be rendered: a snippet is only looked up when the source names it,
        so a template without an FAQ costs no read of one.
        """
        full = dict(context)
        # The ack and reply paths pass fewer fields than the sample a template is validated on: fill the rest.
        customer = context.get("customer")
        if isinstance(customer, Mapping) and "first_name" not in customer:
            name = str(customer.get("name") or "")
            full["customer"] = {**customer, "first_name": name.split()[0] if name.strip() else ""}
        if "agent" not in context:
            reply = context.get("reply") if isinstance(context.get("reply"), Mapping) else {}
            full["agent"] = {"name": str((reply or {}).get("sent_by") or ""), "username": ""}
        full.setdefault("inputs", {})
        conversation = context.get("conversation") or {}
        topic = conversation.get("topic") if isinstance(conversation, Mapping) else None
        if "faq" in context and topic and (uses is None or "faq" in uses):
            full["faq"] = self._snippet(f"faq-{topic}", language, context) or context.get("faq") or ""
        if context.get("offer") and (uses is None or "offer" in uses):
            full["offer"] = self._snippet(Purpose.COMPLEMENTARY_OFFER.value, language, context) or context["offer"]
        if "links" not in context:
            found = self.links(context) if self.links is not None else {}
            full["links"] = {"rating": {}, "rating_page": "", "live_chat": "", **found}
        return full

    def faq_answers(
        self, topics: Iterable[str], languages: Iterable[str], context: Mapping[str, Any]
    ) -> dict[str, dict[str, str]]:
        """Each topic's FAQ answer in each language that has a variant of its own: {language: {topic: text}}.

        For pages shown before anyone wrote (the contact form): `context` holds the campaign's fields only,
        so an answer that needs a customer's or conversation's value is left out, not shown half-filled.
        """
        out: dict[str, dict[str, str]] = {lang: {} for lang in languages}
        for topic in topics:
            found = self.source.latest(template_id(f"faq-{topic}", "snippet"))
            if found is None:
                continue
            for lang in out:
                source = found.bodies[lang].get("text") if lang in found.languages else None
                if not source:
                    continue
                try:
                    text = render_source(source, context, autoescape=False, where=f"{found.template_id} [{lang}]")
                except TemplateError:
                    continue
                if text.strip():
                    out[lang][topic] = text.strip()
        return out

    def _snippet(self, stem: str, language: str, context: Mapping[str, Any]) -> str:
        found = self.source.latest(template_id(stem, "snippet"))
        if found is None:
            return ""
        try:
            lang, _ = choose_language(found.languages, language, self.default_language)
        except NoVariant:
            return ""
        source = found.bodies[lang].get("text", "")
        return render_source(source, context, autoescape=False, where=f"{found.template_id} [{lang}]").strip()

    def render_template(
        self,
        template_id: str,
        *,
        language: str | None,
        context: Mapping[str, Any],
        inputs: Mapping[str, Any] | None = None,
        version: int | None = None,
    ) -> RenderedMessage:
        """A whole template (subject, text, html) for the composer's preview and the CLI."""
        from chalicelib.library.rendering import render_version

        found = self.version(template_id, version)
        lang, _ = choose_language(found.languages, language, self.default_language)
        sources = "\n".join(found.bodies[lang].values())
        return render_version(
            found,
            language=language,
            default_language=self.default_language,
            context=self.enrich(context, lang, uses=sources),
            inputs=inputs,
        )

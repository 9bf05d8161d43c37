"""`replydesk campaign check`: every piece a running stack needs, each missing one named by file and field."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from chalicelib.campaign.layout import CampaignLayout
from chalicelib.campaign.scaffold import STARTER_MARK, TRANSLATE_MARK
from chalicelib.campaign.topicmodel import ModelState, Trainer, model_state
from chalicelib.config import Campaign, load_campaign
from chalicelib.errors import ConfigError

# Templates the running system renders itself: (id, parts needed in every language, why).
REQUIRED_TEMPLATES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("acknowledge.email", ("subject", "text", "html"), "the acknowledgement of mail and web messages"),
    ("acknowledge.sms", ("text",), "the acknowledgement of an SMS"),
    ("reply.email", ("text", "html"), "the wrapper around a staff answer by mail"),
    ("reply.sms", ("text",), "the wrapper around a staff answer by SMS"),
    ("follow_up.email", ("text", "html"), "the follow-up after a staff answer by mail"),
    ("follow_up.sms", ("text",), "the follow-up after a staff answer by SMS"),
    ("opt_out_confirmation.sms", ("text",), "the answer to STOP"),
    ("opt_in_confirmation.sms", ("text",), "the answer to START"),
)
_DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


@dataclass
class CheckReport:
    """What `check` found: problems stop package/local; notes are worth a look but do not."""

    campaign: str
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    model: ModelState | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def text(self) -> str:
        if self.ok:
            head = f"campaign {self.campaign!r}: complete"
        else:
            head = f"campaign {self.campaign!r} is incomplete, {len(self.problems)} missing piece(s):"
        lines = [head, *(f"  - {p}" for p in self.problems)]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


class IncompleteCampaign(ConfigError):
    """Raised by package and local when `check` finds a missing piece; `report` holds every one."""

    def __init__(self, report: CheckReport) -> None:
        self.report = report
        super().__init__(f"campaign {report.campaign}", report.problems)


def check_campaign(name: str, layout: CampaignLayout | None = None, *, train: Trainer | None = None) -> CheckReport:
    """Check campaign `name` under `layout`'s root; given `train`, a missing or stale topic model is trained."""
    layout = layout or CampaignLayout(name)
    report = CheckReport(name)
    cfile = layout.rel(layout.campaign_file)
    try:
        campaign = load_campaign(name, layout.campaigns_dir)
    except ConfigError as exc:
        report.problems += [f"{cfile}: {p}" for p in exc.problems]
        return report  # everything else is read through the campaign
    _check_brief(layout, report)
    index = _check_templates(campaign, layout, report)
    _check_offers(campaign, index, cfile, layout, report)
    _check_sms(campaign, layout, report, cfile)
    _check_domains(campaign, cfile, report)
    _check_model(campaign, layout, report, train=train)
    return report


def require_complete(name: str, layout: CampaignLayout | None = None, *, train: Trainer | None = None) -> CheckReport:
    """`check_campaign`, raising IncompleteCampaign when anything is missing (package and local call this)."""
    report = check_campaign(name, layout, train=train)
    if not report.ok:
        raise IncompleteCampaign(report)
    return report


def _check_brief(layout: CampaignLayout, report: CheckReport) -> None:
    if not layout.brief_file.is_file():
        report.problems.append(
            f"{layout.rel(layout.brief_file)} is missing (the campaign brief staff see in the console)"
        )


def _read_index(layout: CampaignLayout, report: CheckReport) -> Mapping[str, Any]:
    path = layout.templates_dir / "library.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        report.problems.append(f"{layout.rel(path)} is missing (the campaign's template library)")
        return {}
    except yaml.YAMLError as exc:
        report.problems.append(f"{layout.rel(path)}: not valid YAML ({exc})")
        return {}
    templates = data.get("templates") if isinstance(data, dict) else None
    if not isinstance(templates, dict):
        report.problems.append(f"{layout.rel(path)}: templates: must map template ids to their purpose and title")
        return {}
    return templates


def _required(campaign: Campaign) -> list[tuple[str, tuple[str, ...], str]]:
    needed = list(REQUIRED_TEMPLATES)
    if campaign.csat.enabled:
        needed.append(("rating-thanks.snippet", ("text",), "the thank-you page after a rating (csat.enabled)"))
    if campaign.follow_up.offer:
        needed.append(("complementary_offer.snippet", ("text",), "the offer in the follow-up (follow_up.offer)"))
    for topic in campaign.faq:
        needed.append((f"faq-{topic}.snippet", ("text",), f"the FAQ answer for topic {topic} (faq.{topic})"))
    return needed


def _check_templates(campaign: Campaign, layout: CampaignLayout, report: CheckReport) -> Mapping[str, Any]:
    """Every required template × language × part, then the library's own validation (render on the sample)."""
    from chalicelib.library.context import sample_context
    from chalicelib.library.seed import check_seed, part_file

    index = _read_index(layout, report)
    if not layout.templates_dir.is_dir():
        return index
    lib = layout.rel(layout.templates_dir / "library.yaml")
    missing_files: set[str] = set()
    for tid, parts, why in _required(campaign):
        if index and tid not in index:  # without any index, the missing library.yaml says it all
            report.problems.append(f"{lib}: templates.{tid} is missing ({why})")
        for lang in campaign.languages:
            for part in parts:
                rel = part_file(tid, lang, part)
                if not (layout.templates_dir / rel).is_file():
                    missing_files.add(rel)
                    report.problems.append(
                        f"{layout.rel(layout.templates_dir / rel)} is missing ({why}, language {lang})"
                    )
    if index:
        try:
            check_seed(campaign, layout.templates_dir, sample_context(campaign))
        except ConfigError as exc:
            for problem in exc.problems:
                # The seed's own "is missing" lines repeat files named above.
                if not any(f"/{rel} is missing" in problem for rel in missing_files):
                    report.problems.append(
                        f"templates/{problem}"
                        if not problem.startswith("library")
                        else f"{lib}: {problem.removeprefix('library.yaml: ')}"
                    )
    if campaign.closing.closed or campaign.closing.messages:
        for lang in campaign.languages:
            if lang not in campaign.closing.messages:
                report.problems.append(
                    f"{layout.rel(layout.campaign_file)}: closing.message has no text in {lang} (customers "
                    f"writing in {lang} would be told the {campaign.default_language} one)"
                )
    if campaign.closing.closed:
        # Closed, the acks are the final auto-reply: one that ignores campaign.closed sends the usual ack.
        for lang in campaign.languages:
            for tid, parts in (("acknowledge.email", ("subject", "text", "html")), ("acknowledge.sms", ("text",))):
                for part in parts:
                    path = layout.templates_dir / part_file(tid, lang, part)
                    if path.is_file() and "campaign.closed" not in path.read_text(encoding="utf-8"):
                        report.problems.append(
                            f"{layout.rel(path)}: does not branch on campaign.closed (closing.closed is true, "
                            "so customers would get the usual acknowledgement)"
                        )
    for path in sorted(layout.templates_dir.rglob("*.txt")) + sorted(layout.templates_dir.rglob("*.html")):
        text = path.read_text(encoding="utf-8", errors="replace")
        if TRANSLATE_MARK in text:
            report.problems.append(f"{layout.rel(path)}: not translated yet (then delete the replydesk:translate line)")
        elif STARTER_MARK in text:
            report.notes.append(f"{layout.rel(path)}: still the starter answer")
    return index


def _check_offers(
    campaign: Campaign, index: Mapping[str, Any], cfile: str, layout: CampaignLayout, report: CheckReport
) -> None:
    lib = layout.rel(layout.templates_dir / "library.yaml")
    for i, offer in enumerate(campaign.offers):
        if index and offer.template not in index:
            report.problems.append(f"{cfile}: offers[{i}].template: {offer.template!r} is not in {lib}")


def _check_sms(campaign: Campaign, layout: CampaignLayout, report: CheckReport, cfile: str) -> None:
    from chalicelib.errors import NotFound, SegmentBudgetExceeded, ValidationError
    from chalicelib.library.context import sample_context
    from chalicelib.library.seed import SeedSource
    from chalicelib.render import TemplateStore
    from chalicelib.sms import count_segments, fit_to_budget

    budget = campaign.sms.segment_budget
    help_text = campaign.sms.help_text.strip()
    if not help_text:
        report.problems.append(f"{cfile}: sms.help_text: is empty (HELP would get no answer)")
    else:
        n = count_segments(help_text)
        if n.segments > budget:
            report.problems.append(
                f"{cfile}: sms.help_text: needs {n.segments} {n.encoding.value} segments, "
                f"sms.segment_budget is {budget}"
            )
    try:
        store = TemplateStore(SeedSource(campaign, layout.templates_dir), campaign.default_language)
    except ConfigError:
        return  # the template check above named what is wrong with the library
    for tid, _parts, _why in _required(campaign):
        stem, channel = tid.rsplit(".", 1)
        if channel != "sms":
            continue
        for lang in campaign.languages:
            ctx = {**sample_context(campaign, language=lang), "offer": "", "faq": ""}
            try:
                rendered = store.render(stem, "sms", "txt", lang, ctx)
                fit_to_budget(rendered.text, budget)
            except SegmentBudgetExceeded as exc:
                report.problems.append(
                    f"{layout.rel(layout.templates_dir / lang / (tid + '.txt'))}: needs {exc.segments} segments "
                    f"on the sample, sms.segment_budget is {budget}"
                )
            except (NotFound, ValidationError):
                continue  # named by the template check


def _check_domains(campaign: Campaign, cfile: str, report: CheckReport) -> None:
    sender_domain = campaign.sender_email.rsplit("@", 1)[-1].lower()
    for path, domain in (("sender.email", sender_domain), ("inbound.domain", campaign.inbound_domain)):
        if not _DOMAIN_RE.match(domain):
            report.problems.append(f"{cfile}: {path}: {domain!r} is not a domain name")
    if campaign.sender_email.lower() not in campaign.inbound_addresses:
        report.problems.append(
            f"{cfile}: sender.email: {campaign.sender_email!r} is not one of inbound.addresses "
            "(customers' answers to the ack would not reach the campaign)"
        )
    if campaign.message_id_domain not in {sender_domain, campaign.inbound_domain}:
        report.problems.append(
            f"{cfile}: inbound.message_id_domain: {campaign.message_id_domain!r} is neither the sender's nor the "
            "inbound domain (our own mail coming back would not be recognised)"
        )


def _check_model(campaign: Campaign, layout: CampaignLayout, report: CheckReport, *, train: Trainer | None) -> None:
    state = train(campaign, layout) if train is not None else model_state(campaign, layout)
    report.model = state
    where = layout.rel(layout.model_dir)
    if state.status == "trained":
        report.notes.append(f"{where}: topic model trained from the campaign's topics ({state.detail})")
    elif not state.ok:
        report.problems.append(
            f"{where}: topic model {state.status}: {state.detail} "
            f"(`replydesk package` trains it; or `replydesk campaign check {campaign.name} --train`)"
        )

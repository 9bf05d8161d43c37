"""`replydesk package`: one CloudFormation (SAM) template per campaign, produced offline."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import zipfile
from datetime import date
from pathlib import Path

from chalicelib.config import (
    CAMPAIGN_DIR,
    ENV_CAMPAIGN,
    ENV_STAGE,
    Campaign,
    campaign_data,
    load_campaign,
    parse_campaign,
    source_digest,
)
from cli.package_models import add_trimmed_models
from cli.slim import add_bytecode, drop_sdk
from cli.template import ROOT, merge_template


def check_templates(campaign: Campaign) -> None:
    """The seed library must hold every system template in every campaign language, and render on the sample."""
    from chalicelib.library.context import sample_context
    from chalicelib.library.seed import check_seed

    check_seed(campaign, ROOT / "templates" / campaign.name, sample_context(campaign))


def add_campaign_json(zip_path: Path, campaign: Campaign) -> str:
    """Add the campaign's YAML as JSON next to it in the zip (`chalicelib/campaigns/<name>.json`).

    The functions then read it with `json` at cold start instead of importing PyYAML and parsing
    (load_campaign prefers the copy). Dates become ISO strings, which the campaign's checks accept as
    well; the copy must give the very Campaign the YAML gives, or nothing is packaged. Returns the entry's name.
    """
    source = CAMPAIGN_DIR / f"{campaign.name}.yaml"
    yaml_text = source.read_text(encoding="utf-8")
    data = campaign_data(yaml_text, source.name)
    # The YAML's digest goes with the copy: a copy of an older YAML is never read in its place.
    envelope = {"source_sha256": source_digest(yaml_text), "campaign": data}
    text = json.dumps(envelope, default=_iso_date, ensure_ascii=False, separators=(",", ":"))
    if parse_campaign(json.loads(text)["campaign"], source=source.name) != campaign:
        raise RuntimeError(f"{source.name}: its JSON form gives another campaign; not packaged")
    entry = f"chalicelib/campaigns/{campaign.name}.json"
    with zipfile.ZipFile(zip_path, "a", zipfile.ZIP_DEFLATED) as zf:
        if entry in zf.namelist():
            raise RuntimeError(f"{entry} is already in the package; the campaign's source is its YAML")
        zf.writestr(entry, text)
    return entry


def _iso_date(value: object) -> str:
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def package(campaign_name: str, stage: str, out: Path, *, bundle_sdk: bool = False) -> Path:
    """Write `<out>/sam.json` (and deployment.zip); returns the template's path.

    The zip leaves out boto3/botocore and their dependencies (the Lambda runtime has them) unless
    `bundle_sdk`, for a stack that wants the SDK version it was tested with, and carries bytecode for
    what a cold start imports (cli/slim.py). An incomplete campaign raises IncompleteCampaign naming
    every missing piece; a missing or stale topic model is trained first, so a new campaign needs no
    separate step.
    """
    from chalicelib.campaign.checks import require_complete
    from chalicelib.campaign.layout import CampaignLayout
    from cli.campaign_train import ensure_model

    require_complete(campaign_name, CampaignLayout(campaign_name, ROOT), train=ensure_model)
    campaign = load_campaign(campaign_name)  # a bad campaign fails here, before anything is built
    check_templates(campaign)  # and so does a seed library lacking a template the campaign needs
    out.mkdir(parents=True, exist_ok=True)
    merge = out / "merge.json"
    merge.write_text(json.dumps(merge_template(campaign, stage), indent=2), encoding="utf-8")
    pkg_dir = out / "package"
    if pkg_dir.exists():
        shutil.rmtree(pkg_dir)
    env = {**os.environ, ENV_CAMPAIGN: campaign.name, ENV_STAGE: stage}
    # Chalice wants a region to name things; the template itself is region-independent.
    env.setdefault("AWS_DEFAULT_REGION", env.get("AWS_REGION", "us-east-1"))
    chalice = Path(sys.executable).with_name("chalice")
    cmd = [str(chalice), "package", "--stage", stage, "--merge-template", str(merge), str(pkg_dir)]
    subprocess.run(cmd, cwd=ROOT, env=env, check=True)
    if not bundle_sdk:
        drop_sdk(pkg_dir / "deployment.zip")
    add_trimmed_models(pkg_dir / "deployment.zip")
    add_campaign_json(pkg_dir / "deployment.zip", campaign)  # before the bytecode: what a cold start imports changes
    import_env = {ENV_CAMPAIGN: campaign.name, ENV_STAGE: stage, "AWS_DEFAULT_REGION": env["AWS_DEFAULT_REGION"]}
    add_bytecode(pkg_dir / "deployment.zip", import_env)
    return pkg_dir / "sam.json"


def _run(ns: argparse.Namespace) -> int:
    from chalicelib.campaign.checks import IncompleteCampaign

    try:
        path = package(
            ns.campaign, ns.stage, Path(ns.out or f"build/{ns.campaign}-{ns.stage}"), bundle_sdk=ns.bundle_sdk
        )
    except IncompleteCampaign as exc:
        print(f"replydesk package: nothing packaged.\n{exc.report.text()}", file=sys.stderr)
        return 1
    template = json.loads(path.read_text())
    print(f"packaged campaign {ns.campaign!r} stage {ns.stage!r}: {path} ({len(template['Resources'])} resources)")
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--campaign", default="demo")
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--out", help="output directory (default build/<campaign>-<stage>)")
    parser.add_argument(
        "--bundle-sdk",
        action="store_true",
        help="ship boto3/botocore in the package (default: use the Lambda runtime's)",
    )
    parser.set_defaults(func=_run)

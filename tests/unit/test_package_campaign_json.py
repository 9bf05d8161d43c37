"""The campaign's JSON copy in the deployment package: the same Campaign as its YAML, read without PyYAML."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from chalicelib.config import CAMPAIGN_DIR, load_campaign, source_digest
from chalicelib.errors import ConfigError
from cli.package_cmd import add_campaign_json

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def test_the_packaged_copy_gives_the_campaign_the_yaml_gives(tmp_path: Path) -> None:
    # GIVEN a deployment zip holding our code (as Chalice builds it)
    path = tmp_path / "deployment.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("chalicelib/campaigns/demo.yaml", (CAMPAIGN_DIR / "demo.yaml").read_bytes())
    campaign = load_campaign("demo")
    # WHEN the campaign's JSON copy is added
    entry = add_campaign_json(path, campaign)
    # THEN it stands next to the YAML, its dates are ISO strings, and it loads as the same Campaign
    assert entry == "chalicelib/campaigns/demo.json"
    with zipfile.ZipFile(path) as zf:
        zf.extractall(tmp_path / "task")
        data = json.loads(zf.read(entry))["campaign"]
    assert all(isinstance(day, str) for day in data["business_hours"]["holidays"])
    assert load_campaign("demo", tmp_path / "task" / "chalicelib" / "campaigns") == campaign


def test_a_second_copy_is_refused(tmp_path: Path) -> None:
    # GIVEN a zip that already carries a JSON campaign (the YAML is the only source)
    path = tmp_path / "deployment.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("chalicelib/campaigns/demo.json", "{}")
    # WHEN / THEN adding the copy is refused, naming the entry
    with pytest.raises(RuntimeError, match=r"demo\.json is already in the package"):
        add_campaign_json(path, load_campaign("demo"))


def test_the_json_copy_is_preferred_and_validated_like_the_yaml(tmp_path: Path) -> None:
    # GIVEN a campaign directory with the YAML and a JSON copy made from it that differs from it
    shutil.copy(CAMPAIGN_DIR / "demo.yaml", tmp_path / "demo.yaml")
    yaml_campaign = load_campaign("demo", tmp_path)
    data = json.loads(json.dumps(_yaml_data(), default=str))
    data["brand"] = "From the JSON copy"
    (tmp_path / "demo.json").write_text(_copy(data), encoding="utf-8")
    # WHEN the campaign is loaded
    campaign = load_campaign("demo", tmp_path)
    # THEN the copy is what was read
    assert campaign.brand == "From the JSON copy" != yaml_campaign.brand
    # AND a broken copy is a clear error naming the file, not a fallback to the YAML
    (tmp_path / "demo.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid JSON") as err:
        load_campaign("demo", tmp_path)
    assert "demo.json" in str(err.value)
    # AND a copy with a bad field is refused by the same checks as the YAML
    data["business_hours"]["timezone"] = "Mars/Olympus"
    (tmp_path / "demo.json").write_text(_copy(data), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"business_hours\.timezone"):
        load_campaign("demo", tmp_path)


def test_reading_the_packaged_campaign_does_not_import_pyyaml(tmp_path: Path) -> None:
    # GIVEN a campaign directory holding the JSON copy
    shutil.copy(CAMPAIGN_DIR / "demo.yaml", tmp_path / "demo.yaml")
    (tmp_path / "demo.json").write_text(_copy(_yaml_data()), encoding="utf-8")
    # WHEN a fresh interpreter loads the campaign from it
    code = (
        "import sys; from pathlib import Path; from chalicelib.config import load_campaign\n"
        f"load_campaign('demo', Path({str(tmp_path)!r})); print('yaml' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    # THEN PyYAML was never imported
    assert out.stdout.strip() == "False"


def test_a_copy_of_an_older_yaml_is_not_read(tmp_path: Path) -> None:
    # GIVEN a JSON copy, and the YAML edited after it was made (a copy left in a source tree, say)
    shutil.copy(CAMPAIGN_DIR / "demo.yaml", tmp_path / "demo.yaml")
    data = json.loads(json.dumps(_yaml_data(), default=str))
    data["brand"] = "From the old copy"
    (tmp_path / "demo.json").write_text(_copy(data), encoding="utf-8")
    text = (tmp_path / "demo.yaml").read_text(encoding="utf-8")
    (tmp_path / "demo.yaml").write_text(text.replace("brand: ", "brand: Edited ", 1), encoding="utf-8")
    # WHEN the campaign is loaded THEN the YAML, the source, is what was read
    assert load_campaign("demo", tmp_path).brand.startswith("Edited ")
    # AND a file that is no packaged copy at all is a clear error
    (tmp_path / "demo.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ConfigError, match="not a packaged campaign"):
        load_campaign("demo", tmp_path)


def _copy(data: object) -> str:
    """The JSON copy `replydesk package` writes of this directory's demo.yaml, holding `data`."""
    return json.dumps({"source_sha256": source_digest(_yaml_text()), "campaign": data}, default=str)


def _yaml_text() -> str:
    return (CAMPAIGN_DIR / "demo.yaml").read_text(encoding="utf-8")


def _yaml_data() -> object:
    from chalicelib.config import campaign_data

    return campaign_data((CAMPAIGN_DIR / "demo.yaml").read_text(encoding="utf-8"), "demo.yaml")

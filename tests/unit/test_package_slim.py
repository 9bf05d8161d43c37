"""The deployment zip without the SDK (cli/slim.py): boto3/botocore and their dependencies out, the rest as it was."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from cli.slim import drop_sdk, is_sdk

pytestmark = pytest.mark.unit

ENTRIES = {
    "app.py": b"import chalicelib\n",
    "chalicelib/__init__.py": b"",
    "boto3/__init__.py": b"x" * 100,
    "botocore/data/s3/service-2.json": b"{}" * 500,
    "botocore-1.44.8.dist-info/RECORD": b"r",
    "s3transfer/__init__.py": b"",
    "jmespath-1.1.0.data/scripts/jp.py": b"",
    "python_dateutil-2.9.0.post0.dist-info/METADATA": b"",
    "dateutil/tz.py": b"",
    "urllib3/__init__.py": b"",
    "six.py": b"",
    "pynamodb/__init__.py": b"",
    "jwt/__init__.py": b"",
    "sixteen/__init__.py": b"",  # only the SDK's own names go, not look-alikes
}


def test_the_sdk_leaves_and_everything_else_stays(tmp_path: Path) -> None:
    # GIVEN a zip as Chalice builds it, with the SDK vendored
    path = tmp_path / "deployment.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in ENTRIES.items():
            zf.writestr(name, data)
    # WHEN the SDK is dropped
    result = drop_sdk(path)
    # THEN only our code and the other dependencies remain, byte for byte
    with zipfile.ZipFile(path) as zf:
        kept = {i.filename: zf.read(i) for i in zf.infolist()}
    assert set(kept) == {
        "app.py",
        "chalicelib/__init__.py",
        "pynamodb/__init__.py",
        "jwt/__init__.py",
        "sixteen/__init__.py",
    }
    assert kept["app.py"] == ENTRIES["app.py"]
    assert (result.files_before, result.files_after) == (len(ENTRIES), 5)
    assert result.unzipped_after < result.unzipped_before


@pytest.mark.parametrize(
    ("name", "sdk"),
    [("botocore/client.py", True), ("boto3-1.40.0.dist-info/RECORD", True), ("six.py", True), ("nh3/x.so", False)],
)
def test_what_counts_as_the_sdk(name: str, sdk: bool) -> None:
    assert is_sdk(name) is sdk

"""Leave the AWS SDK out of the deployment package Chalice builds: the Lambda runtime provides it."""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

# boto3 and what it needs, all of which the Lambda Python runtime ships (its own versions). PynamoDB and
# Powertools need botocore and jmespath too, so Chalice vendors them even without boto3 in requirements.txt.
SDK_DISTRIBUTIONS = ("boto3", "botocore", "s3transfer", "jmespath", "python_dateutil", "urllib3", "six")
SDK_TOP_LEVEL = frozenset({"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py"})
_SDK_METADATA = re.compile(rf"^({'|'.join(SDK_DISTRIBUTIONS)})-[^/]+\.(dist-info|data)$")


@dataclass(frozen=True, slots=True)
class SlimResult:
    files_before: int
    files_after: int
    unzipped_before: int
    unzipped_after: int


def is_sdk(name: str) -> bool:
    top = name.split("/", 1)[0]
    return top in SDK_TOP_LEVEL or bool(_SDK_METADATA.match(top))


def drop_sdk(zip_path: Path) -> SlimResult:
    """Rewrite `zip_path` without the SDK's files (same entries otherwise, same compression)."""
    tmp = zip_path.with_suffix(".slim.zip")
    with zipfile.ZipFile(zip_path) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        infos = src.infolist()
        kept = [i for i in infos if not is_sdk(i.filename)]
        for info in kept:
            dst.writestr(info, src.read(info), compress_type=info.compress_type)
    tmp.replace(zip_path)
    return SlimResult(
        files_before=len(infos),
        files_after=len(kept),
        unzipped_before=sum(i.file_size for i in infos),
        unzipped_after=sum(i.file_size for i in kept),
    )

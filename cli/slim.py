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


# What a cold start imports: the app, the processing path and the staff API's verifier (their imports
# inside handlers included), and what the routes and the events handler import on their first call
# (imported there, not with app.py, so that other functions' cold starts skip them). Run from the
# unzipped package, so only its files are compiled.
_PROBE = """
import json, sys
import app
import chalicelib.pipeline, chalicelib.runtime, chalicelib.auth.tokens, chalicelib.classify
import chalicelib.pages, chalicelib.events, chalicelib.workflow_events, chalicelib.reply
import chalicelib.console.actions, chalicelib.console.customers, chalicelib.console.detail
import chalicelib.console.merge, chalicelib.console.presence, chalicelib.console.queues
import chalicelib.console.search, chalicelib.console.staffadmin, chalicelib.console.audit
import chalicelib.gdpr.audit, chalicelib.gdpr.erase, chalicelib.gdpr.export, chalicelib.gdpr.subject
import chalicelib.campaign.brief
root = sys.argv[1]
files = sorted({m.__file__ for m in list(sys.modules.values()) if getattr(m, "__file__", None)})
print(json.dumps([f for f in files if f.startswith(root) and f.endswith(".py")]))
"""


def _drop_bytecode_caches(zip_path: Path) -> None:
    """Chalice copies chalicelib/ as it is, with the developer's own `__pycache__`: those entries would
    stand next to (and be counted with) the ones add_bytecode writes, so they go first."""
    with zipfile.ZipFile(zip_path) as src:
        infos = src.infolist()
        if not any("__pycache__/" in i.filename for i in infos):
            return
        tmp = zip_path.with_suffix(".nocache.zip")
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
            for info in infos:
                if "__pycache__/" not in info.filename:
                    dst.writestr(info, src.read(info), compress_type=info.compress_type)
    tmp.replace(zip_path)


@dataclass(frozen=True, slots=True)
class BytecodeResult:
    modules: int
    bytes_added: int


def add_bytecode(zip_path: Path, env: dict[str, str]) -> BytecodeResult:
    """Add `.pyc` files for every module a cold start imports, compiled by this interpreter.

    Lambda's task directory is read-only, so without them every cold start compiles what it imports.
    Unchecked-hash pycs are used without looking at the source's mtime (which a zip need not keep);
    they are built from the same files in the same step, so they cannot be stale. Only this minor
    version of CPython reads them (`cpython-311`); another runtime ignores them and compiles as before.
    """
    import importlib.util
    import json
    import os
    import py_compile
    import subprocess
    import sys
    import tempfile

    _drop_bytecode_caches(zip_path)
    with tempfile.TemporaryDirectory() as tmp:
        task = Path(tmp) / "task"
        with zipfile.ZipFile(zip_path) as zf:
            zf.extractall(task)
        # The build venv's site-packages after the package, for the SDK the runtime would provide.
        site = [p for p in sys.path if p.endswith("site-packages")]
        code = f"import sys; sys.path[:0] = {[str(task), *site]!r}\n{_PROBE}"
        probe = subprocess.run(
            [sys.executable, "-S", "-c", code, str(task)],
            cwd=task,
            env={"PATH": os.environ.get("PATH", ""), "PYTHONDONTWRITEBYTECODE": "1", **env},
            capture_output=True,
            text=True,
            check=True,
        )
        files = [Path(f) for f in json.loads(probe.stdout.strip().splitlines()[-1])]
        added = 0
        with zipfile.ZipFile(zip_path, "a", zipfile.ZIP_DEFLATED) as zf:
            for source in files:
                rel = source.relative_to(task)
                cache = Path(importlib.util.cache_from_source(str(source)))
                py_compile.compile(
                    str(source),
                    cfile=str(cache),
                    dfile=str(rel),
                    doraise=True,
                    invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
                )
                zf.write(cache, cache.relative_to(task).as_posix())
                added += cache.stat().st_size
    return BytecodeResult(len(files), added)

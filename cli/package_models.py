"""`replydesk package`: botocore's largest data files cut down to what our clients use, shipped in the zip.

botocore decodes a service's whole model when it makes a client, and its whole endpoint list
(`endpoints.json`, 1.25 MB, every service in every partition) for the first client; S3's model is
1.3 MB of JSON with 116 operations: together most of the processing function's client start-up
(issue 13), while the functions call a handful of S3 operations and make clients for nine services.
The package carries, under `chalicelib/sdkmodels/`, the S3 model with only those operations and the
shapes they reach, `endpoints.json` with only those services (every partition and region kept), both
cut from the build's own botocore, and a manifest with the SHA-256 of each file they were cut from:
`chalicelib.aws` puts the directory first on botocore's data path only when the botocore it runs with
has those very files (otherwise botocore's own are used, as without the cut).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import botocore
from botocore import xform_name

from cli.template import ROOT

MODELS_DIR = "chalicelib/sdkmodels"  # chalicelib.aws.TRIMMED_MODELS, inside the package
MANIFEST = "manifest.json"
SERVICE = "s3"
# Operations botocore's own S3 customisations call on the client: the region redirector's HeadBucket
# and S3 Express's CreateSession.
SDK_CALLS = frozenset({"HeadBucket", "CreateSession"})
_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]+")
_CLIENT = re.compile(r'_client\(\s*"([a-z0-9-]+)"')


def _botocore_model(service: str) -> tuple[Path, Any]:
    """(the model file in the build's botocore, its decoded content) for the service's latest API version."""
    base = Path(botocore.__file__).parent / "data" / service
    version = max(p.name for p in base.iterdir() if p.is_dir())
    for name in ("service-2.json.gz", "service-2.json"):
        path = base / version / name
        if path.exists():
            raw = path.read_bytes()
            return path, json.loads(gzip.decompress(raw) if name.endswith(".gz") else raw)
    raise FileNotFoundError(f"no service-2 model for {service} in botocore")


def operations_called(model: Any, sources: Iterable[Path]) -> set[str]:
    """Every operation whose Python name appears as a word in the sources (calls, paginator names), plus SDK_CALLS.

    Over-inclusion is harmless (a few shapes more); a call missed would be a missing method, so any
    word that names an operation counts, not only `client.<name>(` calls.
    """
    by_python = {xform_name(op): op for op in model["operations"]}
    words: set[str] = set()
    for path in sources:
        words.update(_IDENTIFIER.findall(path.read_text(encoding="utf-8")))
    return {by_python[w] for w in words if w in by_python} | (SDK_CALLS & set(model["operations"]))


def trim(model: Any, operations: set[str]) -> Any:
    """The model with only `operations` and the shapes reachable from their input, output and errors."""
    ops = {name: op for name, op in model["operations"].items() if name in operations}
    missing = operations - set(ops)
    if missing:
        raise ValueError(f"not operations of the model: {', '.join(sorted(missing))}")
    shapes = model["shapes"]
    keep: set[str] = set()
    pending = [ref["shape"] for op in ops.values() for ref in (op.get("input"), op.get("output")) if ref]
    pending += [err["shape"] for op in ops.values() for err in op.get("errors", ())]
    while pending:
        name = pending.pop()
        if name in keep:
            continue
        keep.add(name)
        shape = shapes[name]
        pending += [member["shape"] for member in shape.get("members", {}).values()]
        pending += [shape[k]["shape"] for k in ("member", "key", "value") if k in shape]
    return {**model, "operations": ops, "shapes": {n: s for n, s in shapes.items() if n in keep}}


def clients_made(aws_module: Path) -> list[str]:
    """The services chalicelib.aws makes clients for (its `_client("<service>"` calls)."""
    return sorted(set(_CLIENT.findall(aws_module.read_text(encoding="utf-8"))))


def trim_endpoints(endpoints: Any, prefixes: set[str]) -> Any:
    """endpoints.json with only the services named by `prefixes` (endpoint prefixes) in each partition."""
    partitions = [
        {**part, "services": {k: v for k, v in part["services"].items() if k in prefixes}}
        for part in endpoints["partitions"]
    ]
    return {**endpoints, "partitions": partitions}


def _endpoint_prefixes(services: Iterable[str]) -> set[str]:
    prefixes = set()
    for service in services:
        _, model = _botocore_model(service)
        meta = model["metadata"]
        prefixes.add(meta.get("endpointPrefix", service))
        # A signing name of its own may have an entry as well (botocore looks endpoints up by prefix).
        prefixes.add(meta.get("signingName", meta.get("endpointPrefix", service)))
    return prefixes


def _entry(cut_from: Path, data: Path, **extra: Any) -> dict[str, Any]:
    return {
        "cut_from": cut_from.relative_to(data).as_posix(),
        "sha256": hashlib.sha256(cut_from.read_bytes()).hexdigest(),
        **extra,
    }


def trimmed_files(sources: Iterable[Path] | None = None, aws_module: Path | None = None) -> dict[str, bytes]:
    """{path under the models directory: content}: the cut S3 model and endpoints, and the manifest."""
    data = Path(botocore.__file__).parent / "data"
    path, model = _botocore_model(SERVICE)
    if sources is None:
        sources = [ROOT / "app.py", *sorted((ROOT / "chalicelib").rglob("*.py"))]
    cut = trim(model, operations_called(model, sources))
    services = clients_made(aws_module or ROOT / "chalicelib" / "aws.py")
    if SERVICE not in services:
        raise ValueError(f"chalicelib.aws makes no {SERVICE} client: nothing to cut the model for")
    endpoints_path = data / "endpoints.json"
    endpoints = trim_endpoints(json.loads(endpoints_path.read_bytes()), _endpoint_prefixes(services))
    version = path.parent.name
    manifest = {
        "botocore": botocore.__version__,
        "models": [
            _entry(path, data, operations=sorted(cut["operations"])),
            _entry(endpoints_path, data, services=services),
        ],
    }
    return {
        f"{SERVICE}/{version}/service-2.json": json.dumps(cut, separators=(",", ":")).encode(),
        "endpoints.json": json.dumps(endpoints, separators=(",", ":")).encode(),
        MANIFEST: json.dumps(manifest, indent=1).encode(),
    }


def add_trimmed_models(zip_path: Path) -> list[str]:
    """Write the cut models into the deployment zip under MODELS_DIR; returns the entries written."""
    files = trimmed_files()
    with zipfile.ZipFile(zip_path, "a", zipfile.ZIP_DEFLATED) as zf:
        present = set(zf.namelist())
        entries = [f"{MODELS_DIR}/{name}" for name in files]
        if present & set(entries):
            raise RuntimeError(f"{MODELS_DIR} is already in the package: it is written here only")
        for entry, data in zip(entries, files.values(), strict=True):
            zf.writestr(entry, data)
    return entries

"""The cut botocore data `replydesk package` ships (cli/package_models.py) and when chalicelib.aws uses it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import botocore
import pytest

from chalicelib import aws
from cli.package_models import (
    MANIFEST,
    clients_made,
    operations_called,
    trim,
    trim_endpoints,
    trimmed_files,
)

pytestmark = pytest.mark.unit

MODEL: dict[str, Any] = {
    "metadata": {"endpointPrefix": "x"},
    "operations": {
        "PutThing": {"input": {"shape": "PutThingRequest"}, "errors": [{"shape": "NoSuchThing"}]},
        "ListThings": {"input": {"shape": "ListRequest"}, "output": {"shape": "ListOutput"}},
        "DeleteThing": {"input": {"shape": "DeleteRequest"}},
    },
    "shapes": {
        "PutThingRequest": {"type": "structure", "members": {"Tags": {"shape": "TagMap"}}},
        "TagMap": {"type": "map", "key": {"shape": "Key"}, "value": {"shape": "Value"}},
        "Key": {"type": "string"},
        "Value": {"type": "string"},
        "NoSuchThing": {"type": "structure", "members": {}},
        "ListRequest": {"type": "structure", "members": {}},
        "ListOutput": {"type": "structure", "members": {"Items": {"shape": "ItemList"}}},
        "ItemList": {"type": "list", "member": {"shape": "Item"}},
        "Item": {"type": "structure", "members": {"Key": {"shape": "Key"}}},
        "DeleteRequest": {"type": "structure", "members": {"Only": {"shape": "OnlyForDelete"}}},
        "OnlyForDelete": {"type": "string"},
    },
}


def test_the_cut_keeps_the_operations_and_every_shape_they_reach() -> None:
    # GIVEN a model with three operations WHEN it is cut to two
    cut = trim(MODEL, {"PutThing", "ListThings"})
    # THEN those stay with their inputs, outputs, errors, map keys/values and list members, and nothing else
    assert set(cut["operations"]) == {"PutThing", "ListThings"}
    assert set(cut["shapes"]) == set(MODEL["shapes"]) - {"DeleteRequest", "OnlyForDelete"}
    assert cut["metadata"] == MODEL["metadata"]
    # AND an operation the model lacks is an error, not a silent omission
    with pytest.raises(ValueError, match="CopyThing"):
        trim(MODEL, {"CopyThing"})


def test_every_word_naming_an_operation_counts_as_called(tmp_path: Path) -> None:
    # GIVEN sources that call one operation and name another as a paginator
    src = tmp_path / "mod.py"
    src.write_text('client.put_thing(Bucket=b)\npages = client.get_paginator("list_things")\n', encoding="utf-8")
    # WHEN the called operations are found THEN both are, and the one never named is not
    assert operations_called(MODEL, [src]) == {"PutThing", "ListThings"}


def test_the_endpoints_keep_only_our_services_in_every_partition() -> None:
    endpoints = {
        "version": 3,
        "partitions": [
            {"partition": "aws", "regions": {"us-east-1": {}}, "services": {"s3": {"a": 1}, "ec2": {}, "email": {}}},
            {"partition": "aws-cn", "regions": {"cn-north-1": {}}, "services": {"s3": {"b": 2}, "iot": {}}},
        ],
    }
    cut = trim_endpoints(endpoints, {"s3", "email"})
    assert [sorted(p["services"]) for p in cut["partitions"]] == [["email", "s3"], ["s3"]]
    assert [p["regions"] for p in cut["partitions"]] == [p["regions"] for p in endpoints["partitions"]]
    assert cut["partitions"][1]["services"]["s3"] == {"b": 2} and cut["version"] == 3


def test_the_services_are_those_chalicelib_aws_makes_clients_for() -> None:
    services = clients_made(Path(aws.__file__))
    assert {"s3", "dynamodb", "ses", "sns", "sqs", "stepfunctions"} <= set(services)


def test_the_real_cut_covers_every_s3_call_in_chalicelib() -> None:
    # GIVEN the cut the package ships, from this botocore
    files = trimmed_files()
    manifest = json.loads(files[MANIFEST])
    (s3_path,) = [name for name in files if name.startswith("s3/")]
    model = json.loads(files[s3_path])
    # THEN it holds the operations chalicelib calls and what botocore's S3 customisations call
    assert {"GetObject", "PutObject", "ListObjectsV2", "DeleteObjects", "HeadBucket"} <= set(model["operations"])
    assert set(model["operations"]) == set(manifest["models"][0]["operations"])
    assert len(model["operations"]) < 20  # of 116: the point of the cut
    assert manifest["botocore"] == botocore.__version__


def _write(directory: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def test_the_cut_is_used_only_if_cut_from_this_botocore(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN no cut (tests, the local stack): botocore's own data
    monkeypatch.setattr(aws, "TRIMMED_MODELS", tmp_path / "sdkmodels")
    assert aws.trimmed_models_path() is None
    # GIVEN the cut as the package carries it: used
    files = trimmed_files()
    _write(tmp_path / "sdkmodels", files)
    assert aws.trimmed_models_path() == str(tmp_path / "sdkmodels")
    # GIVEN a manifest whose source file differs from this botocore's (another SDK version): not used
    manifest = json.loads(files[MANIFEST])
    manifest["models"][1]["sha256"] = "0" * 64
    (tmp_path / "sdkmodels" / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    assert aws.trimmed_models_path() is None
    # GIVEN a source file this botocore does not have at all: not used
    manifest = json.loads(files[MANIFEST])
    manifest["models"][0]["cut_from"] = "s3/1999-01-01/service-2.json.gz"
    (tmp_path / "sdkmodels" / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    assert aws.trimmed_models_path() is None


def test_with_the_cut_the_loader_knows_the_packages_services_without_listing_botocores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import UnknownServiceError

    # GIVEN the cut as the package carries it
    _write(tmp_path / "sdkmodels", trimmed_files())
    monkeypatch.setattr(aws, "TRIMMED_MODELS", tmp_path / "sdkmodels")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    aws._session.cache_clear()
    try:
        session = aws._session()
        loader = session.get_component("data_loader")
        # THEN the services it knows are the ones chalicelib.aws makes clients for, not botocore's 400-odd
        known = loader.list_available_services("service-2")
        assert known == sorted(clients_made(Path(aws.__file__)))
        assert "ec2" not in known
        # AND each client is made, S3's from the cut model, the others from botocore's own
        s3 = session.create_client("s3", region_name="eu-west-1")
        assert s3.meta.service_model.operation_names == sorted(
            json.loads(trimmed_files()[MANIFEST])["models"][0]["operations"]
        )
        ddb = session.create_client("dynamodb", region_name="eu-west-1")
        assert "TransactWriteItems" in ddb.meta.service_model.operation_names
        # AND a service the package makes no client for is unknown, as without its model
        with pytest.raises(UnknownServiceError):
            session.create_client("ec2", region_name="eu-west-1")
    finally:
        aws._session.cache_clear()

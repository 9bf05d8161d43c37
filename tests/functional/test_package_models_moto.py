"""An S3 client made from the package's cut model (cli/package_models.py) does what ours do, against moto."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib import aws
from cli.package_models import add_trimmed_models

pytestmark = pytest.mark.functional


@pytest.fixture
def cut_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """chalicelib.aws's session as a package has it: the cut data written by add_trimmed_models, unzipped."""
    path = tmp_path / "deployment.zip"
    zipfile.ZipFile(path, "w").close()
    entries = add_trimmed_models(path)
    with zipfile.ZipFile(path) as zf:
        zf.extractall(tmp_path / "task")
    models = tmp_path / "task" / "chalicelib" / "sdkmodels"
    assert {e.split("sdkmodels/")[1] for e in entries} >= {"manifest.json", "endpoints.json"}
    monkeypatch.setattr(aws, "TRIMMED_MODELS", models)
    aws._session.cache_clear()
    try:
        yield aws._session()
    finally:
        aws._session.cache_clear()


def test_an_s3_client_from_the_cut_model_round_trips_against_moto(cut_session: Any, moto_url: str) -> None:
    # GIVEN a session whose data path starts with the cut models
    assert cut_session.get_config_variable("data_path").startswith(str(aws.TRIMMED_MODELS))
    s3 = cut_session.create_client("s3", region_name="us-east-1", endpoint_url=moto_url)
    # THEN the client has the cut's operations only
    assert len(s3.meta.service_model.operation_names) < 20
    assert not hasattr(s3, "copy_object")
    # WHEN it does what chalicelib does with S3
    s3.create_bucket(Bucket="cut-model")
    s3.head_bucket(Bucket="cut-model")
    for i in range(3):
        s3.put_object(Bucket="cut-model", Key=f"raw/{i}", Body=b"mail %d" % i, Metadata={"channel": "email"})
    got = s3.get_object(Bucket="cut-model", Key="raw/1")
    keys = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket="cut-model", PaginationConfig={"PageSize": 2})
        for o in page.get("Contents", [])
    ]
    deleted = s3.delete_objects(Bucket="cut-model", Delete={"Objects": [{"Key": k} for k in keys]})
    # THEN bodies, metadata, pages and errors come back as from the full model
    assert got["Body"].read() == b"mail 1" and got["Metadata"] == {"channel": "email"}
    assert keys == ["raw/0", "raw/1", "raw/2"]
    assert len(deleted["Deleted"]) == 3
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket="cut-model", Key="raw/1")


def test_other_clients_from_the_cut_endpoints_work_against_moto(
    cut_session: Any, moto_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")]:
        monkeypatch.delenv(name)  # an endpoint override of another test's: the real hosts are checked below
    # GIVEN the cut endpoints.json WHEN clients of the services chalicelib uses are made and called
    sqs = cut_session.create_client("sqs", region_name="eu-west-1", endpoint_url=moto_url)
    url = sqs.create_queue(QueueName="cut-endpoints")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="x")
    ddb = cut_session.create_client("dynamodb", region_name="eu-west-1", endpoint_url=moto_url)
    # THEN they answer as usual, and without an endpoint override they resolve AWS's real hosts
    assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "x"
    assert "TableNames" in ddb.list_tables()
    ses = cut_session.create_client("ses", region_name="eu-west-1")
    assert ses.meta.endpoint_url == "https://email.eu-west-1.amazonaws.com"
    s3 = cut_session.create_client("s3", region_name="eu-west-1")
    assert s3.meta.endpoint_url == "https://s3.eu-west-1.amazonaws.com"

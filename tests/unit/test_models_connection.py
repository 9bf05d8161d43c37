"""The PynamoDB models share one connection: one botocore session and DynamoDB client, not one per table."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib import models
from chalicelib.config import load_settings

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
BOUND = (
    models.CustomerModel,
    models.IdentityModel,
    models.ConversationModel,
    models.MessageModel,
    models.SuppressionModel,
    models.OutboxModel,
    models.RateLimitModel,
    models.TemplateModel,
    models.SearchTokenModel,
    models.IntakeSeenModel,
)


def _stage_env() -> dict[str, str]:
    # The stage's environment as the benchmark builds it from the merged template (names only, nothing called).
    code = (
        "import json, sys; sys.path.insert(0, 'bench'); import bench_coldstart as b; print(json.dumps(b.stage_env()))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    env: dict[str, str] = json.loads(out.stdout.strip().splitlines()[-1])
    return env


def test_every_bound_model_uses_one_connection_and_one_client(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, os.environ.get(name, "testing"))
    settings = load_settings(_stage_env(), aws_endpoint_url="http://127.0.0.1:1")
    previous = {m: (m.Meta.table_name, m.Meta.host, m.Meta.region, m._connection) for m in BOUND}
    try:
        # GIVEN the models bound to a stage's tables
        models.bind_models(settings)
        # WHEN each model's connection and client are taken (no call is made)
        connections = {id(m._get_connection().connection) for m in BOUND}
        clients = {id(m._get_connection().connection.client) for m in BOUND}
        # THEN there is one of each, which knows every model's table
        assert len(connections) == 1 and len(clients) == 1
        shared = models.CustomerModel._get_connection().connection
        for model in BOUND:
            assert shared.get_meta_table(model.Meta.table_name).table_name == model.Meta.table_name
        # AND binding to another endpoint makes a new shared connection that points there
        other = dataclasses.replace(settings, endpoint_url="http://127.0.0.1:2")
        models.bind_models(other)
        moved = {id(m._get_connection().connection) for m in BOUND}
        assert len(moved) == 1 and moved != connections
        assert models.MessageModel._get_connection().connection.client.meta.endpoint_url == "http://127.0.0.1:2"
    finally:
        for model, (table, host, region, connection) in previous.items():
            model.Meta.table_name, model.Meta.host, model.Meta.region = table, host, region
            model._connection = connection

"""Operator commands name the stack they could not reach, never the failure's text."""

from __future__ import annotations

import argparse

import pytest

from cli import ops_target

pytestmark = pytest.mark.unit


def options(**overrides: object) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    ops_target.add_target_arguments(parser)
    ns = parser.parse_args([])
    for key, value in overrides.items():
        setattr(ns, key, value)
    return ns


def test_reach_returns_what_use_makes_of_the_target(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a stack that answers (the account lookup is the only call target_from makes)
    monkeypatch.setattr(ops_target, "target_from", lambda ns: ops_target.Target(None, ns.endpoint, "us-east-1"))  # type: ignore[arg-type]
    # WHEN an operator command reaches it
    got = ops_target.reach(options(endpoint="http://127.0.0.1:1"), lambda target: target.endpoint)
    # THEN it gets what its `use` made of the target
    assert got == "http://127.0.0.1:1"


def test_a_stack_that_is_not_there_is_named_without_the_errors_text(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a stack whose lookup fails with a message quoting customer data
    def failing(_target: ops_target.Target) -> None:
        raise KeyError("alice@example.com")

    monkeypatch.setattr(ops_target, "target_from", lambda ns: ops_target.Target(None, ns.endpoint, "us-east-1"))  # type: ignore[arg-type]
    # WHEN an operator command tries to reach it
    got = ops_target.reach(options(campaign="acme", stage="prod", endpoint="http://127.0.0.1:9"), failing)
    # THEN it gets None and the operator a line naming the stack and the exception's type only
    err = capsys.readouterr().err
    assert got is None
    assert err == "no acme/prod stack answers at http://127.0.0.1:9 (KeyError)\n"
    assert "alice" not in err


def test_aws_is_named_as_the_place_when_asked_for_the_deployed_stage(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def unreachable(_ns: argparse.Namespace) -> ops_target.Target:
        raise ConnectionError("no route")

    monkeypatch.setattr(ops_target, "target_from", unreachable)
    assert ops_target.bound_stack(options(aws=True)) is None
    assert capsys.readouterr().err == "no demo/dev stack answers at AWS (ConnectionError)\n"

"""Search from the console: by reference, email, phone (exact, through identities), name and body words."""

from __future__ import annotations

import json
import random
import urllib.parse
import urllib.request
import uuid
from typing import Any

import pytest
from chalice.test import Client

from tests import staffauth

pytestmark = pytest.mark.functional


@pytest.fixture(scope="module")
def found(stack: Any) -> dict[str, Any]:
    """One web-form contact with a name, an email, a Swedish mobile and a rare word in its message."""
    word = f"zebrafink{uuid.uuid4().hex[:6]}"
    local = f"70{random.randint(1000000, 9999999)}"
    email = f"search-{uuid.uuid4().hex[:8]}@customer.test"
    name = f"Ingrid Quist{uuid.uuid4().hex[:4]}"
    body = json.dumps(
        {
            "name": name,
            "email": email,
            "phone": f"+46{local}",
            "message": f"My parcel with the {word} sticker never arrived, order 4711.",
            "consent": True,
        }
    ).encode()
    req = urllib.request.Request(
        f"{stack.api_url}/contact", data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        ref = str(json.loads(resp.read())["reference"])
    stack.pump.drain()
    return {"ref": ref, "word": word, "email": email, "local": local, "name": name}


def search(stack: Any, q: str) -> Any:
    headers = staffauth.bearer(staffauth.id_token(stack, "agent"))
    with Client(stack.app_module.app) as client:
        return client.http.get(f"/api/search?q={urllib.parse.quote(q)}", headers=headers)


def refs(resp: Any) -> list[str]:
    assert resp.status_code == 200, resp.body
    return [c["conversation_id"] for c in resp.json_body["conversations"]]


def test_by_reference(stack: Any, found: dict[str, Any]) -> None:
    resp = search(stack, found["ref"].lower())
    assert refs(resp) == [found["ref"]] and resp.json_body["matched"] == "reference"


def test_by_phone_as_the_customer_writes_it(stack: Any, found: dict[str, Any]) -> None:
    # GIVEN the number in national format with spaces, as an agent would type it from a call
    local = found["local"]
    national = f"0{local[:2]}-{local[2:5]} {local[5:]}"
    resp = search(stack, national)
    assert resp.json_body["matched"] == "phone" and found["ref"] in refs(resp)
    assert resp.json_body["customers"][0]["name"] == found["name"]


def test_by_email(stack: Any, found: dict[str, Any]) -> None:
    resp = search(stack, found["email"].upper())
    assert resp.json_body["matched"] == "email" and found["ref"] in refs(resp)


def test_by_a_word_from_the_body(stack: Any, found: dict[str, Any]) -> None:
    resp = search(stack, found["word"].upper())
    assert resp.json_body["matched"] == "text" and refs(resp) == [found["ref"]]
    # AND every word must match: with a word that is nowhere, nothing
    assert refs(search(stack, f"{found['word']} nowherewordxyz")) == []


def test_by_customer_name(stack: Any, found: dict[str, Any]) -> None:
    resp = search(stack, found["name"].split()[1])
    assert [c["name"] for c in resp.json_body["customers"]] == [found["name"]]


def test_an_empty_query_is_400(stack: Any) -> None:
    resp = search(stack, " ")
    assert resp.status_code == 400 and "'q' is required" in resp.json_body["Message"]


def test_reindex_restores_a_lost_index_entry(stack: Any, found: dict[str, Any]) -> None:
    # GIVEN the index lost the rare word's entry (a failed write, a restore)
    from chalicelib.models import SearchTokenModel
    from cli.main import main

    SearchTokenModel(token=f"w#{found['word']}", ref=found["ref"]).delete()
    assert refs(search(stack, found["word"])) == []
    # WHEN the operator reindexes the local stack
    assert main(["search", "reindex", "--endpoint", stack.endpoint]) == 0
    # THEN the word finds its conversation again
    assert refs(search(stack, found["word"])) == [found["ref"]]

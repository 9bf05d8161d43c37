"""Contact-form validation: names checked like addresses, caps in bytes, hostile JSON refused with a reason."""

from __future__ import annotations

import json

import pytest

from chalicelib.config import Campaign, load_campaign
from chalicelib.errors import PayloadTooLarge, ValidationError
from chalicelib.intake import web

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def campaign() -> Campaign:
    return load_campaign("demo")


def _form(**fields: object) -> dict[str, object]:
    return {"name": "Ada", "email": "ada@customer.test", "message": "Hello", "consent": True, **fields}


@pytest.mark.parametrize(
    "name",
    [
        "Ada\r\nBcc: victim@x.test",
        "Ada\nLovelace",
        "Ada\x00",
        "Ada\x85Lovelace",
        "Ada\u2028Lovelace",
        "victim@x.test",
        "Ada <victim@x.test>",
        '"Ada"',
        "WIN A PRIZE at http://evil.example",
        "Visit www.evil.example",
        "Ada evil-prize.com",
        "Claim at bit.ly/x1",
        "prize.example now",
        "ftp://evil",
    ],
)
def test_unsendable_or_relay_names_are_refused_naming_the_field(campaign: Campaign, name: str) -> None:
    # GIVEN a name with a line break, a control character, an address or a web address
    # WHEN the submission is validated THEN it is a 400 naming `name`, before anything is stored
    with pytest.raises(ValidationError) as exc:
        web.validate(_form(name=name), campaign)
    assert exc.value.field == "name"


@pytest.mark.parametrize(
    "name", ["Ada Lovelace", "José Ñúñez", "李小龙", "O'Brien-Smith", "Dr. A. B. Jones", "St. John", "Jean-Luc"]
)
def test_ordinary_names_pass(campaign: Campaign, name: str) -> None:
    # GIVEN ordinary names in several scripts WHEN validated THEN they are kept as written
    assert web.validate(_form(name=name), campaign).name == name


@pytest.mark.parametrize(
    "email", [".ada@customer.test", "ada.@customer.test", "a..b@customer.test", "x" * 65 + "@c.test"]
)
def test_address_the_regex_takes_but_the_mail_library_refuses_is_a_400(campaign: Campaign, email: str) -> None:
    # GIVEN an address the loose regex accepts, but which no To header can carry
    # WHEN validated THEN it is refused as an invalid email (no ack could ever be sent to it)
    with pytest.raises(ValidationError) as exc:
        web.validate(_form(email=email), campaign)
    assert exc.value.field == "email"


def test_message_cap_is_in_bytes(campaign: Campaign) -> None:
    # GIVEN messages of 3-byte characters right at and just over the byte cap
    at_cap = "€" * (web.MAX_MESSAGE_BYTES // 3)
    # WHEN validated THEN the one at the cap passes and one more character is refused, naming the field
    assert web.validate(_form(message=at_cap), campaign).message == at_cap
    with pytest.raises(ValidationError) as exc:
        web.validate(_form(message=at_cap + "€"), campaign)
    assert exc.value.field == "message" and "bytes" in str(exc.value)
    # AND the page's character hint never exceeds the byte cap (3 UTF-8 bytes per UTF-16 unit at most)
    assert web.MAX_MESSAGE_CHARS * 3 <= web.MAX_MESSAGE_BYTES


def test_name_cap_is_in_bytes(campaign: Campaign) -> None:
    # GIVEN a name of 67 four-byte characters (268 bytes, 67 characters)
    with pytest.raises(ValidationError) as exc:
        web.validate(_form(name="𝓐" * 67), campaign)
    # THEN it is over the 200-byte cap although it is far under 200 characters
    assert exc.value.field == "name"


@pytest.mark.parametrize("field", ["name", "message", "email", "phone", "topic"])
def test_lone_surrogate_in_a_field_is_a_400_naming_it(campaign: Campaign, field: str) -> None:
    # GIVEN a JSON body whose field holds an escaped lone surrogate (valid JSON, not valid text)
    body = json.dumps(_form(**{field: "a\ud800b"})).encode()
    # WHEN decoded and validated THEN it is a ValidationError naming that field
    with pytest.raises(ValidationError) as exc:
        web.validate(web.decode_form(body, "application/json"), campaign)
    assert exc.value.field == field


@pytest.mark.parametrize("shape", ["[", '{"a":'])
def test_deeply_nested_json_is_a_400_not_a_recursion_error(shape: str) -> None:
    # GIVEN a body under the size cap nesting 10,000 levels deep (json.loads raises RecursionError)
    body = (shape * 10_000).encode()
    with pytest.raises(RecursionError):
        json.loads(body)
    # WHEN decoded THEN it is refused with a reason naming the body
    with pytest.raises(ValidationError) as exc:
        web.decode_form(body, "application/json")
    assert exc.value.field == "body" and "nests" in str(exc.value)


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    # GIVEN a flat form whose message is full of brackets and escaped quotes
    body = json.dumps(_form(message='[[[{{{ "quoted \\" [ ]" ' * 100)).encode()
    # WHEN decoded THEN it is accepted as the object it is
    assert web.decode_form(body, "application/json")["name"] == "Ada"


def test_form_encoded_body_with_invalid_utf8_escapes_is_a_400() -> None:
    # GIVEN a form body whose percent escapes are not UTF-8
    with pytest.raises(ValidationError) as exc:
        web.decode_form(b"name=%ff%fe&email=a%40b.test", "application/x-www-form-urlencoded")
    assert exc.value.field == "body"


def test_body_cap_is_in_bytes() -> None:
    with pytest.raises(PayloadTooLarge):
        web.decode_form(b"{" + b" " * web.MAX_BODY_BYTES + b"}", "application/json")

"""The ASL files of infra/statemachines/ with DefinitionSubstitutions applied, as CloudFormation does."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

STATEMACHINE_DIR = Path(__file__).resolve().parents[1] / "infra" / "statemachines"
NAMES = ("sla", "followup")
# The placeholders the ASL uses; the template's DefinitionSubstitutions must provide each one.
PLACEHOLDERS = ("EventsQueueUrl",)
_PLACEHOLDER_RE = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def definition_path(name: str) -> Path:
    if name not in NAMES:
        raise ValueError(f"unknown state machine {name!r}; use one of {', '.join(NAMES)}")
    return STATEMACHINE_DIR / f"{name}.asl.json"


def placeholders(name: str) -> set[str]:
    """The `${Name}` placeholders the definition uses."""
    return set(_PLACEHOLDER_RE.findall(definition_path(name).read_text(encoding="utf-8")))


def load_state_machine(name: str, substitutions: Mapping[str, str]) -> str:
    """The ASL of `name` with every `${Key}` replaced, as CloudFormation's DefinitionSubstitutions does.

    A placeholder without a value is an error naming it, so a missing resource fails at creation and
    not in the middle of an execution hours later.
    """
    text = definition_path(name).read_text(encoding="utf-8")
    missing = sorted(set(_PLACEHOLDER_RE.findall(text)) - set(substitutions))
    if missing:
        raise KeyError(f"{name}.asl.json needs substitutions for: {', '.join(missing)}")

    def replace(match: re.Match[str]) -> str:
        # The values land inside JSON strings: escape them as JSON would.
        return json.dumps(str(substitutions[match.group(1)]))[1:-1]

    definition = _PLACEHOLDER_RE.sub(replace, text)
    json.loads(definition)  # fail here, not in CreateStateMachine, if a substitution broke the JSON
    return definition

"""Random and mutated manifests are accepted or refused with an ApiError, never a crash."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from podlab import errors
from podlab.manifest import dump_yaml, load_manifests, to_dict
from tests.support.rules import apply_defaults, validate
from tests.unit.manifest_strategies import mutated_manifests

pytestmark = pytest.mark.unit


def _load_default_validate(text: str) -> None:
    try:
        objs = load_manifests(text, "fuzz.yaml")
        for obj in objs:
            apply_defaults(obj)
            validate(obj)
            # What was accepted must also print and load back.
            assert load_manifests(dump_yaml(obj))[0] == obj
    except errors.ApiError:
        pass


def _as_text(doc: Any, as_json: bool) -> str:
    if as_json:
        return json.dumps(doc, default=str)
    return yaml.safe_dump(doc, allow_unicode=True)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=mutated_manifests(), as_json=st.booleans())
def test_mutated_manifest_loads_or_raises_api_error(doc: dict[str, Any], as_json: bool) -> None:
    _load_default_validate(_as_text(doc, as_json))


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=200))
def test_random_text_loads_or_raises_api_error(text: str) -> None:
    _load_default_validate(text)


@settings(max_examples=100, deadline=None)
@given(doc=mutated_manifests())
def test_accepted_mutant_round_trips_through_to_dict(doc: dict[str, Any]) -> None:
    try:
        objs = load_manifests(yaml.safe_dump(doc))
    except errors.ApiError:
        return
    for obj in objs:
        assert load_manifests(json.dumps(to_dict(obj)))[0] == obj

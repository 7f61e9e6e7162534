"""``sysnative map``'s pure parts: a row per project from the layered mapping, and its output."""

from __future__ import annotations

import json

import pytest
from memory import MemoryApt

from sysnative.commands.map import describe, render_text, to_json
from sysnative.mapping.parse import loads
from sysnative.mapping.table import MappingTable


@pytest.fixture
def table() -> MappingTable:
    document = {
        "mappings": [
            {"id": "dep:pypi/numpy", "specs": ["python3-numpy"]},
            {"id": "dep:pypi/pillow", "specs": ["python3-pil", "python3-pil.imagetk"]},
            {"id": "dep:pypi/tensorflow", "specs": []},
        ]
    }
    return loads(json.dumps(document), origin="site.mapping.json", ecosystem="debian", layer="site")


def test_rows_follow_the_names_asked_canonicalised_and_once(table: MappingTable) -> None:
    rows = describe(["NumPy", "numpy", "Pillow", "nope"], table, None)
    assert [row.project for row in rows] == ["numpy", "pillow", "nope"]
    assert rows[0].packages == ("python3-numpy",)
    assert rows[0].layer == "site"
    assert rows[2].layer is None


def test_without_a_provider_nothing_is_claimed_about_the_system(table: MappingTable) -> None:
    text = render_text(describe(["numpy", "tensorflow", "nope"], table, None))
    assert text.splitlines() == [
        "numpy (debian)",
        "  from site: site.mapping.json",
        "  package: python3-numpy  [not checked: no provider for this ecosystem here]",
        "tensorflow (debian)",
        "  the ecosystem does not ship it, from site: site.mapping.json",
        "nope (debian)",
        "  not mapped: no layer names a system package for it",
    ]


def test_one_query_says_what_the_system_has(table: MappingTable) -> None:
    apt = MemoryApt(
        {
            "python3-numpy": {"candidate": "1:1.26.4-1", "installed": "1:1.24.2-1"},
            "python3-pil": {"candidate": "10.2.0-1", "installed": None},
        }
    )
    rows = describe(["numpy", "pillow"], table, apt)
    assert apt.queries == [("python3-numpy", "python3-pil", "python3-pil.imagetk")]
    assert render_text(rows).splitlines() == [
        "numpy (debian)",
        "  from site: site.mapping.json",
        "  package: python3-numpy  [installed 1:1.24.2-1, available 1:1.26.4-1]",
        "pillow (debian)",
        "  from site: site.mapping.json",
        "  package: python3-pil  [available 10.2.0-1]",
        "  also: python3-pil.imagetk  [apt has no such package]",
    ]


def test_json_has_one_object_per_project(table: MappingTable) -> None:
    apt = MemoryApt({"python3-numpy": {"candidate": "1:1.26.4-1", "installed": None}})
    document = to_json(describe(["numpy", "nope"], table, apt))
    assert json.loads(json.dumps(document)) == document
    numpy, nope = document
    assert numpy["mapped"] is True
    assert numpy["package"] == "python3-numpy"
    assert numpy["provider"] == "apt"
    assert numpy["system"] == {"python3-numpy": {"installed": None, "candidate": "1:1.26.4-1"}}
    assert nope["mapped"] is False
    assert nope["package"] is None
    assert nope["system"] == {}

"""The checked-in JSON Schema is exactly what the registries generate, and is itself valid."""

import json
from pathlib import Path

import jsonschema

from nnc.compiler.spec.schema import build_schema, schema_text

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"


def test_checked_in_schema_is_regenerated():
    on_disk = (SPECS / "schema.json").read_text()
    assert on_disk == schema_text(), (
        "specs/schema.json is stale: regenerate it with "
        'python -c "from nnc.compiler.spec.schema import schema_text; '
        "open('specs/schema.json','w').write(schema_text())\""
    )


def test_schema_is_valid_draft_2020_12():
    jsonschema.Draft202012Validator.check_schema(build_schema())


def test_every_layer_option_has_a_description():
    schema = json.loads((SPECS / "schema.json").read_text())
    for name, d in schema["$defs"].items():
        for key, prop in d.get("properties", {}).items():
            assert prop.get("description"), f"$defs.{name}.properties.{key} has no description"


def test_spec_reference_is_regenerated():

    from nnc.compiler.spec.reference import reference

    assert (ROOT / "docs" / "spec-reference.md").read_text() == reference(), (
        "docs/spec-reference.md is stale: "
        "python -m nnc.compiler.spec.reference > docs/spec-reference.md"
    )

"""The configuration's one source of defaults (the schemas in ``neusdf/schemas/``), typed
command-line overrides, and validation — for the workflow, tests, benchmarks and the API alike."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path

import yaml

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
CONFIG_SCHEMA = SCHEMA_DIR / "config.schema.yaml"
MODEL_SCHEMA = SCHEMA_DIR / "model.schema.yaml"

_SCALARS = {"integer", "number", "boolean"}


@cache
def load_schema(path: str | Path) -> dict:
    """A schema file, parsed (cached)."""
    return yaml.safe_load(Path(path).read_text())


def _resolve(schema: dict, root: dict) -> dict:
    ref = schema.get("$ref", "")
    if ref.startswith("#/$defs/"):
        return root["$defs"][ref.rsplit("/", 1)[1]]
    return schema


def _branches(schema: dict, value, root: dict) -> list[dict]:
    """``schema`` and the parts of its ``allOf`` that apply to ``value``: unconditional parts,
    and the ``then`` (or ``else``) of each ``if`` by whether ``value`` satisfies it (the
    per-kind keys of a model)."""
    import jsonschema

    found = [schema]
    for part in schema.get("allOf", []):
        part = _resolve(part, root)
        if "if" in part:
            holds = jsonschema.Draft202012Validator(part["if"]).is_valid(value)
            part = part.get("then" if holds else "else", {})
        found += _branches(_resolve(part, root), value, root)
    return found


def coerce_types(value, schema: dict, root: dict | None = None):
    """``value`` with strings turned into the numbers, booleans, objects or arrays its schema
    expects, parsed as YAML.

    ``snakemake --config key='{a: 1}'`` hands nested values over as strings ('1'), which no
    schema accepts; coercing first makes every nested key settable from the command line,
    including the keys a model's ``kind`` brings in (the ``allOf`` branches that apply).
    Values that do not parse are left as they are, for validation to report.
    """
    root = schema if root is None else root
    schema = _resolve(schema, root)
    kind = schema.get("type")
    if isinstance(value, str) and isinstance(kind, str) and kind in (*_SCALARS, "object", "array"):
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            return value
        expected = {"integer": int, "number": (int, float), "boolean": bool}
        expected |= {"object": dict, "array": list}
        ok = isinstance(parsed, expected[kind]) and not (
            kind in ("integer", "number") and isinstance(parsed, bool)
        )
        value = parsed if ok else value
    if isinstance(value, dict):
        props, extra = {}, None
        for branch in _branches(schema, value, root):
            for key, sub in branch.get("properties", {}).items():
                # A branch's property schema is more specific than the generic one before it.
                props[key] = sub
            if isinstance(branch.get("additionalProperties"), dict):
                extra = branch["additionalProperties"]
        return {k: coerce_types(v, props.get(k, extra or {}), root) for k, v in value.items()}
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [coerce_types(v, schema["items"], root) for v in value]
    return value


def fill_defaults(value: dict, schema: dict, root: dict | None = None) -> dict:
    """A copy of ``value`` with every missing key that has a schema default filled in,
    recursively (objects with a default of ``{}`` are created and filled), through ``$ref``s and
    the branch of each ``allOf`` ``if``/``then``/``else`` that applies (per-kind model keys)."""
    import jsonschema

    root = schema if root is None else root
    schema = _resolve(schema, root)
    out = copy.deepcopy(value)
    for key, sub in schema.get("properties", {}).items():
        sub = _resolve(sub, root)
        if key not in out and "default" in sub:
            out[key] = copy.deepcopy(sub["default"])
        if isinstance(out.get(key), dict):
            out[key] = fill_defaults(out[key], sub, root)
    for part in schema.get("allOf", []):
        part = _resolve(part, root)
        if "if" in part:
            holds = jsonschema.Draft202012Validator(part["if"]).is_valid(out)
            part = part.get("then" if holds else "else", {})
        out = fill_defaults(out, part, root)
    return out


def model_config(model: dict) -> dict:
    """A named model configuration with its schema defaults, validated.

    Raises
    ------
    jsonschema.ValidationError
        Naming the offending key.
    """
    import jsonschema

    schema = load_schema(MODEL_SCHEMA)
    model = fill_defaults(coerce_types(model, schema), schema)
    jsonschema.validate(model, schema)
    return model


def workflow_config(config: dict) -> dict:
    """The whole workflow configuration, coerced, with defaults, validated (models included)."""
    import jsonschema

    schema = load_schema(CONFIG_SCHEMA)
    config = fill_defaults(coerce_types(config, schema), schema)
    jsonschema.validate(config, schema)
    config["models"] = {name: model_config(m) for name, m in config["models"].items()}
    return config


def schema_default(*keys: str):
    """The default the configuration schema gives the nested key ``keys`` (e.g.
    ``schema_default("evaluate", "batch_size")``), for code outside the workflow (the API, the
    command line) that needs the same value."""
    node = load_schema(CONFIG_SCHEMA)
    for key in keys:
        node = _resolve(node, load_schema(CONFIG_SCHEMA))["properties"][key]
    return copy.deepcopy(_resolve(node, load_schema(CONFIG_SCHEMA))["default"])

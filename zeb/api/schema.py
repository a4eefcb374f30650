"""The JSON Schema of a payload record (zeb.api.payloads), read from its dataclass fields, and a small
validator for the subset it writes: enough for tests/test_payload_schema.py to hold every command's
`--json` to its record, with no dependency on the jsonschema package.

Every field is required and no other key is allowed: a record is the whole contract, not a minimum."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Union

_SCALARS: dict[Any, dict[str, Any]] = {
    str: {"type": "string"}, bool: {"type": "boolean"}, int: {"type": "integer"}, float: {"type": "number"},
    type(None): {"type": "null"}, None: {"type": "null"},
}
_ARRAYS = (list, tuple, Sequence)
_OBJECTS = (dict, Mapping)


def schema_of(tp: Any) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a dataclass or a type annotation, nested records inline."""
    if tp is Any:
        return {}
    if tp in _SCALARS:
        return dict(_SCALARS[tp])
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        hints = typing.get_type_hints(tp)
        fields = [f.name for f in dataclasses.fields(tp)]
        return {"title": tp.__name__, "type": "object", "properties": {name: schema_of(hints[name]) for name in fields},
                "required": fields, "additionalProperties": False}
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        return {"anyOf": [schema_of(a) for a in args]}
    if origin is Literal:
        return {"enum": list(args)}
    if origin in _ARRAYS:
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            raise TypeError(f"{tp}: only tuple[X, ...] has a schema here")
        return {"type": "array", "items": schema_of(args[0] if args else Any)}
    if origin in _OBJECTS:
        if args and args[0] is not str:
            raise TypeError(f"{tp}: JSON object keys are strings")
        return {"type": "object", "additionalProperties": schema_of(args[1] if args else Any)}
    raise TypeError(f"no JSON Schema for {tp!r}")


def _is(kind: str, value: Any) -> bool:
    if kind == "null":
        return value is None
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if kind == "array":
        return isinstance(value, list)
    if kind == "object":
        return isinstance(value, dict)
    raise ValueError(f"unknown JSON Schema type {kind!r}")


def errors(schema: Mapping[str, Any], value: Any, where: str = "$") -> list[str]:
    """Every way `value` (parsed JSON) breaks `schema`, each with its place (`$.fleets.zeb.totals`); [] if none."""
    if "anyOf" in schema:
        tries = [errors(s, value, where) for s in schema["anyOf"]]
        if any(not t for t in tries):
            return []
        return [f"{where}: matches none of {len(tries)} choices ({'; '.join(t[0] for t in tries)})"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{where}: {value!r} is not one of {schema['enum']}"]
    kind = schema.get("type")
    if kind is None:
        return []
    if not _is(kind, value):
        return [f"{where}: {type(value).__name__} {value!r:.60} is not {kind}"]
    out: list[str] = []
    if kind == "array":
        for n, item in enumerate(value):
            out += errors(schema.get("items", {}), item, f"{where}[{n}]")
    elif kind == "object":
        props = schema.get("properties", {})
        out += [f"{where}: missing {name!r}" for name in schema.get("required", ()) if name not in value]
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in props:
                out += errors(props[key], item, f"{where}.{key}")
            elif extra is False:
                out.append(f"{where}: unexpected {key!r}")
            elif isinstance(extra, Mapping):
                out += errors(extra, item, f"{where}.{key}")
    return out


def validate(schema: Mapping[str, Any], value: Any) -> None:
    """Raise ValueError listing every place `value` breaks `schema`."""
    found = errors(schema, value)
    if found:
        raise ValueError("\n".join(found))

"""Shape checks of plain data: BadDocument (valid JSON of the wrong shape), NewerFormat (written by a newer
zeb), and check_fields, which holds every field of a dataclass to its annotated type as far as JSON can
carry it. The domain checks its records with these; zeb.storage.codec builds its documents' checks on them."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeGuard

from zeb.core.errors import StoreError


class BadDocument(StoreError):
    """Valid JSON of the wrong shape. A document's check raises it; the store then sets the file aside
    exactly as it does a torn one, and the command carries on with the empty default."""


class NewerFormat(StoreError):
    """Written by a newer zeb than this one. Never set aside, never overwritten."""

    def __init__(self, where: str, version: int, known: int) -> None:
        super().__init__(f"{where} was written by a newer zeb (format version {version}; "
                         f"this zeb reads up to {known}): upgrade zeb")
        self.version = version
        self.known = known


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


_KINDS: dict[str, tuple[type, ...]] = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,),
                                       "dict": (dict,), "Mapping": (dict,), "tuple": (tuple, list)}


def check_fields(obj, where: str) -> None:
    """Every field of the dataclass `obj` has its annotated type (as far as plain JSON can carry it):
    a field "float | None" holds a number or None, never a string; bool never passes for a number."""
    for name, optional, base, kinds, number_values in _field_checks(type(obj)):
        value = getattr(obj, name)
        if value is None:
            if optional:
                continue
            raise BadDocument(f"{where}: {name} is missing")
        if kinds is None:       # an enum or a nested record: its codec converted or checks it
            continue
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            raise BadDocument(f"{where}: {name} is {type(value).__name__}, not {base}")
        if number_values and not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in value.values()):  # type: ignore[attr-defined]  # a dict: kinds said so
            raise BadDocument(f"{where}: {name} holds a value that is not a number")


_FieldCheck = tuple[str, bool, str, tuple[type, ...] | None, bool]
_FIELD_CHECKS: dict[type, tuple[_FieldCheck, ...]] = {}


def _field_checks(cls: type) -> tuple[_FieldCheck, ...]:
    """Per field of the dataclass `cls`: (name, None allowed, base type's name, the types a value may
    have, a dict of numbers). Parsed once per class: the event log checks every line with it."""
    if cls in _FIELD_CHECKS:
        return _FIELD_CHECKS[cls]
    out = []
    for f in dataclasses.fields(cls):
        parts = [p.strip() for p in str(f.type).split("|")]
        base = next((p for p in parts if p != "None"), "")
        kinds = _KINDS.get(base.split("[", 1)[0])
        out.append((f.name, "None" in parts, base, kinds, kinds == (dict,) and base.endswith("float]")))
    _FIELD_CHECKS[cls] = tuple(out)
    return _FIELD_CHECKS[cls]

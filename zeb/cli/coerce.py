"""Command-line values without pydantic (issue #21). typer 0.29 coerces every parameter whose value is not
already a bool through a pydantic TypeAdapter (typer/_coercion.py `build_runtime_param`, typer/_adapters.py),
so the first `--fleet zeb`, or even an absent `--fleet` (None), imports pydantic: 90-150 ms of start-up.
No annotation avoids that (only typer's File types and bool flags skip the adapter), so each parameter
here gets a runtime coercer of its own that turns the plain values zeb's commands take (str, int, float,
lists of them; ranges checked) into what typer's adapter would, and hands anything else (a value it
does not recognise, one out of range, an unusual annotation) to typer's own coercion: errors keep
typer's exact messages, and pydantic is imported only then.

This rests on typer 0.29's `_TyperParameter._runtime_param` slot and its `RuntimeParam` contract
(typer/core.py `get_runtime_param`); on a typer without them (0.26-0.28, which never import pydantic)
`lighten` does nothing. tests/test_startup.py fails if a plain `zeb status --fleet zeb` imports pydantic
again, and checks these coercers against typer's on every annotation zeb uses."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, get_args, get_origin

try:  # typer >= 0.29; older ones coerce through click's types and need none of this
    from typer._coercion import RuntimeParam, build_runtime_param
except ImportError:  # pragma: no cover - the lowest-versions CI job runs typer 0.26
    RuntimeParam = None  # type: ignore[assignment,misc]
    build_runtime_param = None  # type: ignore[assignment]

_UNSURE = object()      # "ask typer": the plain rules below do not settle this value
_INT = re.compile(r"\s*[+-]?[0-9]+\s*")
_FLOAT = re.compile(r"\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\s*")


def plain_value(annotation: Any, value: Any, low: float | None = None, high: float | None = None) -> Any:
    """What typer 0.29's adapter makes of `value` for `annotation`, when that is plain to see; _UNSURE
    otherwise (the caller then asks typer)."""
    if get_origin(annotation) is list:
        (item_type,) = get_args(annotation)
        if not isinstance(value, (list, tuple)):
            return _UNSURE
        items = [plain_value(item_type, item, low, high) for item in value]
        return _UNSURE if any(item is _UNSURE for item in items) else items
    if annotation is str:
        return value if isinstance(value, str) else _UNSURE
    if isinstance(value, bool) or annotation not in (int, float):
        return _UNSURE
    number: Any
    if isinstance(value, str):
        if len(value) > 100:        # int() refuses over 4,300 digits; typer's adapter says why
            return _UNSURE
        if _INT.fullmatch(value):
            number = int(value)
        elif annotation is float and _FLOAT.fullmatch(value):
            number = float(value)
        else:
            return _UNSURE
    elif isinstance(value, int) or (annotation is float and isinstance(value, float)):
        number = value
    else:
        return _UNSURE
    number = annotation(number)
    if not math.isfinite(number) or (low is not None and number < low) or (high is not None and number > high):
        return _UNSURE
    return number


if RuntimeParam is not None:
    @dataclass(frozen=True)
    class PlainRuntimeParam(RuntimeParam):
        """typer's coercion contract, plain values first; typer's own adapter for the rest."""

        descriptor: Any

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            info = self.parameter_info
            got = plain_value(self.annotation, value, info.min, info.max)
            if got is not _UNSURE:
                return got
            return build_runtime_param(self.descriptor)._coerce_value(value, param=param, ctx=ctx)


def _is_plain(descriptor: Any) -> bool:
    info = descriptor.parameter_info
    annotation = descriptor.annotation
    if get_origin(annotation) is list:
        annotation = get_args(annotation)[0]
    return (annotation in (str, int, float) and descriptor.file_annotation is None and not descriptor.is_choice
            and info.parser is None and not info.clamp)


def lighten(command: Any) -> Any:
    """Give every plain parameter of `command` (and of its subcommands) the pydantic-free coercer."""
    if RuntimeParam is None:
        return command
    for param in command.params:
        descriptor = getattr(param, "type_descriptor", None)
        if descriptor is not None and getattr(param, "_runtime_param", _UNSURE) is None and _is_plain(descriptor):
            param._runtime_param = PlainRuntimeParam(parameter_info=descriptor.parameter_info,
                                                     annotation=descriptor.annotation, descriptor=descriptor)
    for sub in (getattr(command, "commands", None) or {}).values():
        lighten(sub)
    return command

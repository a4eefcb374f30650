"""zeb's pydantic-free coercion of command-line values (zeb/cli/coerce.py) against typer 0.29's own: where
zeb's settles a value it gives exactly what typer's adapter would; the rest goes to typer, errors and all."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zeb.cli import coerce

pytest.importorskip("typer._adapters")      # typer >= 0.29: the adapter being matched
from typer._adapters import try_build_adapter
from typer.models import OptionInfo

# Every (annotation, min, max) zeb's commands take (tests/test_startup.py checks they all use the coercer).
SHAPES = [(str, None, None), (int, None, None), (float, None, None), (int, 1, 10000), (int, 0, 65535),
          (int, 1, None), (float, 1.0, None), (float, 0.0, 1800.0), (float, 0.001, None), (list[str], None, None),
          (list[int], None, None)]
EDGES = ["0", "4", "-3", "+7", " 12 ", "4.0", "1e3", "1.5", ".5", "5.", "-0", "1_000", "0x10", "\u0664", "", " ",
         "nan", "inf", "-inf", "1e999", "9" * 120, "65535", "65536", "10000", "10001", "0.0009", "abc", "1,5"]


def _typer(annotation, low, high, value):
    adapter = try_build_adapter(annotation, OptionInfo(min=low, max=high))
    assert adapter is not None
    try:
        return ("ok", adapter.validate_python(value))
    except Exception as exc:  # any refusal: zeb's must not have accepted the value
        return ("refused", type(exc).__name__)


def _agrees(annotation, low, high, value) -> None:
    got = coerce.plain_value(annotation, value, low, high)
    if got is coerce._UNSURE:
        return
    want = _typer(annotation, low, high, value)
    assert want == ("ok", got), f"{annotation} {value!r}: zeb {got!r}, typer {want}"
    assert type(want[1]) is type(got)


@pytest.mark.parametrize("annotation, low, high", SHAPES)
def test_edge_values_agree_with_typer(annotation, low, high):
    values = [[v] for v in EDGES] if annotation in (list[str], list[int]) else EDGES
    for value in [*values, 3, 2.5, True, None, b"4"]:
        _agrees(annotation, low, high, value)


@pytest.mark.parametrize("annotation, low, high", SHAPES)
@given(text=st.text(alphabet="0123456789+-.eE _x", max_size=12))
def test_number_like_text_agrees_with_typer(annotation, low, high, text):
    _agrees(annotation, low, high, [text] if annotation in (list[str], list[int]) else text)


def test_plain_values_are_settled_without_typer():
    assert coerce.plain_value(int, "4") == 4
    assert coerce.plain_value(float, "4") == 4.0
    assert coerce.plain_value(str, "zeb") == "zeb"
    assert coerce.plain_value(list[int], ("1", "2")) == [1, 2]
    assert coerce.plain_value(int, "0", 1, None) is coerce._UNSURE     # out of range: typer says why

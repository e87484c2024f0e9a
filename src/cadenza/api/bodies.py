"""The base of every JSON request body, in every dialect.

JSON allows what neither the database nor the engines can take: ``\\ud83d`` escapes that
decode to lone UTF-16 surrogates (no UTF-8 encoding exists for them, so they fail where
they are first written), and Python's parser reads ``NaN``, ``Infinity`` and ``1e400`` as
floats that no duration, seed or ratio can mean. Both are refused here, anywhere in the
body (extra fields included), so they become a 400 before anything is charged.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

#: Nesting deeper than this is refused (a body is a few levels deep at most).
MAX_DEPTH = 32


def has_lone_surrogate(text: str) -> bool:
    """True when ``text`` holds a surrogate code point (only JSON escapes make them)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def check_json_value(value: Any, where: str = "body", depth: int = 0) -> None:
    """Raises ``ValueError`` naming the first unusable value: a lone surrogate in a string
    (keys included) or a float that is not finite."""
    if depth > MAX_DEPTH:
        raise ValueError(f"{where} is nested too deeply")
    if isinstance(value, str):
        if has_lone_surrogate(value):
            raise ValueError(f"{where} is not valid Unicode text (a lone surrogate escape)")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where} must be a finite number")
    elif isinstance(value, dict):
        for name, item in value.items():
            label = f"{where}.{name}" if isinstance(name, str) else where
            if isinstance(name, str) and has_lone_surrogate(name):
                raise ValueError(f"a field name in {where} is not valid Unicode text")
            check_json_value(item, _printable(label), depth + 1)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            check_json_value(item, f"{where}[{index}]", depth + 1)


def _printable(label: str) -> str:
    return label if label.isprintable() and len(label) <= 80 else "a field"


class RequestBody(BaseModel):
    """Unknown fields are ignored, as upstream does; numbers must be finite, text valid."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _usable_json(cls, data: Any) -> Any:
        check_json_value(data, "body")
        return data

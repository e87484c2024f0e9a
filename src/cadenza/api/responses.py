"""JSON answers serialised by pydantic-core (Rust): about 7x faster than ``json.dumps``
on a poll's answer, which is sent thousands of times a second; and the text of error
messages as clients may see it."""

from __future__ import annotations

from typing import Any

import pydantic_core


def json_bytes(content: Any) -> bytes:
    """Compact UTF-8 JSON like Starlette's (floats may be spelt differently, e.g. 1e16);
    NaN and infinities become null."""
    return pydantic_core.to_json(content, inf_nan_mode="null")


#: Longest message sent back; longer ones (an echoed input, say) are cut.
MAX_MESSAGE = 500


def safe_text(message: str) -> str:
    """The message as a client may see it: characters that could forge log lines or break
    a terminal (controls, lone surrogates, invisible format characters) are written as
    escapes, so input echoed in a message never carries them."""
    if message.isprintable() and len(message) <= MAX_MESSAGE:
        return message
    out = []
    for ch in message[:MAX_MESSAGE]:
        if ch.isprintable():
            out.append(ch)
        else:
            point = ord(ch)
            out.append(f"\\x{point:02x}" if point < 0x100 else f"\\u{point:04x}")
    return "".join(out)

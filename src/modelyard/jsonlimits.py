"""The one JSON decoder for untrusted bodies: size and nesting limits checked before parsing.

Every front (hub API bodies, NDJSON commit lines, the inference front) decodes client JSON with
:func:`loads`, so a body nested 100 000 levels deep is a 400, an oversized one a 413, a malformed one a 422 —
never a RecursionError (500). The depth check runs at C speed on the raw bytes: string literals are cut
out, every byte but brackets deleted, brackets mapped to +1/-1 and the running sum (the depth) taken with
``itertools.accumulate``.

Framework-free (imports only modelyard.errors), so the domain packages may use it.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

from modelyard.errors import BadPayload, BadRequest, TooLarge

DEFAULT_MAX_DEPTH = 64
DEFAULT_MAX_BYTES = 16 * 1024 * 1024

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
# "[" and "{" -> +1, "]" and "}" -> -1 (0xFF read as a signed byte): the running sum is the depth
_STEP = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")


def nesting_exceeds(raw: bytes, max_depth: int) -> bool:
    """True when the JSON text `raw` nests arrays/objects deeper than `max_depth`."""
    if raw.count(b"[") + raw.count(b"{") <= max_depth:
        return False
    steps = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS).translate(_STEP)
    return max(accumulate(memoryview(steps).cast("b")), default=0) > max_depth


def loads(
    raw: bytes | str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    what: str = "Request body",
) -> Any:
    """Decode untrusted JSON. TooLarge (413) over `max_bytes`, BadRequest (400) deeper than `max_depth`,
    BadPayload (422) when it is not JSON. `what` names the input in the messages."""
    data = raw.encode() if isinstance(raw, str) else raw
    if len(data) > max_bytes:
        raise TooLarge(f"{what} is larger than {max_bytes} bytes")
    if nesting_exceeds(data, max_depth):
        raise BadRequest(f"{what}: JSON nested deeper than {max_depth} levels")
    try:
        value = json.loads(data)
    except json.JSONDecodeError as e:
        raise BadPayload(f"{what} is not valid JSON: {e.msg}") from None
    except UnicodeDecodeError:
        raise BadPayload(f"{what} is not valid JSON: not UTF-8 text") from None
    except RecursionError:  # belt and braces: the pre-check should have caught it
        raise BadRequest(f"{what}: JSON nested too deeply") from None
    except ValueError:  # an integer literal longer than sys.get_int_max_str_digits() (4300)
        raise BadPayload(f"{what}: a JSON number is too long") from None
    if _SURROGATE_ESCAPE.search(data) and _has_lone_surrogate(value):  # "\ud800": unencodable downstream
        raise BadPayload(f"{what}: a JSON string holds a lone UTF-16 surrogate")
    return value


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_lone_surrogate(value: Any) -> bool:
    """Pairs were joined by the decoder, so any surrogate code point left in a key or string is a lone one."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if _SURROGATE.search(v):
                return True
        elif isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return False

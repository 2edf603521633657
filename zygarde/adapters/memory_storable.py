"""What Firestore refuses, checked by the in-memory fakes so that they fail where the store would: a
document over 1 MiB (its size as Firestore counts it: path, field names and values), a text value over
1,048,487 bytes, text that is not valid UTF-8 (a lone surrogate), an integer beyond 64 bits, a map key
that is empty or longer than 1,500 bytes, a value of a type Firestore has none for."""
from __future__ import annotations

from datetime import datetime

from zygarde.domain.errors import Unstorable

MAX_DOCUMENT_BYTES = 1_048_576
MAX_VALUE_BYTES = 1_048_487  # one text or bytes value ("1 MiB - 89 bytes")
MAX_KEY_BYTES = 1500
_INT64 = (-2 ** 63, 2 ** 63 - 1)


def check_document(data: dict, path: tuple[str, ...], where: str) -> None:
    """Raise Unstorable (naming `where`) if Firestore would refuse `data` stored at collection/document
    `path`."""
    size = sum(_text_bytes(part, where) + 1 for part in path) + 16 + 32 + _size(data, where)
    if size > MAX_DOCUMENT_BYTES:
        raise Unstorable(f"{where}: the document is {size:,} bytes, more than Firestore's limit of "
                         f"{MAX_DOCUMENT_BYTES:,} (1 MiB)")


def _text_bytes(text: str, where: str) -> int:
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise Unstorable(f"{where}: a text value is not valid UTF-8 (a lone surrogate)") from None


def _size(value, where: str) -> int:
    """The value's storage size as Firestore counts it."""
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, int):
        if not _INT64[0] <= value <= _INT64[1]:
            raise Unstorable(f"{where}: the integer {value} does not fit in 64 bits")
        return 8
    if isinstance(value, (float, datetime)):
        return 8
    if isinstance(value, (str, bytes)):
        n = _text_bytes(value, where) if isinstance(value, str) else len(value)
        if n > MAX_VALUE_BYTES:
            raise Unstorable(f"{where}: a value is {n:,} bytes, more than Firestore's limit of {MAX_VALUE_BYTES:,}")
        return n + 1
    if isinstance(value, dict):
        total = 0
        for k, v in value.items():
            if not isinstance(k, str) or not k or len(k.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
                raise Unstorable(f"{where}: a field name is empty or longer than 1,500 bytes")
            total += _text_bytes(k, where) + 1 + _size(v, where)
        return total
    if isinstance(value, (list, tuple)):
        return sum(_size(v, where) for v in value)
    raise Unstorable(f"{where}: Firestore cannot store a {type(value).__name__}")

"""Who owns what: the owner key, an injective encoding of a verified identity (an e-mail address).

The canonical identity is the e-mail with its ASCII letters lowercased: Google account e-mails are
case-insensitive. Only ASCII is folded, because Unicode lowercasing merges distinct characters (the
Kelvin sign lowercases to "k"). The key keeps a-z, 0-9 and `. _ @ + -` and writes every other character,
`~` itself and a first character that is not a letter or digit as `~HH` per UTF-8 byte (uppercase hex).
Kept characters are never `~` and every escape starts with one, so a key decodes one way only: two
distinct identities never share a key. `ana@example.com` is its own key; `owner+a@x` and `owner-a@x`
stay apart, as do `a@x.` and `a@x`. Pure: no I/O.
"""
from __future__ import annotations

import re
import string
from dataclasses import dataclass

from zygarde.domain.errors import PermanentError

MAX_OWNER_KEY_LENGTH = 256  # a 254-character e-mail address, with room for an escape
_KEPT = frozenset(string.ascii_lowercase + string.digits + "._@+-")
_ALNUM = frozenset(string.ascii_lowercase + string.digits)
# A key exactly (JSON Schema / ECMA compatible): kept characters plain, and escapes only of what is not
# kept (never of an ASCII capital: the identity is lowercased), UTF-8 sequences valid as RFC 3629 says.
_C = "~[89AB][0-9A-F]"  # a continuation byte
_MULTI = (f"~(?:C[2-9A-F]|D[0-9A-F]){_C}|~E0~[AB][0-9A-F]{_C}|~(?:E[1-9A-C]|E[EF]){_C}{_C}|~ED~[89][0-9A-F]{_C}"
          f"|~F0~(?:9[0-9A-F]|[AB][0-9A-F]){_C}{_C}|~F[1-3]{_C}{_C}{_C}|~F4~8[0-9A-F]{_C}{_C}")
_FIRST = f"(?:[a-z0-9]|~(?:[012][0-9A-F]|3[A-F]|40|5[B-F]|60|7[B-F])|{_MULTI})"
_NEXT = f"(?:[a-z0-9._@+-]|~(?:[01][0-9A-F]|2[0-9ACF]|3[A-F]|5[B-E]|60|7[B-F])|{_MULTI})"
OWNER_KEY_PATTERN = f"^{_FIRST}{_NEXT}*$"
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


class IdentityError(PermanentError):
    """An identity that cannot name an owner (empty, not text, or too long), or a string that is not a key."""


def canonical_identity(email: str) -> str:
    """The identity as Zygarde compares it: the e-mail with its ASCII letters lowercased."""
    if not isinstance(email, str) or not email:
        raise IdentityError("an identity must be a non-empty e-mail address or user name")
    return email.translate(_ASCII_LOWER)


def owner_key(email: str) -> str:
    """The owner key of an identity (see the module docstring). Raises IdentityError."""
    text = canonical_identity(email)
    out = []
    for i, char in enumerate(text):
        if char in _KEPT and (i > 0 or char in _ALNUM):
            out.append(char)
            continue
        try:
            data = char.encode("utf-8")
        except UnicodeEncodeError:
            raise IdentityError("an identity must be valid text (it holds a lone surrogate)") from None
        out.extend(f"~{b:02X}" for b in data)
    key = "".join(out)
    if len(key) > MAX_OWNER_KEY_LENGTH:
        raise IdentityError(f"the identity is too long to own jobs: its owner key would have {len(key)} "
                            f"characters, at most {MAX_OWNER_KEY_LENGTH}")
    return key


def identity_of_key(key: str) -> str:
    """The canonical identity an owner key encodes. Raises IdentityError for a string that is not a key."""
    if not is_owner_key(key):
        raise IdentityError(f"{key[:300]!r} is not an owner key")
    return _decode(key)


def is_owner_key(text: object) -> bool:
    """Whether `text` is the owner key of some identity (well formed, canonical, not too long)."""
    if not isinstance(text, str) or not 0 < len(text) <= MAX_OWNER_KEY_LENGTH:
        return False
    if re.fullmatch(OWNER_KEY_PATTERN.strip("^$"), text) is None:
        return False
    try:
        return owner_key(_decode(text)) == text
    except (IdentityError, UnicodeDecodeError):
        return False


def _decode(key: str) -> str:
    data, i = bytearray(), 0
    while i < len(key):
        if key[i] == "~":
            data.append(int(key[i + 1:i + 3], 16))
            i += 3
        else:
            data.extend(key[i].encode())
            i += 1
    return data.decode("utf-8")


@dataclass(frozen=True)
class Identity:
    """A verified identity: the canonical e-mail; `key` the owner key it owns jobs and datasets under."""

    email: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "email", canonical_identity(self.email))

    @property
    def key(self) -> str:
        return owner_key(self.email)


def key_problem(value: str) -> str | None:
    """Why `value` is not an owner key (one sentence, with the key it may have meant), or None."""
    if is_owner_key(value):
        return None
    hint = ""
    try:
        meant = owner_key(value)
        if meant != value:
            hint = f" (for {value[:100]!r} the key is {meant[:120]!r})"
    except IdentityError as exc:
        return f"is not an owner key: {exc}"
    return ("must be an owner key: the e-mail lowercased, a character outside a-z 0-9 . _ @ + - and a first "
            f"character that is not a letter or digit written ~HH per UTF-8 byte{hint}")


# --- how a message on the jobs topic carries its publisher's identity ---------------------------------
TOKEN_ATTRIBUTE = "token"  # the publisher's identity token (continued in token_2, token_3, ...)
ON_BEHALF_OF_ATTRIBUTE = "on_behalf_of"  # a trusted delegate names the user it acts for (their e-mail)
ON_BEHALF_OF_HEADER = "X-Zygarde-On-Behalf-Of"  # the same, on an HTTP request (the predict service)
ATTRIBUTE_VALUE_LIMIT = 1024  # bytes: Pub/Sub's limit on one attribute value
MAX_TOKEN_PARTS = 8


def token_attributes(token: str) -> dict[str, str]:
    """A token as message attributes: `token`, and for one longer than an attribute value may be
    (Pub/Sub takes 1,024 bytes; Google's tokens are shorter) `token_2`, `token_3`, ... in order."""
    parts = [token[i:i + ATTRIBUTE_VALUE_LIMIT] for i in range(0, len(token), ATTRIBUTE_VALUE_LIMIT)] or [""]
    if len(parts) > MAX_TOKEN_PARTS:
        raise IdentityError(f"an identity token of {len(token)} characters is too long to publish")
    return {TOKEN_ATTRIBUTE if n == 1 else f"{TOKEN_ATTRIBUTE}_{n}": part for n, part in enumerate(parts, 1)}


def joined_token(attributes: dict[str, str]) -> str | None:
    """The token that `token_attributes` spread over a message's attributes, None when there is none."""
    first = attributes.get(TOKEN_ATTRIBUTE)
    if not first:
        return None
    parts = [first]
    for n in range(2, MAX_TOKEN_PARTS + 1):
        part = attributes.get(f"{TOKEN_ATTRIBUTE}_{n}")
        if not part:
            break
        parts.append(part)
    return "".join(parts)

"""Which values of a dataset the data report may show: none of a column whose name says it holds
secrets or personal data, nor of a string column whose values are nearly all distinct (identifiers,
e-mails, tokens): for those the report keeps counts only."""
from __future__ import annotations

import re

WITHHELD_DISTINCT = 0.5  # distinct / non-null values from which a string column's values are not listed
_SECRET_WORDS = {"password", "passwd", "pwd", "pass", "passcode", "passphrase", "secret", "token", "apikey",
                 "credential", "credentials", "email", "mail", "ssn", "iban", "phone", "cvv", "creditcard"}
_SECRET_PAIRS = {("api", "key"), ("access", "key"), ("private", "key"), ("credit", "card"), ("card", "number"),
                 ("e", "mail"), ("social", "security"), ("auth", "key")}


def secret_name(name: str) -> bool:
    """Whether a column name says it holds secrets or personal data (password, api_key, eMail, ...)."""
    words = re.findall(r"[a-z]+|\d+", re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower())
    return any(w in _SECRET_WORDS for w in words) or any(pair in _SECRET_PAIRS for pair in zip(words, words[1:]))


def withhold_values(columns: dict[str, dict], row_count: int, target: str | None) -> None:
    """Replaces the listed values of secret-looking columns by their counts (and drops min / max /
    mean of secret-named ones): a name that says secret, or a string column nearly all distinct."""
    for name, s in columns.items():
        if name == target:
            continue
        present, distinct = row_count - s["nulls"], s.get("distinct") or 0
        if secret_name(name):
            why = "the column name suggests secret or personal data"
            s.update(min=None, max=None, mean=None)
        elif s["type"] == "string" and present >= 2 and distinct >= WITHHELD_DISTINCT * present:
            why = "nearly every value is distinct (an identifier or personal data?)"
        else:
            continue
        s["top_counts"] = [n for _, n in s["top"]]
        s["top"] = []
        s["values_withheld"] = why

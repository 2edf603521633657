"""The owner key: an injective encoding of the canonical identity (issue 22: `owner+a@x` and `owner-a@x`,
`a@x.` and `a@x` were one owner). Property-based: distinct identities never share a key, and a key decodes
back to its identity; the job spec's pattern accepts exactly the keys."""
from __future__ import annotations

import re

import pytest
from hypothesis import given, settings, strategies as st

from zygarde.domain.errors import SpecError
from zygarde.domain.identity import (MAX_OWNER_KEY_LENGTH, OWNER_KEY_PATTERN, IdentityError, canonical_identity,
                                     identity_of_key, is_owner_key, joined_token, owner_key, token_attributes)
from zygarde.domain.spec import parse_job_spec

# e-mail-like text, and any text at all (lone surrogates aside: they are not text an issuer signs)
EMAILISH = st.text(alphabet=st.sampled_from("abcAB.+-_@~'!%/ \u00e9\u212a0Z"), min_size=1, max_size=40)
ANY = st.text(alphabet=st.characters(exclude_categories=("Cs",)), min_size=1, max_size=21)  # keys <= 252 chars
IDENTITIES = st.one_of(EMAILISH, ANY)


@settings(max_examples=1500, deadline=None)  # a property, not a timing: the machine may be loaded
@given(IDENTITIES, IDENTITIES)
def test_distinct_canonical_identities_never_share_a_key(a, b):
    if canonical_identity(a) != canonical_identity(b):
        assert owner_key(a) != owner_key(b), (a, b)
    else:
        assert owner_key(a) == owner_key(b)


@settings(max_examples=1500, deadline=None)  # a property, not a timing: the machine may be loaded
@given(IDENTITIES)
def test_a_key_decodes_back_and_is_what_the_spec_pattern_accepts(identity):
    key = owner_key(identity)
    assert identity_of_key(key) == canonical_identity(identity)
    assert is_owner_key(key) and re.fullmatch(OWNER_KEY_PATTERN, key)
    assert "/" not in key and key not in (".", "..") and not key.startswith(".")  # one safe path segment


@settings(max_examples=800, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab09.@+-_~ACF8E"), min_size=1, max_size=12))
def test_the_pattern_accepts_only_canonical_keys(text):
    """No string outside the keys passes the JSON schema's pattern (so the schema and the code agree)."""
    assert bool(re.fullmatch(OWNER_KEY_PATTERN, text)) == is_owner_key(text), text


@pytest.mark.parametrize("a, b", [("owner+a@zygarde.dev", "owner-a@zygarde.dev"),
                                  ("owner-a@zygarde.dev.", "owner-a@zygarde.dev"),
                                  ("a~2Bb@x", "a+b@x"), ("k@x", "\u212a@x"), (".a@x", "~2Ea@x")])
def test_the_issue_s_pairs_are_two_owners(a, b):
    assert owner_key(a) != owner_key(b)


def test_plain_owners_keep_their_key_and_escapes_are_readable():
    assert owner_key("ana@example.com") == "ana@example.com"
    assert owner_key("Ana.Lopez@Example.COM") == "ana.lopez@example.com"  # Google e-mails ignore case
    assert owner_key("owner+a@zygarde.dev") == "owner+a@zygarde.dev"
    assert owner_key("o'brien@example.com") == "o~27brien@example.com"
    assert owner_key("a~b@x") == "a~7Eb@x" and owner_key(".x") == "~2Ex" and owner_key("..") == "~2E."
    assert owner_key("josé@x") == "jos~C3~A9@x" and owner_key("a/../b") == "a~2F..~2Fb"


def test_identities_that_cannot_own_are_refused_with_a_reason():
    with pytest.raises(IdentityError, match="non-empty"):
        owner_key("")
    with pytest.raises(IdentityError, match=f"at most {MAX_OWNER_KEY_LENGTH}"):
        owner_key("a" * 250 + "/@x.y")
    with pytest.raises(IdentityError, match="not an owner key"):
        identity_of_key("~61b")  # "a" is written plainly in a key


def test_the_spec_takes_keys_and_names_the_key_it_may_have_meant():
    spec = {"owner": "owner+a@zygarde.dev", "task": "regression",
            "dataset": {"uri": "gs://bkt/datasets/owner+a@zygarde.dev/d.csv", "format": "csv", "target": "y"}}
    assert parse_job_spec(spec).owner == "owner+a@zygarde.dev"
    with pytest.raises(SpecError) as info:
        parse_job_spec({**spec, "owner": "Owner+A@Zygarde.dev"})
    [(path, reason)] = info.value.problems
    assert path == "owner" and "the key is 'owner+a@zygarde.dev'" in reason


def test_a_token_longer_than_an_attribute_value_is_spread_over_several():
    short = "x" * 900
    assert token_attributes(short) == {"token": short} and joined_token({"token": short}) == short
    long = "".join(chr(97 + i % 26) for i in range(2500))
    attributes = token_attributes(long)
    assert list(attributes) == ["token", "token_2", "token_3"] and all(len(v) <= 1024 for v in attributes.values())
    assert joined_token({**attributes, "action": "cancel"}) == long
    assert joined_token({"action": "cancel"}) is None

"""Redaction finds every rendering of a value, however the stream is cut, and masks
nothing else."""

from __future__ import annotations

import base64
import itertools
import string

from hypothesis import given, settings
from hypothesis import strategies as st

from infrastructure.secrets.redaction import MIN_LENGTH, Redactor, renderings

VALUES = st.text(
    alphabet=string.ascii_letters + string.digits + '-_+/=.!@#%&"\\ ', min_size=12, max_size=48
)
NOISE = st.text(alphabet=" \t\r\n$:[]()<>~", max_size=30)
MASK = "[REDACTED:k]"


def _stream(redactor: Redactor, text: str, cuts: list[int]) -> str:
    stream = redactor.stream()
    bounds = [0, *sorted(cuts), len(text)]
    shown = "".join(stream.feed(text[a:b]) for a, b in itertools.pairwise(bounds))
    return shown + stream.close()


@settings(max_examples=300, deadline=None)
@given(VALUES, NOISE, NOISE, st.data())
def test_every_rendering_is_masked_however_the_stream_is_cut(
    value: str, before: str, after: str, data: st.DataObject
) -> None:
    redactor = Redactor()
    redactor.add("k", value)
    form = data.draw(st.sampled_from(sorted(renderings(value))))
    text = before + form + after
    cuts = data.draw(st.lists(st.integers(0, len(text)), max_size=6))
    for shown in (redactor.redact(text), _stream(redactor, text, cuts)):
        assert form not in shown
        assert MASK in shown
        assert shown.startswith(before) or MASK in before  # the text around survives
        assert value not in shown


@settings(max_examples=200, deadline=None)
@given(VALUES, st.binary(max_size=7), st.binary(max_size=7), st.booleans())
def test_a_value_inside_a_larger_base64_blob_is_found_at_any_alignment(
    value: str, head: bytes, tail: bytes, urlsafe: bool
) -> None:
    redactor = Redactor()
    redactor.add("k", value)
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    blob = encode(head + value.encode() + tail).decode()
    assert MASK in redactor.redact(blob)


def test_ordinary_text_is_left_alone_and_short_values_are_not_patterns() -> None:
    redactor = Redactor()
    redactor.add("openai", "sk-" + "A1b2C3d4" * 4)
    log = "building 3 targets\nGET /health 200\nsk- is a prefix, sk-A1b2 is not a key\n" * 50
    assert redactor.redact(log) == log
    stream = redactor.stream()
    assert stream.feed(log) + stream.close() == log
    assert all(len(form) >= MIN_LENGTH for form in renderings("short-one"))
    assert renderings("1234567") == set()  # too short to mask safely
    multi = renderings("-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\n-----END KEY-----")
    assert "MIIEvQIBADANBgkqhkiG9w0B" in multi  # each line of a multi-line value

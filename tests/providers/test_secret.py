"""`Secret`: a credential that cannot leave by accident (issue 11's "Secret values leak through
`json.dumps`, `+` and `.encode()`"): every way a str would give its text away either refuses
or gives the mask; `reveal()` is the one way to the value."""

from __future__ import annotations

import copy
import json
import logging
import pickle

import orjson
import pytest

from providers.settings import Secret

VALUE = "tok-12345"
MASK = "**********"


def test_printing_it_any_way_gives_the_mask() -> None:
    secret = Secret(VALUE)
    shown = [str(secret), repr(secret), f"{secret}", f"{secret!s}", format(secret)]
    shown.append("%s" % secret)  # noqa: UP031 (the old ways are ways to leak too)
    shown.append("{}".format(secret))  # noqa: UP032
    assert all(VALUE not in text for text in shown)
    assert all(MASK in text for text in shown)
    assert f"{secret:>12}" == f"{MASK:>12}"


@pytest.mark.parametrize(
    "leak",
    [
        lambda s: json.dumps({"key": s}),
        lambda s: orjson.dumps({"key": s}),
        lambda s: s + "x",
        lambda s: "Bearer " + s,
        lambda s: s.encode(),
        lambda s: "".join([s]),
        lambda s: pickle.dumps(s),
    ],
    ids=["json", "orjson", "add", "radd", "encode", "join", "pickle"],
)
def test_serializing_concatenating_and_encoding_it_are_refused(leak: object) -> None:
    with pytest.raises((TypeError, AttributeError)):
        leak(Secret(VALUE))  # type: ignore[operator]


def test_a_log_line_shows_the_mask(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="sessiongraph.test"):
        logging.getLogger("sessiongraph.test").info("key %s, %r", Secret(VALUE), Secret(VALUE))
    assert VALUE not in caplog.text and MASK in caplog.text


def test_reveal_gives_the_value_and_secrets_compare_by_it() -> None:
    secret = Secret(VALUE)
    assert secret.reveal() == VALUE
    assert secret == Secret(VALUE) and secret != Secret("other") and secret != VALUE
    assert hash(secret) == hash(Secret(VALUE))
    assert bool(secret) and not Secret("")
    assert copy.copy(secret) is secret and copy.deepcopy(secret) is secret


def test_only_text_is_a_secret() -> None:
    with pytest.raises(TypeError, match="a secret is text"):
        Secret(12345)  # type: ignore[arg-type]

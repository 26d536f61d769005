"""The settings of a request's bounds: the deadline and the body size, from the environment
or the TOML file, checked at start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from graph.settings import ConfigError, load_settings

TIMEOUT, BODY = "SESSIONGRAPH_REQUEST_TIMEOUT_S", "SESSIONGRAPH_MAX_BODY_BYTES"


def test_the_documented_defaults() -> None:
    settings = load_settings({})
    assert settings.request_timeout_s == 10.0
    assert settings.max_body_bytes == 1024 * 1024
    assert settings.max_query_depth == 12


def test_from_the_environment_over_the_file(tmp_path: Path) -> None:
    config = tmp_path / "sessiongraph.toml"
    config.write_text("[sessiongraph]\nrequest_timeout_s = 4.5\nmax_body_bytes = 2048\n")
    from_file = load_settings({"SESSIONGRAPH_CONFIG": str(config)})
    assert (from_file.request_timeout_s, from_file.max_body_bytes) == (4.5, 2048)
    both = load_settings(
        {"SESSIONGRAPH_CONFIG": str(config), "SESSIONGRAPH_REQUEST_TIMEOUT_S": "0.25"}
    )
    assert (both.request_timeout_s, both.max_body_bytes) == (0.25, 2048)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({TIMEOUT: "0"}, f"{TIMEOUT} must be positive"),
        ({TIMEOUT: "soon"}, f"{TIMEOUT} must be a number"),
        ({BODY: "1.5"}, f"{BODY} must be a number"),
        ({BODY: "-1"}, f"{BODY} must be positive"),
    ],
)
def test_a_bad_bound_is_a_clear_error(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(environ)

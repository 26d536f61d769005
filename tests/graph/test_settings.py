"""Configuration: environment over TOML, live vendors by credential, demo mode otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from graph.settings import ConfigError, load_settings
from providers.records import Provider


def test_no_credential_means_demo_mode() -> None:
    settings = load_settings({})
    assert settings.demo is True
    assert settings.providers == {}
    assert settings.cursor_secret_generated is True


def test_a_credential_makes_a_vendor_live_with_documented_defaults() -> None:
    settings = load_settings(
        {
            "SAMSARA_API_TOKEN": "tok",
            "SAMSARA_AGENT_IDS": " a1, a2 ,,",
            "VONAGE_AI_STUDIO_API_KEY": "vk",
            "VONAGE_AI_STUDIO_REGION": "US",
            "SESSIONGRAPH_CURSOR_SECRET": "s3cret",
            "SESSIONGRAPH_AUTH": "off",
        }
    )
    assert settings.demo is False
    assert set(settings.providers) == {Provider.SAMSARA, Provider.VONAGE}
    samsara = settings.providers[Provider.SAMSARA]
    assert samsara.base_url == "https://api.samsara.com"
    assert samsara.agent_ids == ("a1", "a2")
    assert samsara.credential.reveal() == "tok"
    assert "tok" not in repr(samsara) and "tok" not in str(samsara.credential)
    assert settings.providers[Provider.VONAGE].base_url == "https://studio-api-us.ai.vonage.com"
    assert settings.cursor_secret.reveal() == "s3cret"


def test_toml_file_with_the_environment_winning(tmp_path: Path) -> None:
    config = tmp_path / "sessiongraph.toml"
    config.write_text(
        "[sessiongraph]\ndefault_window_days = 30\n"
        '[vectara]\napi_key = "from-file"\nagent_keys = ["agt_a", "agt_b"]\n'
        '[stateset]\napi_key = "file-key"\nbase_url = "https://stateset.example/"\n'
    )
    settings = load_settings(
        {
            "SESSIONGRAPH_CONFIG": str(config),
            "VECTARA_AGENT_KEYS": "agt_env",
            "SESSIONGRAPH_AUTH": "off",
        }
    )
    assert settings.default_window_days == 30
    assert settings.providers[Provider.VECTARA].agent_ids == ("agt_env",)
    assert settings.providers[Provider.VECTARA].credential.reveal() == "from-file"
    assert settings.providers[Provider.STATESET].base_url == "https://stateset.example"


@pytest.mark.parametrize(
    ("environ", "fragment"),
    [
        ({"VONAGE_AI_STUDIO_API_KEY": "k", "VONAGE_AI_STUDIO_REGION": "mars"}, "eu or us"),
        ({"SESSIONGRAPH_DEFAULT_WINDOW_DAYS": "soon"}, "must be a number"),
        ({"SESSIONGRAPH_SCAN_CAP": "-5"}, "must be positive"),
        ({"SESSIONGRAPH_HTTP_TRANSPORT": "curl"}, "aiohttp or httpx"),
        ({"SESSIONGRAPH_CONFIG": "/nonexistent/sessiongraph.toml"}, "SESSIONGRAPH_CONFIG"),
    ],
)
def test_bad_configuration_is_a_clear_error(environ: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        load_settings(environ)


def test_the_cli_reports_a_configuration_error_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from graph.cli import main

    monkeypatch.setenv("SESSIONGRAPH_SCAN_CAP", "lots")
    assert main(["serve", "--port", "0"]) == 2
    assert "configuration error: SESSIONGRAPH_SCAN_CAP must be a number" in capsys.readouterr().err

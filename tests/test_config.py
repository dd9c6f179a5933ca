"""Configuration: legatura.toml, LEGATURA_<SECTION>__<KEY> env, secrets only from env, clear errors."""
from __future__ import annotations

from decimal import Decimal

import pytest
from legatura.flows.config import ConfigError, load_settings


def test_defaults_need_no_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = load_settings(env={})
    assert s.organisation.timezone == "Europe/Bucharest"
    assert s.money.fx == {"EUR": Decimal("4.97")}
    assert s.segments.major_donor_threshold == 5000


def test_env_overrides_file_key_by_key(tmp_path):
    path = tmp_path / "legatura.toml"
    path.write_text('[smtp]\nhost = "mail.example.ro"\nport = 587\n[money]\nfx = { EUR = 5.0 }\n')
    s = load_settings(path, env={"LEGATURA_SMTP__PORT": "2525", "LEGATURA_SMTP__PASSWORD": "s3cret"})
    assert (s.smtp.host, s.smtp.port) == ("mail.example.ro", 2525)
    assert s.smtp.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(s)
    assert s.money.fx == {"EUR": 5.0}


def test_secret_in_file_is_refused(tmp_path):
    path = tmp_path / "legatura.toml"
    path.write_text('[smtp]\npassword = "oops"\n')
    with pytest.raises(ConfigError, match="LEGATURA_SMTP__PASSWORD"):
        load_settings(path, env={})


def test_bad_value_names_the_key(tmp_path):
    path = tmp_path / "legatura.toml"
    path.write_text("[segments]\nfiscal_year_start_month = 13\n")
    with pytest.raises(ConfigError, match=r"segments.fiscal_year_start_month.*LEGATURA_SEGMENTS__FISCAL_YEAR_START_MONTH"):
        load_settings(path, env={})


def test_missing_explicit_config_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", env={})


def test_paths_of_a_config_elsewhere_are_relative_to_its_folder(tmp_path):
    folder = tmp_path / "ngo"
    folder.mkdir()
    (folder / "legatura.toml").write_text('[warehouse]\npath = "data/w.duckdb"\n')
    s = load_settings(folder / "legatura.toml", env={"LEGATURA_LANDING__PATH": "inbox"})
    assert s.warehouse.path == folder / "data" / "w.duckdb"
    assert s.warehouse.snapshot == folder / "warehouse" / "analytics.duckdb"   # a default, also there
    assert str(s.landing.path) == "inbox"                                      # env: relative to cwd

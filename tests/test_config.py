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


# --- strict configuration (issue 9, finding 3): a typo or a bad value stops start-up, naming file, key, reason

def _load(tmp_path, text: str, env: dict | None = None):
    path = tmp_path / "legatura.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path, env=env or {})


@pytest.mark.parametrize(("text", "message"), [
    ("[tracking]\nsla_hour = 48\n", r"legatura.toml: unknown key tracking.sla_hour; did you mean sla_hours\?$"),
    ("[money]\nbase_curency = 'RON'\n", r"unknown key money.base_curency; did you mean base_currency\?"),
    ("[trackng]\nsla_hours = 4\n", r"unknown section \[trackng\]; did you mean \[tracking\]\?"),
    ("[smtp]\nzzz = 1\n", r"unknown key smtp.zzz; the keys of \[smtp\] are host, port, username"),
])
def test_unknown_key_is_refused_with_the_closest_key(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        _load(tmp_path, text)


def test_unknown_key_from_the_environment_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"^env LEGATURA_TRACKING__SLA_HOUR: unknown key tracking.sla_hour; "
                                          r"did you mean sla_hours\?"):
        load_settings(None, env={"LEGATURA_TRACKING__SLA_HOUR": "48"})


@pytest.mark.parametrize(("text", "message"), [
    ("[tracking]\nsla_hours = -5\n", r"setting tracking.sla_hours = -5: Input should be greater than 0"),
    ("[tracking]\nattribution_days = 0\n", r"tracking.attribution_days = 0: Input should be greater than or equal"),
    ("[prefect]\nmode = 'turbo'\n", r"prefect.mode = 'turbo': Input should be 'local-server', 'ephemeral' or "),
    ("[organisation]\ntimezone = 'Europe/Bucuresti'\n", r"organisation.timezone = 'Europe/Bucuresti': no time zone"),
    ("[organisation]\nlanguage = 'romanian'\n", r"organisation.language = 'romanian': not a language code"),
    ("[smtp]\nsecurity = 'ssl'\n", r"smtp.security = 'ssl': Input should be 'none', 'starttls' or 'tls'"),
    ("[smtp]\nconcurrency = 0\n", r"smtp.concurrency = 0"),
    ("[smtp]\nrate_per_second = -1\n", r"smtp.rate_per_second = -1"),
    ("[smtp]\nmax_attempts = -1\n", r"smtp.max_attempts = -1"),
    ("[landing]\nstable_seconds = -1\n", r"landing.stable_seconds = -1"),
    ("[warehouse]\nlock_timeout_seconds = 0\n", r"warehouse.lock_timeout_seconds = 0"),
    ("[compose]\nsend_time = '9'\n", r"compose.send_time = '9': use \"best\", \"now\" or a local time HH:MM"),
    ("[compose]\nsend_window = '18:00-09:00'\n", r"compose.send_window = '18:00-09:00': use HH:MM-HH:MM"),
    ("[money]\nbase_currency = 'LEI'\n", r"money.base_currency = .LEI.: .LEI. is not an ISO 4217 currency code"),
    ("[money]\nfx = { EURO = 4.97 }\n", r"setting money.fx: .EURO. is not an ISO 4217 currency code"),
    ("[money]\nfx = { EUR = 0 }\n", r"setting money.fx: the rate of EUR must be greater than 0"),
    ("[serve]\nsegment_cron = '0 25 * * *'\n", r"serve.segment_cron = '0 25 \* \* \*': not a cron expression"),
    ("[tracking]\nworkday_start = '18:00'\n", r"setting tracking: workday_start 18:00 must be before workday_end"),
])
def test_bad_value_is_refused_with_file_key_and_reason(tmp_path, text, message):
    with pytest.raises(ConfigError, match=r"^\S*legatura.toml: .*" + message):
        _load(tmp_path, text)


def test_every_problem_of_a_file_is_named_in_one_line(tmp_path):
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, "[tracking]\nsla_hour = 48\nattribution_days = 0\n")
    assert "\n" not in str(caught.value)
    assert "tracking.sla_hour;" in str(caught.value) and "tracking.attribution_days = 0" in str(caught.value)


def test_good_values_are_accepted(tmp_path):
    s = _load(tmp_path, "[compose]\nsend_time = '10:30'\nsend_window = '08:00-20:00'\n"
                        "[prefect]\nmode = 'external'\n[smtp]\nsecurity = 'starttls'\nport = 587\n"
                        "[organisation]\ntimezone = 'Europe/Chisinau'\nlanguage = 'en'\n"
                        "[money]\nbase_currency = 'EUR'\nfx = { RON = 0.2, USD = 0.92 }\n")
    assert (s.compose.send_time, s.prefect.mode, s.smtp.security, s.money.base_currency) == (
        "10:30", "external", "starttls", "EUR")


def test_broken_mapping_is_a_config_error_at_start_up(tmp_path):
    text = "[mappings.banca]\ntarget = 'donations'\n[mappings.banca.columns]\nData = 'donated_at'\nSuma = 'amountt'\n"
    with pytest.raises(ConfigError, match=r"^\S*legatura.toml: \[mappings.banca.columns\] fields \['amountt'\] mean "
                                          r"nothing for target donations; did you mean 'amount'\?"):
        _load(tmp_path, text)


@pytest.mark.parametrize(("text", "message"), [
    ("target = 'donations'\ntimezone = 'Mars/Olympus'\n", r"\[mappings.m\] timezone = 'Mars/Olympus'"),
    ("target = 'donations'\ntimestamp_fromat = '%d'\n", r"unknown keys \['timestamp_fromat'\]; did you mean "
                                                        r"timestamp_format\?"),
    ("target = 'donations'\ntimestamp_format = 'DD.MM.YYYY'\n", r"timestamp_format = 'DD.MM.YYYY' is no strptime"),
    ("target = 'donations'\ndecimal_comma = 'yes'\n", r"decimal_comma must be true or false"),
    ("target = 'donations'\ncurrency = 'lei'\n", r"currency = 'lei'"),
    ("target = 'donations'\n[mappings.m.consent_email]\ntrue_value = ['Da']\n", r"unknown keys \['true_value'\]"),
])
def test_mapping_checks_name_the_key(tmp_path, text, message):
    columns = "[mappings.m.columns]\nData = 'donated_at'\nSuma = 'amount'\n"
    with pytest.raises(ConfigError, match=message):
        _load(tmp_path, "[mappings.m]\n" + text + columns)


def test_mapping_may_not_take_a_presets_name(tmp_path):
    with pytest.raises(ConfigError, match=r"\[mappings.stripe\]: stripe is a preset's name"):
        _load(tmp_path, "[mappings.stripe]\ntarget = 'donations'\n[mappings.stripe.columns]\nData = 'donated_at'\n"
                        "Suma = 'amount'\n")


def test_documented_mapping_examples_load(tmp_path):
    """Every [mappings.*] example in docs/mappings.md passes the start-up check."""
    import re
    from pathlib import Path

    doc = (Path(__file__).parents[1] / "docs" / "mappings.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```toml\n(.*?)```", doc, flags=re.S)
    assert blocks
    for block in blocks:
        s = _load(tmp_path, block)
        assert s.mappings


# --- where each value came from (legatura config)

def test_effective_settings_say_where_each_value_came_from(tmp_path):
    from legatura.flows.config import load_with_origins
    from legatura.flows.config_sources import effective

    path = tmp_path / "legatura.toml"
    path.write_text("[tracking]\nsla_hours = 48\n[money]\nfx = { EUR = 5.0 }\n")
    settings, origins = load_with_origins(path, env={"LEGATURA_SMTP__PORT": "2525", "LEGATURA_SMTP__PASSWORD": "pw",
                                                     "LEGATURA_MONEY__FX__USD": "4.5"})
    rows = {key: (value, source) for key, value, source in effective(settings, origins)}
    assert rows["tracking.sla_hours"] == (48, str(path))
    assert rows["tracking.attribution_days"] == (7, "default")
    assert rows["smtp.port"] == (2525, "env LEGATURA_SMTP__PORT")
    assert rows["smtp.password"] == ("***", "env LEGATURA_SMTP__PASSWORD")
    assert rows["tokens.secret"] == ("", "default")
    assert rows["money.fx"][0] == {"EUR": 5.0, "USD": 4.5}
    assert set(rows["money.fx"][1].split(", ")) == {"env LEGATURA_MONEY__FX__USD", str(path)}
    assert rows["money.base_currency"] == ("RON", "default")
    assert "pw" not in repr(rows)


def test_holidays_country_is_checked_at_start_up_when_the_sla_counts_working_hours(tmp_path):
    with pytest.raises(ConfigError, match=r"legatura.toml: setting tracking.holidays_country 'XX': the holidays "
                                          r"package knows no such country"):
        _load(tmp_path, "[tracking]\nbusiness_hours = true\nholidays_country = 'XX'\n")
    assert _load(tmp_path, "[tracking]\nholidays_country = 'XX'\n").tracking.holidays_country == "XX"  # unused

"""`legatura why` explains a queued and a suppressed person; compose runs as a real Prefect flow; preview renders."""
from __future__ import annotations

import pytest
from conftest_compose import AS_OF, NOW, build_warehouse, contact_of
from legatura.flows.cli import app, state
from legatura.flows.compose import compose_campaign
from legatura.flows.why import UnknownContact, explain, preview_message
from legatura.warehouse import db
from typer.testing import CliRunner

runner = CliRunner()


@pytest.fixture
def composed(tmp_path):
    settings = build_warehouse(tmp_path)
    con = db.connect(settings.warehouse.path)
    compose_campaign(con, settings, "appeal", AS_OF, now=NOW, workers=1)
    yield settings, con
    con.close()


def test_why_explains_queued_with_its_consent(composed):
    settings, con = composed
    text = "\n".join(explain(con, "Consented@Example.ro", "appeal", settings.organisation.timezone))
    assert "appeal@2026-11-30 (marketing): QUEUED" in text
    assert "channel: email to consented@example.ro" in text
    assert "consent: opted in consented@example.ro via mailchimp at 2025-01-10 12:02 EET" in text
    assert "send after: 2026-12-01 09:00 EET" in text


def test_why_explains_suppressed_with_the_rule(composed):
    settings, con = composed
    text = "\n".join(explain(con, "0722 000 004", None, settings.organisation.timezone))
    assert "appeal@2026-11-30 (marketing): SUPPRESSED" in text
    assert "stopped by: opted_out" in text and "email: opted_out since 2026-06-01 18:30 UTC" in text
    text = "\n".join(explain(con, str(contact_of(con, "noconsent@example.ro")), None, settings.organisation.timezone))
    assert "stopped by: no_consent" in text


def test_why_unknown_contact(composed):
    settings, con = composed
    with pytest.raises(UnknownContact, match="nobody@example.ro"):
        explain(con, "nobody@example.ro", None, settings.organisation.timezone)


def test_preview_renders_text_and_html(composed):
    settings, con = composed
    shown = preview_message(con, settings, "thank-you", "noconsent@example.ro", AS_OF)
    assert "Subject: Mulțumim, Ioan!" in shown.header and "250,00 lei" in shown.text
    assert shown.html.startswith("<!DOCTYPE html>") and "250,00 lei" in shown.html
    letter = preview_message(con, settings, "lybunt-winback", "horia.scrisoare@example.ro", AS_OF, channel="letter")
    assert "@page { size: A4" in letter.html and "Horia Scrisoare<br>Str. Florilor 7" in letter.html


@pytest.mark.prefect
def test_compose_flow_under_prefect_then_cli_why_and_check(tmp_path, prefect_api):
    settings = build_warehouse(tmp_path)
    config = tmp_path / "legatura.toml"
    config.write_text(f'[warehouse]\npath = "{settings.warehouse.path}"\nsnapshot = "{settings.warehouse.snapshot}"\n'
                      f'[templates]\npath = "{settings.templates.path}"\n[prefect]\nmode = "external"\n'
                      f'state_dir = "{tmp_path / ".legatura"}"\n', encoding="utf-8")
    from legatura.flows.compose import compose_flow

    summary = compose_flow("notice", config=str(config), as_of=AS_OF)
    assert summary.queued > 0 and summary.audience == summary.queued + summary.suppressed
    again = compose_flow("notice", config=str(config), as_of=AS_OF)
    assert again.queued == 0
    state.settings = None
    try:
        result = runner.invoke(app, ["--config", str(config), "why", "noconsent@example.ro", "--campaign", "notice"])
        assert result.exit_code == 0, result.output
        assert "notice@2026-11-30 (transactional): QUEUED" in result.output
        assert "transactional, no opt-in needed" in result.output
        state.settings = None
        result = runner.invoke(app, ["--config", str(config), "check", "thank-you", "--as-of", "2026-11-30"])
        assert result.exit_code == 0 and "campaign thank-you: OK" in result.output
        state.settings = None
        result = runner.invoke(app, ["--config", str(config), "compose", "appeal", "--as-of", "2026-11-30",
                                     "--dry-run"])
        assert result.exit_code == 0, result.output
        assert "appeal as of 2026-11-30: audience" in result.output and "would queue" in result.output
        assert "suppressed by reason:" in result.output and "sample message:" in result.output
    finally:
        state.settings = None

"""Campaign folders: a broken campaign.toml is refused with file, key and reason; every shipped campaign checks."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest_compose import AS_OF, SHIPPED, build_warehouse
from legatura.flows.check import check_campaign
from legatura.transforms.campaigns import CampaignError, campaign_names, load_campaign
from legatura.warehouse import db

SHIPPED_CAMPAIGNS = {"thank-you", "first-gift-welcome", "lybunt-winback", "recurring-upgrade", "volunteer-welcome",
                     "volunteer-reengage", "sponsor-update", "endorser-update", "media-partner-followup",
                     "partner-renewal", "partner-evaluation", "annual-statement"}


def write_campaign(root: Path, text: str, name: str = "broken") -> Path:
    (root / name).mkdir(parents=True, exist_ok=True)
    (root / name / "campaign.toml").write_text(text, encoding="utf-8")
    return root


@pytest.mark.parametrize("text, key, reason", [
    ('purpose = "sales"\nsegments = ["donor_active"]\nchannels = ["email"]\nlanguages = ["ro"]\n[subject]\nro = "x"',
     "purpose", "'marketing' or 'transactional'"),
    ('purpose = "marketing"\nsegments = ["donor_active"]\nchannels = ["fax"]\nlanguages = ["ro"]', "channels.0", "email"),
    ('purpose = "marketing"\nsegments = ["donor_active"]\nchannels = ["email"]\nlanguages = ["ro", "en"]\n'
     '[subject]\nro = "x"', "(campaign)", "subject line for en"),
    ('purpose = "marketing"\nchannels = ["sms"]\nlanguages = ["ro"]', "(campaign)", "exactly one audience"),
    ('purpose = "marketing"\nsegments = ["donor_active"]\nchannels = ["sms"]\nlanguages = ["romanian"]',
     "languages", "two-letter"),
    ('purpose = "transactional"\ntrigger = "donation.received"\ndelay = "soon"\nchannels = ["sms"]\nlanguages = ["ro"]',
     "delay", '"2h"'),
    ('purpose = "marketing"\nsegments = ["donor_active"]\nchannels = ["sms"]\nlanguages = ["ro"]\ncolour = "red"',
     "colour", "Extra inputs"),
])
def test_campaign_broken_toml_names_file_key_reason(tmp_path, text, key, reason):
    root = write_campaign(tmp_path, text)
    with pytest.raises(CampaignError) as err:
        load_campaign(root, "broken")
    message = str(err.value)
    assert str(root / "broken" / "campaign.toml") in message and f"`{key}`" in message and reason in message


def test_campaign_not_toml_and_unknown(tmp_path):
    root = write_campaign(tmp_path, "purpose = marketing")
    with pytest.raises(CampaignError, match="not valid TOML"):
        load_campaign(root, "broken")
    with pytest.raises(CampaignError, match="no such campaign"):
        load_campaign(root, "missing")
    with pytest.raises(CampaignError, match="must be lower-case"):
        load_campaign(root, "../etc")


def test_campaign_audience_sql_stays_in_its_folder(tmp_path):
    root = write_campaign(tmp_path, 'purpose = "transactional"\naudience_sql = "../x.sql"\nchannels = ["sms"]\n'
                                    'languages = ["ro"]')
    (tmp_path / "x.sql").write_text("select 1 as contact_id")
    with pytest.raises(CampaignError, match="audience_sql"):
        load_campaign(root, "broken")


def test_campaign_missing_template_is_a_check_error(tmp_path):
    from legatura.flows.config import Settings

    shutil.copytree(SHIPPED, tmp_path / "templates")
    (tmp_path / "templates" / "thank-you" / "sms.en.j2").unlink()
    report = check_campaign(Settings(templates={"path": tmp_path / "templates"}), "thank-you", AS_OF)
    assert not report.ok and any("sms.en.j2: missing" in e for e in report.errors)


def test_campaign_every_shipped_campaign_checks_for_real_contacts(tmp_path):
    settings = build_warehouse(tmp_path)
    assert set(campaign_names(SHIPPED)) == SHIPPED_CAMPAIGNS
    con = db.connect(settings.warehouse.path)
    try:
        sampled = 0
        for name in sorted(SHIPPED_CAMPAIGNS):
            report = check_campaign(settings, name, AS_OF, con)
            assert report.ok, report.lines()
            campaign = load_campaign(settings.templates.path, name)
            assert set(campaign.languages) == {"ro", "en"}
            # the fully filled sample in every language and channel, then each sampled contact in each
            per_contact = len(campaign.languages) * len(campaign.channels)
            assert report.rendered == per_contact * (1 + report.sample_contacts)
            assert not [w for w in report.warnings if "template_error" in w], (name, report.warnings)
            sampled += report.sample_contacts > 0
        assert sampled >= 8   # most shipped campaigns have an audience in the fixtures
    finally:
        con.close()


@pytest.mark.subprocess
def test_campaign_check_command_fails_in_one_line(tmp_path):
    import os
    import subprocess
    import sys

    shutil.copytree(SHIPPED, tmp_path / "templates")
    (tmp_path / "templates" / "thank-you" / "email.ro.txt.j2").write_text("{{ contact.nmae }}", encoding="utf-8")
    run = lambda *args: subprocess.run(  # noqa: E731
        [str(Path(sys.executable).parent / "legatura"), *args], cwd=tmp_path, capture_output=True, text=True,
        env={**os.environ, "LEGATURA_TEMPLATES__PATH": str(tmp_path / "templates")})
    good = run("check", "annual-statement")
    assert good.returncode == 0 and "campaign annual-statement: OK" in good.stdout
    bad = run("check", "thank-you")
    assert bad.returncode == 1
    assert "error: thank-you/email.ro.txt.j2" in bad.stdout and "nmae" in bad.stdout
    assert bad.stderr.strip().splitlines()[-1] == "Error: campaign thank-you failed its check (1 error(s))"
    unknown = run("check", "no-such-campaign")
    assert unknown.returncode == 1 and unknown.stderr.startswith("Error: ") and "no such campaign" in unknown.stderr

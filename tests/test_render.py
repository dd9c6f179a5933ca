"""Rendering: Romanian and English formatting through Babel, StrictUndefined, autoescape, CSS inlined once, SMS."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from legatura.transforms import sms
from legatura.transforms.context import first_name, salutation
from legatura.transforms.render import environment, inline_css


def render(source: str, language: str = "ro", **ctx) -> str:
    return environment_for(language).from_string(source).render(**ctx)


def environment_for(language: str):
    from pathlib import Path

    return environment(Path("templates"), language)


def test_render_romanian_money_dates_plurals():
    assert render("{{ 1234.5 | money }}") == "1.234,50 lei"
    assert render("{{ x | money('EUR') }}", x=Decimal("25")) == "25,00 EUR"
    assert render("{{ d | date }}", d=date(2026, 11, 15)) == "15 noiembrie 2026"
    words = "{{ n | plural('donație', 'donații', 'de donații') }}"
    assert [render(words, n=n) for n in (1, 3, 19, 20, 101, 120)] == [
        "1 donație", "3 donații", "19 donații", "20 de donații", "101 donații", "120 de donații"]


def test_render_english_money_dates_plurals():
    assert render("{{ 1234.5 | money }}", "en") == "RON 1,234.50"
    assert render("{{ d | date }}", "en", d=date(2026, 11, 15)) == "November 15, 2026"
    assert [render("{{ n | plural('gift', other='gifts') }}", "en", n=n) for n in (1, 2)] == ["1 gift", "2 gifts"]


def test_render_html_autoescaped_missing_variable_fails():
    env = environment_for("ro")
    import pytest
    from jinja2 import UndefinedError

    with pytest.raises(UndefinedError, match="nmae"):
        env.from_string("{{ contact.nmae }}").render(contact={"name": "x"})


def test_render_css_inlined_into_template_source_keeps_jinja():
    source = '<table class="gifts"><tbody>{% for g in gifts %}<tr><td class="amount">{{ g }}</td></tr>{% endfor %}</tbody></table>'
    inlined = inline_css(source, ".amount { text-align: right; } .gifts { width: 100%; }")
    assert '{% for g in gifts %}<tr><td class="amount" style="text-align: right;">{{ g }}</td></tr>{% endfor %}' in inlined
    assert 'class="gifts" style="width: 100%;"' in inlined


def test_render_salutations():
    assert salutation("ro", "person", "ștefan rădulescu", None, None) == "Dragă Ștefan,"
    assert salutation("en", "person", "Ana Mărginean", None, None) == "Dear Ana,"
    assert salutation("ro", "person", None, None, None) == "Bună ziua,"
    assert salutation("ro", "organisation", "Radio Cluj", "Tudor Ardeleanu", "Radio Cluj") == "Bună ziua, Tudor Ardeleanu,"
    assert first_name("  ") is None


def test_sms_segments_gsm7_and_transliteration():
    assert sms.segments("a" * 160) == 1 and sms.segments("a" * 161) == 2
    assert sms.segments("€" * 80) == 1 and sms.segments("€" * 81) == 2      # extension chars count twice
    assert sms.segments("ș" * 70) == 1 and sms.segments("ș" * 71) == 2      # UCS-2
    assert sms.non_gsm7("Mulțumim, Ștefan!") == ["ț", "Ș"]
    assert sms.transliterate("Mulțumim, Ștefan! Îți mulțumim.") == "Multumim, Stefan! Iti multumim."
    assert sms.is_gsm7(sms.transliterate("ăâîșț ĂÂÎȘȚ „citat”"))


def _renderer(name: str):
    from pathlib import Path

    from legatura.transforms.campaigns import load_campaign
    from legatura.transforms.render import Renderer

    templates = Path("templates")
    return Renderer(templates, load_campaign(templates, name), {"name": "Asociația Exemplu", "email": "c@a.ro",
                                                              "public_url": "https://a.ro", "language": "ro",
                                                              "phone": None}, date(2026, 11, 30))


def test_render_hostile_name_escaped_in_html_and_kept_out_of_the_subject(tmp_path):
    from conftest_compose import compose_settings
    from legatura.transforms.campaigns import load_campaign
    from legatura.transforms.context import sample_row
    from legatura.transforms.render import Renderer

    templates = compose_settings(tmp_path).templates.path
    renderer = Renderer(templates, load_campaign(templates, "appeal"), {"name": "A", "email": "c@a.ro",
                        "public_url": "https://a.ro", "language": "ro", "phone": None}, date(2026, 11, 30))
    row = {**sample_row("email", "ro"), "full_name": "<b>Ana</b>\r\nBcc: evil@example.com"}
    out = renderer.render(row)
    assert out.reason is None
    assert "<b>Ana</b>" not in out.body_html and "&lt;b&gt;Ana&lt;/b&gt;" in out.body_html
    assert out.subject == "Apel pentru <b>Ana</b> Bcc: evil@example.com"   # one line: no header injection
    assert "Dragă <b>Ana</b>," in out.body_text                             # text is not HTML: as written


def test_render_missing_value_fails_that_message_naming_template_and_contact():
    from legatura.transforms.context import sample_row

    row = {**sample_row("email", "ro"), "contact_id": 42, "last_gift": None}
    out = _renderer("lybunt-winback").render(row)
    assert out.reason == "template_error"
    assert "lybunt-winback/email.ro.html.j2" in out.error and "contact 42" in out.error
    assert "last_gift" in out.error or "None" in out.error


def test_render_sms_transliterated_when_the_campaign_asks():
    from legatura.transforms.context import sample_row

    out = _renderer("thank-you").render({**sample_row("sms", "ro"), "full_name": "Ștefan Rădulescu"})
    assert out.reason is None and sms.is_gsm7(out.body_text) and "Stefan" in out.body_text
    assert out.sms_segments == sms.segments(out.body_text) <= 2


def test_render_folders_of_a_killed_compose_are_swept_and_a_running_ones_kept(tmp_path):
    """A compose killed with SIGKILL leaves its render folder (rendered messages: personal data) behind;
    the next compose removes it, never the folder of one that still runs."""
    import os
    import subprocess

    from legatura.flows import render_pool

    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = tmp_path / f"{render_pool.FOLDER_PREFIX}{gone.pid}-abc"
    live = tmp_path / f"{render_pool.FOLDER_PREFIX}{os.getpid()}-def"
    other = tmp_path / "someone-elses"
    for folder in (dead, live, other):
        folder.mkdir()
        (folder / "1-0.arrow").write_bytes(b"rendered")
    assert render_pool.sweep_abandoned(tmp_path) == [dead]
    assert not dead.exists() and live.exists() and other.exists()


def test_render_columns_gives_what_render_gives_row_by_row():
    """The bulk path of compose (columns, emails inline) and `render` one row at a time agree on every field."""
    from legatura.transforms.context import sample_row
    from legatura.transforms.render import render_columns

    renderer = _renderer("lybunt-winback")
    rows = [{**sample_row("email", "ro"), "contact_id": 1}, {**sample_row("email", "en"), "contact_id": 2},
            {**sample_row("email", "ro"), "contact_id": 3, "last_gift": None},      # fails: template_error
            {**sample_row("sms", "ro"), "contact_id": 4, "full_name": "Ștefan Rădulescu"},
            {**sample_row("letter", "en"), "contact_id": 5},
            {**sample_row("email", "ro"), "contact_id": 6, "full_name": None}]
    one_by_one = [renderer.render(row) for row in rows]
    columns = render_columns(renderer, rows)
    fields = ("subject", "body_text", "body_html", "sms_segments", "reason", "error")
    assert [tuple(column[i] for column in columns) for i in range(len(rows))] == [
        tuple(getattr(out, f) for f in fields) for out in one_by_one]
    assert [out.reason for out in one_by_one] == [None, None, "template_error", None, None, None]
    assert "contact 3" in columns[5][2] and columns[3][3] == sms.segments(columns[1][3])


def test_only_the_variables_the_templates_read_are_built(tmp_path):
    """A section read through extends and include is built; a template naming another at run time gets all."""
    from legatura.transforms.context import SECTIONS, message_context, sample_row
    from legatura.transforms.render import variables_read

    (tmp_path / "child.j2").write_text('{% extends "base.j2" %}{% block body %}{{ contact.name }}{% endblock %}')
    (tmp_path / "base.j2").write_text('{% block body %}{% endblock %}{% include "part.j2" %}')
    (tmp_path / "part.j2").write_text("{% set h = volunteering.hours_this_year %}{{ h }}")
    (tmp_path / "dynamic.j2").write_text("{% include which %}")
    env = environment(tmp_path, "ro")
    read = variables_read(env, ["child.j2"], ["{{ giving.total }}"])
    assert {"contact", "volunteering", "giving"} <= read and not read & {"partner", "statement", "shift"}
    assert variables_read(env, ["dynamic.j2"]) is None
    built = message_context(sample_row("email", "ro"), {}, ("contact", "volunteering"))
    assert "volunteering" in built and "contact" in built and not set(built) & (set(SECTIONS) - {"contact", "volunteering"})


def test_a_missing_include_builds_every_variable_and_fails_the_message_not_the_renderer(tmp_path):
    from legatura.transforms.context import SECTIONS, sample_row
    from legatura.transforms.render import CampaignSpec, Renderer, campaign_sections

    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "email.ro.html.j2").write_text('<p>{{ contact.name }}</p>{% include "gone.j2" %}')
    (tmp_path / "c" / "email.ro.txt.j2").write_text("{{ contact.name }}")
    spec = CampaignSpec("c", ("ro",), ("email",), {"ro": "Salut"}, False, False, 2)
    assert campaign_sections(tmp_path, spec) == tuple(SECTIONS)
    out = Renderer(tmp_path, spec, {"name": "A"}, date(2026, 11, 30)).render(sample_row("email", "ro"))
    assert out.reason == "template_error" and "gone.j2" in out.error


def test_column_values_gives_what_to_pylist_gives():
    """Dates, timestamps and decimals are made once per distinct value: the same Python values as pyarrow's
    to_pylist, nulls, slices, chunks and structs included."""
    from datetime import datetime, timezone

    import pyarrow as pa
    from legatura.flows.render_worker import column_values

    gift = pa.struct([("amount", pa.decimal128(18, 2)), ("date", pa.date32()), ("campaign", pa.string())])
    table = pa.table({
        "amount": pa.array([Decimal("1234.50"), None, Decimal("-0.01"), Decimal("1234.50"), Decimal("0.00")],
                           pa.decimal128(18, 2)),
        "big": pa.array([Decimal("12345678901234567890.123456"), None, Decimal("1.000000"),
                         Decimal("12345678901234567890.123456"), None], pa.decimal256(40, 6)),
        "day": pa.array([date(2026, 11, 15), date(1970, 1, 1), None, date(2026, 11, 15), date(1969, 12, 31)]),
        "at": pa.array([datetime(2026, 11, 15, 21, 0, tzinfo=timezone.utc), None,
                        datetime(1960, 1, 1, tzinfo=timezone.utc), datetime(2026, 11, 15, 21, 0, tzinfo=timezone.utc),
                        datetime(2026, 11, 15, 21, 0, 0, 1, tzinfo=timezone.utc)], pa.timestamp("us", tz="UTC")),
        "name": ["Ștefan", None, "Ana", "Ștefan", ""],
        "gift": pa.array([{"amount": Decimal("50.00"), "date": date(2026, 1, 2), "campaign": "Crăciun"}, None,
                          {"amount": None, "date": None, "campaign": None},
                          {"amount": Decimal("50.00"), "date": date(2026, 1, 2), "campaign": "Crăciun"},
                          {"amount": Decimal("7.10"), "date": date(2025, 5, 5), "campaign": None}], gift),
    })
    chunked = pa.concat_tables([table.slice(0, 2), table.slice(2)])
    for source in (table, table.slice(1, 3), chunked):
        for name in source.column_names:
            got, expected = column_values(source.column(name)), source.column(name).to_pylist()
            assert got == expected, name
            assert [type(v) for v in got] == [type(v) for v in expected], name
            assert [str(v) for v in got] == [str(v) for v in expected], name   # Decimal('1.50') stays 1.50


def test_a_render_process_imports_only_what_rendering_needs():
    """What a spawned render process pays before its first chunk: no Polars, DuckDB, Prefect or pydantic."""
    import subprocess
    import sys

    heavy = ["polars", "duckdb", "prefect", "pydantic"]
    out = subprocess.run([sys.executable, "-c", "import sys, legatura.flows.render_worker; "
                          f"print([m for m in {heavy!r} if m in sys.modules])"],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"

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

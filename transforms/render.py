"""Rendering: Jinja2 (StrictUndefined, HTML autoescaped, CSS inlined once per template file), Babel filters.

Pure: a Renderer is built from the templates folder, a campaign and the organisation; `render(row)` turns
one contact's flat row (from warehouse/compose/context.sql) into a message or into the reason it fails.
"""
from __future__ import annotations

import re
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import css_inline
from babel import Locale
from babel.dates import format_date
from babel.numbers import format_currency, format_decimal
from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError, TemplateNotFound, meta, nodes
from legatura.transforms import sms
from legatura.transforms.context import SECTIONS, message_context
from legatura.transforms.template_files import template_names

if TYPE_CHECKING:
    from legatura.transforms.campaigns import Campaign

EMAIL_CSS = "_layouts/email.css"
UNSUBSCRIBE_MARKER = "%%UNSUBSCRIBE_URL%%"   # the sender replaces it with the signed link at send time
_JINJA = re.compile(r"(\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\})", re.DOTALL)
_TOKEN = re.compile(r"<!--LGJ(\d+)-->|LGJX(\d+)XJ")
# what a template can get wrong for one contact (a missing value, a filter given None): that message fails
RENDER_ERRORS = (TemplateError, TypeError, ValueError, ArithmeticError, AttributeError, KeyError, IndexError)


def inline_css(source: str, css: str) -> str:
    """Inline `css` into an HTML template's source once, keeping its Jinja2 syntax intact."""
    pieces: list[str] = []

    def protect(match: re.Match) -> str:
        pieces.append(match.group(0))
        n = len(pieces) - 1
        # statements become comments (the HTML parser keeps them in place, even inside a <table>)
        return f"LGJX{n}XJ" if match.group(0).startswith("{{") else f"<!--LGJ{n}-->"

    protected = _JINJA.sub(protect, source)
    if re.match(r"\s*(<!doctype|<html)", protected, re.IGNORECASE):
        inlined = css_inline.CSSInliner(extra_css=css, keep_style_tags=True).inline(protected)
    else:
        inlined = css_inline.inline_fragment(protected, css)
    return _TOKEN.sub(lambda m: pieces[int(m.group(1) or m.group(2))], inlined)


class InliningLoader(FileSystemLoader):
    """Loads templates from the templates folder; email HTML files get the shared CSS inlined on load."""

    def __init__(self, root: Path):
        super().__init__(str(root))
        css_path = root / EMAIL_CSS
        self.css = css_path.read_text(encoding="utf-8") if css_path.exists() else ""

    def get_source(self, environment, template):
        source, filename, uptodate = super().get_source(environment, template)
        base = template.rsplit("/", 1)[-1]
        if self.css and template.endswith(".html.j2") and not base.startswith("letter"):
            source = inline_css(source, self.css)
        return source, filename, uptodate


def _autoescape(name: str | None) -> bool:
    return bool(name) and name.endswith(".html.j2")


def _money(locale: str):
    where = Locale.parse(locale)

    @lru_cache(maxsize=8192)   # amounts repeat across an audience; Babel is the costly part of a render
    def formatted(value: Decimal, currency: str) -> str:
        if locale == "ro" and currency == "RON":
            return f"{format_decimal(value, '#,##0.00', locale=where)} lei"
        if currency == "RON":
            return f"RON {format_decimal(value, '#,##0.00', locale=where)}"
        return format_currency(value, currency, locale=where).replace("\xa0", " ")

    def money(amount, currency: str = "RON") -> str:
        return formatted(Decimal(str(amount)), currency)
    return money


def _long_date(locale: str):
    where = Locale.parse(locale)

    @lru_cache(maxsize=8192)
    def long_date(value) -> str:
        if isinstance(value, datetime):
            value = value.date()
        if not isinstance(value, date):
            raise TypeError(f"date filter needs a date, got {type(value).__name__}")
        return format_date(value, format="long", locale=where)
    return long_date


def _plural(locale: str):
    rules = Locale.parse(locale)

    @lru_cache(maxsize=8192)
    def plural(count, one: str, few: str | None = None, other: str | None = None) -> str:
        """`3 | plural("donație", "donații", "de donații")` -> "3 donații" (Babel's plural rules)."""
        form = rules.plural_form(count)
        word = {"one": one, "few": few or other or one, "other": other or few or one}.get(form, other or one)
        return f"{format_decimal(count, locale=rules)} {word}"
    return plural


def _number(locale: str):
    where = Locale.parse(locale)

    @lru_cache(maxsize=8192)
    def formatted(value: Decimal, pattern: str) -> str:
        return format_decimal(value, pattern, locale=where)

    def number(value, pattern: str = "#,##0.##") -> str:
        return formatted(Decimal(str(value)), pattern)
    return number


def environment(templates: Path, language: str) -> Environment:
    """One Jinja2 environment per language: StrictUndefined, autoescape for .html.j2, Babel filters."""
    env = Environment(loader=InliningLoader(templates), undefined=StrictUndefined, autoescape=_autoescape,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False, auto_reload=False)
    env.filters.update(money=_money(language), date=_long_date(language), plural=_plural(language),
                       number=_number(language))
    return env


def variables_read(env: Environment, names, sources=()) -> set[str] | None:
    """The top-level variables the templates `names` and the template texts `sources` (subject lines) read,
    with every template they extend, include or import; None when one names another only at run time."""
    trees = [env.parse(text) for text in sources]
    pending, seen, found = list(names), set(), set()
    while pending or trees:
        if pending:
            name = pending.pop()
            if name not in seen:   # the file as written (the CSS inlined on load changes no expression)
                seen.add(name)
                trees.append(env.parse(FileSystemLoader.get_source(env.loader, env, name)[0]))
            continue
        tree = trees.pop()
        found |= meta.find_undeclared_variables(tree)
        for referenced in meta.find_referenced_templates(tree):
            if referenced is None:
                return None
            pending.append(referenced)
    return found


def campaign_sections(templates: Path, campaign: Campaign | CampaignSpec, envs: dict | None = None) -> tuple[str, ...]:
    """The template variables of transforms/context.py's SECTIONS that some template of the campaign reads,
    in any language: only those are gathered and built per message (all of them if a template is dynamic)."""
    read: set[str] = set()
    for lang in campaign.languages:
        env = (envs or {}).get(lang) or environment(templates, lang)
        names = [n for channel in campaign.channels for n in campaign.template_names(channel, lang)]
        try:
            got = variables_read(env, names, [campaign.subject[lang]] if lang in campaign.subject else [])
        except (TemplateError, OSError):   # a missing or broken file: the check and the render say which
            got = None
        if got is None:
            return tuple(SECTIONS)
        read |= got
    return tuple(name for name in SECTIONS if name in read)


# what a memoised template may hold besides the variables it reads: no call, loop, assignment or import
_PLAIN = (nodes.Template, nodes.Output, nodes.TemplateData, nodes.Const, nodes.Name, nodes.Getattr, nodes.Getitem,
          nodes.Filter, nodes.Test, nodes.CondExpr, nodes.And, nodes.Or, nodes.Not, nodes.Compare, nodes.Operand,
          nodes.Concat, nodes.If, nodes.Keyword)
_MISSING = object()   # a variable the context lacks: rendering raises (StrictUndefined), nothing is memoised


def _paths(node: nodes.Node, into: list[tuple]) -> bool:
    """Collect the variable paths (`contact.first_name`) `node` reads; False if it does more than read them."""
    if not isinstance(node, _PLAIN) or (isinstance(node, nodes.Filter) and node.name == "random"):
        return False
    path: list = []
    inner = node
    while isinstance(inner, (nodes.Getattr, nodes.Getitem)):
        if isinstance(inner, nodes.Getattr):
            path.append(inner.attr)
        elif isinstance(inner.arg, nodes.Const):
            path.append(inner.arg.value)
        else:
            break
        inner = inner.node
    if isinstance(inner, nodes.Name) and (inner is not node or isinstance(node, nodes.Name)):
        into.append((inner.name, *reversed(path)))
        return True
    return all(_paths(child, into) for child in node.iter_child_nodes())


class MemoisedTemplate:
    """A small template (a subject line) rendered once per distinct set of the values it reads.

    Subjects read one or two variables (`contact.first_name`) that repeat across an audience; the text
    is the same for the same values, so it is rendered once for them (filters are pure). A template that
    calls, loops or assigns, or a value that cannot be a key (a dict, a list), renders every time."""

    LIMIT = 50_000

    def __init__(self, env: Environment, source: str):
        self.env = env
        self.template = env.from_string(source)
        found: list[tuple] = []
        plain = _paths(env.parse(source), found) and not any(hasattr(dict, a) for _, *attrs in found for a in attrs)
        self.paths = tuple(dict.fromkeys(found)) if plain else None   # `x.items` is the dict's method in Jinja2
        self.memo: dict[tuple, str] = {}

    def _key(self, ctx: dict) -> tuple | None:
        values = []
        for name, *attrs in self.paths:
            value = ctx.get(name, _MISSING)
            for attr in attrs:
                if value is _MISSING:
                    break
                value = value.get(attr, _MISSING) if type(value) is dict else _MISSING
            if value is _MISSING or not isinstance(value, (str, int, float, Decimal, date, type(None))):
                return None
            values.append(value)
        return tuple(values)

    def render(self, ctx: dict) -> str:
        key = self._key(ctx) if self.paths is not None else None
        if key is None:
            return self.template.render(ctx)
        text = self.memo.get(key)
        if text is None:
            text = self.template.render(ctx)
            if len(self.memo) >= self.LIMIT:
                self.memo.clear()
            self.memo[key] = text
        return text


@dataclass(frozen=True)
class CampaignSpec:
    """What rendering reads of a campaign: a Campaign without pydantic, which a render process unpickles
    without importing pydantic (a tenth of a second before its first chunk)."""
    name: str
    languages: tuple[str, ...]
    channels: tuple[str, ...]
    subject: dict[str, str]
    is_marketing: bool
    transliterate_sms: bool
    max_sms_segments: int

    @classmethod
    def of(cls, campaign: Campaign) -> CampaignSpec:
        return cls(campaign.name, tuple(campaign.languages), tuple(campaign.channels), dict(campaign.subject),
                   campaign.is_marketing, campaign.transliterate_sms, campaign.max_sms_segments)

    def template_names(self, channel: str, language: str) -> list[str]:
        return template_names(self.name, channel, language)


@dataclass(frozen=True)
class Rendered:
    """One contact's message, or the reason it cannot go (template_error, sms_too_long) and why."""
    subject: str | None = None
    body_text: str | None = None
    body_html: str | None = None
    sms_segments: int | None = None
    reason: str | None = None
    error: str | None = None


def _where(exc: BaseException) -> str:
    """`file.j2:line` of the template line that failed (Jinja2 rewrites tracebacks to point there)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.endswith(".j2")]
    if not frames:
        return getattr(exc, "name", None) or "template"
    frame = frames[-1]
    parts = Path(frame.filename).parts
    return f"{'/'.join(parts[-2:])}:{frame.lineno}"


class Renderer:
    """Compiled templates of one campaign in every language; renders flat rows into messages."""

    def __init__(self, templates: Path, campaign: Campaign | CampaignSpec, organisation: dict, as_of: date,
                 envs: dict[str, Environment] | None = None):
        self.campaign = campaign
        self.base = {"organisation": organisation, "unsubscribe_url": UNSUBSCRIBE_MARKER,
                     "is_marketing": campaign.is_marketing, "as_of": as_of, "campaign": campaign.name}
        # `envs` (one per language, from `environments`) keeps the templates template_problems compiled
        self.envs = envs or environments(templates, campaign)
        self.subjects = {lang: MemoisedTemplate(self.envs[lang], campaign.subject[lang])
                         for lang in campaign.languages if lang in campaign.subject}
        self.templates = {}
        for lang, env in self.envs.items():
            for channel in campaign.channels:
                self.templates[(channel, lang)] = [env.get_template(n) for n in campaign.template_names(channel, lang)]
        self.sections = campaign_sections(templates, campaign, self.envs)

    def context(self, row: dict) -> dict:
        return message_context(row, self.base, self.sections)

    def render(self, row: dict) -> Rendered:
        """Render `row` (with `channel` and `language` decided) into its message; failures are per message."""
        channel, language = row["channel"], row["language"]
        templates = self.templates[(channel, language)]
        current = templates[0].name
        try:
            ctx = self.context(row)
            if channel == "email":
                current = f"{self.campaign.name}/campaign.toml [subject] {language}"
                subject = " ".join(self.subjects[language].render(ctx).split())
                current = templates[0].name
                html = templates[0].render(ctx)
                current = templates[1].name
                text = templates[1].render(ctx).strip() + "\n"
                return Rendered(subject=subject, body_text=text, body_html=html)
            if channel == "sms":
                text = " ".join(templates[0].render(ctx).split())
                if self.campaign.transliterate_sms:
                    text = sms.transliterate(text)
                count = sms.segments(text)
                if count > self.campaign.max_sms_segments:
                    return Rendered(body_text=text, sms_segments=count, reason="sms_too_long", error=(
                        f"{current}: {count} SMS segments, more than max_sms_segments = "
                        f"{self.campaign.max_sms_segments} (contact {row['contact_id']})"))
                return Rendered(body_text=text, sms_segments=count)
            html = templates[0].render(ctx)
            return Rendered(body_html=html)
        except RENDER_ERRORS as exc:
            message = getattr(exc, "message", None) or str(exc)
            return Rendered(reason="template_error",
                            error=f"{current} ({_where(exc)}): {message} (contact {row['contact_id']})")


def render_columns(renderer: Renderer, rows: Iterable[dict]) -> tuple[list, list, list, list, list, list]:
    """Render many rows into the columns subject, body_text, body_html, sms_segments, reason and error: the same
    messages as `renderer.render(row)` one by one, without an object per message (the bulk path of compose).

    Emails, most of any campaign, render inline; a row that fails, and every other channel, goes through
    `render`, which names the template and line of the failure."""
    base, subject_of, context, sections = renderer.base, renderer.subjects, message_context, renderer.sections
    email = {lang: pair for (channel, lang), pair in renderer.templates.items() if channel == "email"}
    done: list[tuple] = []
    for row in rows:
        pair = email.get(row["language"]) if row["channel"] == "email" else None
        if pair is not None:
            try:
                ctx = context(row, base, sections)
                done.append((" ".join(subject_of[row["language"]].render(ctx).split()),
                             pair[1].render(ctx).strip() + "\n", pair[0].render(ctx), None, None, None))
                continue
            except RENDER_ERRORS:
                pass   # rendered again below, which names the template and line
        out = renderer.render(row)
        done.append((out.subject, out.body_text, out.body_html, out.sms_segments, out.reason, out.error))
    return tuple(list(column) for column in zip(*done)) if done else ([], [], [], [], [], [])


def environments(templates: Path, campaign: Campaign | CampaignSpec) -> dict[str, Environment]:
    """A Jinja2 environment per language of the campaign (each compiles a template once, on first use)."""
    return {lang: environment(templates, lang) for lang in campaign.languages}


def template_problems(templates: Path, campaign: Campaign, envs: dict[str, Environment] | None = None) -> list[str]:
    """Missing or unparsable template files of a campaign (file and line), before anything renders."""
    problems = []
    envs = envs or environments(templates, campaign)
    for lang in campaign.languages:
        env = envs[lang]
        for channel in campaign.channels:
            for name in campaign.template_names(channel, lang):
                try:
                    env.get_template(name)
                except TemplateNotFound as exc:
                    missing = exc.name if exc.name != name else name
                    problems.append(f"{templates / missing}: missing ({channel} in {lang} needs it)")
                except TemplateError as exc:
                    line = getattr(exc, "lineno", None)
                    where = f"{templates / (getattr(exc, 'name', None) or name)}:{line}" if line else str(templates / name)
                    problems.append(f"{where}: {getattr(exc, 'message', None) or exc}")
        if lang in campaign.subject:
            try:
                env.from_string(campaign.subject[lang])
            except TemplateError as exc:
                problems.append(f"{campaign.folder / 'campaign.toml'}: key `subject.{lang}`: {exc}")
    return problems

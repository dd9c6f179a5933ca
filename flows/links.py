"""The links in our messages, served by the web process: unsubscribe (/u/TOKEN) and confirm a sign-up (/c/TOKEN).

* POST /u/TOKEN (RFC 8058 one-click, as Gmail and Apple Mail send it: `List-Unsubscribe=One-Click`, form
  encoded) records the opt-out at once: no page to read, no second click.
* GET /u/TOKEN shows a page in the message's language with one button (a POST to the same URL): mail
  scanners that follow links never unsubscribe anybody.
* GET or POST /c/TOKEN records the confirmed opt-in (double opt-in), with its time and the token's message:
  the click in the confirmation email is the one click it takes.
* A forged, altered, expired or wrong-purpose token gets 400 and nothing is written.
Mount with `routes(settings)` in any Starlette app (flows/web.py's build_app takes them as extra routes).
"""
from __future__ import annotations

import html
from datetime import datetime, timezone

from legatura.flows import links_store
from legatura.flows.config import Settings
from legatura.transforms.tokens import BadToken, LinkToken, MissingTokenSecret, Signer
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex",
           "X-Content-Type-Options": "nosniff"}
TEXTS = {
    "ro": {
        "ask_title": "Dezabonare",
        "ask": "Nu mai doriți emailuri de la {org} la adresa {address}?",
        "button": "Dezabonează-mă",
        "done_title": "V-ați dezabonat",
        "done": "Adresa {address} nu va mai primi emailuri de marketing de la {org}.",
        "confirmed_title": "Abonare confirmată",
        "confirmed": "Mulțumim! Adresa {address} este confirmată: veți primi veștile {org}.",
        "bad_title": "Link nevalid",
        "bad": "Acest link nu este valid sau a expirat. Nu s-a schimbat nimic.",
    },
    "en": {
        "ask_title": "Unsubscribe",
        "ask": "No more email from {org} to {address}?",
        "button": "Unsubscribe me",
        "done_title": "You are unsubscribed",
        "done": "{address} will get no more marketing email from {org}.",
        "confirmed_title": "Subscription confirmed",
        "confirmed": "Thank you! {address} is confirmed: you will hear from {org}.",
        "bad_title": "Invalid link",
        "bad": "This link is not valid or has expired. Nothing was changed.",
    },
}


def routes(settings: Settings) -> list[Route]:
    """The unsubscribe and confirmation routes, bound to these settings."""
    links = _Links(settings)
    return [Route("/u/{token}", links.unsubscribe, methods=["GET", "POST"]),
            Route("/c/{token}", links.confirm, methods=["GET", "POST"])]


class _Links:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._signers: dict[str, Signer] = {}

    def _check(self, purpose: str, token: str) -> LinkToken:
        if purpose not in self._signers:
            tokens = self.settings.tokens
            self._signers[purpose] = Signer(tokens.secret.get_secret_value(), purpose, tokens.unsubscribe_days)
        return self._signers[purpose].check(token)

    def _language(self, token: LinkToken | None) -> str:
        language = (token.language if token else None) or self.settings.organisation.language
        return language if language in TEXTS else "en"

    def _page(self, language: str, title: str, text: str, status: int = 200, form: bool = False) -> HTMLResponse:
        t = TEXTS[language]
        button = (f'<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">'
                  f'<button type="submit">{html.escape(t["button"])}</button></form>') if form else ""
        body = (f'<!doctype html><html lang="{language}"><head><meta charset="utf-8">'
                f'<meta name="viewport" content="width=device-width, initial-scale=1">'
                f"<title>{html.escape(title)}</title></head><body><main><h1>{html.escape(title)}</h1>"
                f"<p>{html.escape(text)}</p>{button}</main></body></html>")
        return HTMLResponse(body, status_code=status, headers=HEADERS)

    def _refused(self, request: Request) -> HTMLResponse:
        language = self.settings.organisation.language if self.settings.organisation.language in TEXTS else "en"
        t = TEXTS[language]
        return self._page(language, t["bad_title"], t["bad"], status=400)

    def _say(self, token: LinkToken, key: str) -> str:
        return TEXTS[self._language(token)][key].format(org=self.settings.organisation.name,
                                                         address=_masked(token.address))

    async def unsubscribe(self, request: Request) -> HTMLResponse:
        try:
            token = self._check("unsubscribe", request.path_params["token"])
        except (BadToken, MissingTokenSecret):
            return self._refused(request)
        language = self._language(token)
        if request.method == "GET":
            return self._page(language, TEXTS[language]["ask_title"], self._say(token, "ask"), form=True)
        form = (await request.body()).decode("ascii", "replace")
        one_click = "List-Unsubscribe=One-Click" in form
        now = datetime.now(timezone.utc)
        await run_in_threadpool(links_store.record_event, self.settings, {
            "event_id": f"link:unsubscribe:{token.message_id}:{token.channel}:{now.isoformat()}",
            "channel": token.channel, "address": token.address, "status": "opted_out",
            "recorded_at": now.isoformat(), "message_id": token.message_id,
            "source": "unsubscribe:one-click" if one_click else "unsubscribe:link"})
        return self._page(language, TEXTS[language]["done_title"], self._say(token, "done"))

    async def confirm(self, request: Request) -> HTMLResponse:
        try:
            token = self._check("confirm", request.path_params["token"])
        except (BadToken, MissingTokenSecret):
            return self._refused(request)
        now = datetime.now(timezone.utc)
        # keyed by the message: a second click keeps the first confirmation's time
        await run_in_threadpool(links_store.record_event, self.settings, {
            "event_id": f"link:confirm:{token.message_id}", "channel": token.channel, "address": token.address,
            "status": "opted_in", "recorded_at": now.isoformat(), "message_id": token.message_id,
            "source": "confirmation"})
        language = self._language(token)
        return self._page(language, TEXTS[language]["confirmed_title"], self._say(token, "confirmed"))


def _masked(address: str) -> str:
    """a***@example.org: enough for the person to recognise, little for whoever the link was forwarded to."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"

"""Which template files a campaign's message on a channel needs: shared by campaigns.py and the renderer."""
from __future__ import annotations


def template_names(campaign: str, channel: str, language: str) -> list[str]:
    """The template files (relative to the templates folder) a message on this channel needs."""
    if channel == "email":
        return [f"{campaign}/email.{language}.html.j2", f"{campaign}/email.{language}.txt.j2"]
    if channel == "sms":
        return [f"{campaign}/sms.{language}.j2"]
    return [f"{campaign}/letter.{language}.html.j2"]

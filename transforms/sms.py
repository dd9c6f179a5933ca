"""SMS text: GSM-7 or UCS-2, how many billed segments, and transliteration of what GSM-7 cannot carry."""
from __future__ import annotations

from anyascii import anyascii

# GSM 03.38 default alphabet and its extension table (each extension character costs two septets)
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")


def non_gsm7(text: str) -> list[str]:
    """The distinct characters of `text` that GSM-7 cannot carry (each turns the SMS into UCS-2), in order."""
    seen: list[str] = []
    for ch in text:
        if ch not in GSM7_BASIC and ch not in GSM7_EXTENSION and ch not in seen:
            seen.append(ch)
    return seen


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def transliterate(text: str) -> str:
    """Replace every character GSM-7 lacks by its ASCII spelling (ș -> s, ț -> t, „ -> "), keep the rest."""
    return "".join(ch if ch in GSM7_BASIC or ch in GSM7_EXTENSION else anyascii(ch) for ch in text)


def segments(text: str) -> int:
    """Billed segments: GSM-7 160 septets (153 per part when split), UCS-2 70 units (67 per part)."""
    if not text:
        return 0
    if is_gsm7(text):
        septets = len(text) + sum(1 for ch in text if ch in GSM7_EXTENSION)
        return 1 if septets <= 160 else -(-septets // 153)
    units = len(text.encode("utf-16-le")) // 2
    return 1 if units <= 70 else -(-units // 67)

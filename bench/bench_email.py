"""Bench: parse a 20,000-message mbox with the email preset; prints messages/s (target >= 2,000).

Generates a realistic Gmail Takeout mbox in a temp folder (plain QP, multipart/alternative, ISO-8859-2
8bit, base64 with a PDF attachment, replies with References, mboxrd `>From ` lines) and times
`parse()` alone: generation and interpreter start-up are not counted.

Example: .venv/bin/python bench/bench_email.py --messages 20000 --runs 3
"""
from __future__ import annotations

import argparse
import base64
import quopri
import random
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from legatura.flows.config import Settings
from legatura.transforms.channels import email as email_preset

FIRST = ["Ana", "Ștefan", "Ioana", "Radu", "Elena", "Cristina", "Mihai", "Gheorghe", "Maria", "Andreea", "Vlad"]
LAST = ["Mărginean", "Rădulescu", "Țurcanu", "Georgescu", "Constantinescu", "Bălan", "Drăgan", "Nistor", "Ene"]
TEXT = ("Bună ziua,\n\nAm donat luna trecută și aș avea nevoie de un certificat de donație pentru "
        "declarația fiscală. Vă mulțumesc pentru tot ce faceți pentru copiii din centrul de zi; "
        "aș vrea să vin și ca voluntar la strângerea de haine de sâmbătă.\n\nCu stimă,\n")


def _qp(text: str) -> str:
    return quopri.encodestring(text.encode("utf-8")).decode("ascii")


def _b64(data: bytes) -> str:
    return base64.encodebytes(data).decode("ascii")


def _word(text: str) -> str:
    return "=?UTF-8?Q?" + quopri.encodestring(text.encode(), header=True).decode() + "?="


def message(i: int, rng: random.Random, when: datetime) -> str:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    address = f"{first.lower()}.{last.lower()}{i % 997}@gmail.com".encode("ascii", "ignore").decode()
    outbound = i % 4 == 1
    sender = "Maria Dumitrescu <contact@asociatia-exemplu.ro>" if outbound else f"{_word(first + ' ' + last)} <{address}>"
    recipient = f"{_word(first + ' ' + last)} <{address}>" if outbound else "contact@asociatia-exemplu.ro"
    mid = f"<{i:08d}.{rng.getrandbits(48):012x}@mail.gmail.com>"
    thread = f"<{i - 1:08d}.root@mail.gmail.com>"
    headers = [
        f"X-GM-THRID: {1817263545364728191 + i // 2}",
        "X-Gmail-Labels: " + ("Sent" if outbound else "Inbox,Opened"),
        "Delivered-To: contact@asociatia-exemplu.ro",
        "Received: by 2002:a05:6a10:1234 with SMTP id abc;\n        " + when.strftime("%a, %d %b %Y %H:%M:%S +0000"),
        "MIME-Version: 1.0",
        "Date: " + when.astimezone(timezone(timedelta(hours=2))).strftime("%a, %d %b %Y %H:%M:%S +0200"),
        f"Message-ID: {mid}",
        f"Subject: {'Re: ' if outbound else ''}Certificat pentru {_word('donația')} din luna {i % 12 + 1}",
        f"From: {sender}",
        f"To: {recipient}",
    ]
    if outbound:
        headers += [f"In-Reply-To: {thread}", f"References: {thread}"]
    body = TEXT + f"{first} {last}\n"
    kind = i % 20     # most mail today is multipart/alternative
    if kind < 5:      # text/plain, quoted-printable UTF-8
        if i % 50 == 0:
            body += "\nFrom my phone: sent on the go\n"   # written as >From in an mboxrd
        headers += ['Content-Type: text/plain; charset="UTF-8"', "Content-Transfer-Encoding: quoted-printable"]
        text = "\n".join(headers) + "\n\n" + _qp(body)
    elif kind < 15:   # multipart/alternative, QP text + QP html
        boundary = f"000000000000{i:016x}"
        html = "<div dir=\"ltr\">" + body.replace("\n", "<br>\n") + "</div>"
        headers.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
        text = "\n".join(headers) + "\n\n" + "".join(
            f'--{boundary}\nContent-Type: {ctype}; charset="UTF-8"\nContent-Transfer-Encoding: quoted-printable\n\n'
            f"{_qp(part)}\n" for ctype, part in (("text/plain", body), ("text/html", html))) + f"--{boundary}--\n"
    elif kind < 18:   # an older client: ISO-8859-2, 8bit
        headers += ['Content-Type: text/plain; charset="iso-8859-2"', "Content-Transfer-Encoding: 8bit",
                    "User-Agent: Mozilla/5.0 Thunderbird/52.9.1"]
        legacy = body.replace("ș", "ş").replace("ț", "ţ").replace("Ș", "Ş").replace("Ț", "Ţ")
        return ("\n".join(headers) + "\n\n").encode("utf-8") + legacy.encode("iso-8859-2")
    else:             # multipart/mixed: base64 text + a PDF attachment
        boundary = f"b1_{i:020x}"
        pdf = b"%PDF-1.4\n" + rng.randbytes(3000)
        headers.append(f'Content-Type: multipart/mixed; boundary="{boundary}"')
        text = "\n".join(headers) + "\n\n" + (
            f'--{boundary}\nContent-Type: text/plain; charset="UTF-8"\nContent-Transfer-Encoding: base64\n\n'
            f"{_b64(body.encode())}\n"
            f'--{boundary}\nContent-Type: application/pdf; name="certificat.pdf"\n'
            f'Content-Disposition: attachment; filename="certificat.pdf"\nContent-Transfer-Encoding: base64\n\n'
            f"{_b64(pdf)}\n--{boundary}--\n")
    return text.encode("utf-8")


def write_mbox(path: Path, count: int) -> int:
    rng = random.Random(20261112)
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    with path.open("wb") as out:
        for i in range(count):
            when = start + timedelta(minutes=23 * i + rng.randrange(20))
            raw = message(i, rng, when)
            raw = raw.replace(b"\nFrom ", b"\n>From ")
            out.write(f"From {1817263545364728191 + i // 2}@xxx {when.strftime('%a %b %d %H:%M:%S +0000 %Y')}\n".encode())
            out.write(raw.rstrip(b"\n") + b"\n\n")
    return path.stat().st_size


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--messages", type=int, default=20_000)
    options.add_argument("--runs", type=int, default=3)
    args = options.parse_args()
    settings = Settings()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "All mail Including Spam and Trash.mbox"
        size = write_mbox(path, args.messages)
        raw = path.read_bytes()
    timings = []
    for _ in range(args.runs):
        started = time.perf_counter()
        result = email_preset.parse(raw, str(path), settings)
        timings.append(time.perf_counter() - started)
    interactions = result.frames["interactions"]
    assert result.records_read == args.messages, result.records_read
    assert interactions.height + result.quarantine.height == args.messages
    seconds = statistics.median(timings)
    print(f"email mbox parse: {args.messages:,} messages ({size / 1e6:.1f} MB) in {seconds:.2f} s "
          f"(median of {args.runs}) = {args.messages / seconds:,.0f} messages/s  [target >= 2,000]; "
          f"{interactions.height:,} interactions, {result.quarantine.height} quarantined")


if __name__ == "__main__":
    main()

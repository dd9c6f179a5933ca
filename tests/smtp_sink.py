"""A real SMTP server for tests and the bench: aiosmtpd on 127.0.0.1, run in its own process.

    python tests/smtp_sink.py --port P --log received.jsonl [--keep DIR] [--temp-fail N --temp-code 451|421]
        [--reject-domain bad.example] [--data-delay 0.5]

Prints `ready <port>` once listening. Every accepted message is one JSON line in --log (flushed):
Message-ID, envelope sender and recipients, size; --keep also writes the raw bytes to DIR/<n>.eml.
--temp-fail N answers the first N deliveries of each Message-ID with a temporary failure (451 at RCPT,
or 421 at DATA end); --reject-domain answers 550 at RCPT for recipients at that domain.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import ssl
import sys
import time
from collections import Counter
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

MESSAGE_ID = re.compile(rb"(?im)^message-id:\s*<([^>]+)>")


class Handler:
    def __init__(self, args):
        self.args = args
        self.log = open(args.log, "a", encoding="utf-8") if args.log else None
        self.keep = Path(args.keep) if args.keep else None
        self.tries: Counter = Counter()
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.args.reject_domain and address.lower().endswith("@" + self.args.reject_domain):
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address
        if self.args.temp_fail and self.args.temp_code == 451:
            self.tries[address] += 1
            if self.tries[address] <= self.args.temp_fail:
                return "451 4.3.0 Temporary lookup failure, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        data = envelope.original_content or envelope.content
        found = MESSAGE_ID.search(data)
        message_id = found.group(1).decode() if found else None
        if self.args.data_delay:
            await asyncio.sleep(self.args.data_delay)
        if self.args.temp_fail and self.args.temp_code == 421:
            self.tries[message_id] += 1
            if self.tries[message_id] <= self.args.temp_fail:
                return "421 4.7.0 Too many messages, closing connection"
        self.count += 1
        if self.keep:
            (self.keep / f"{self.count:06d}.eml").write_bytes(data)
        if self.log:
            self.log.write(json.dumps({"message_id": message_id, "mail_from": envelope.mail_from, "t": time.time(),
                                       "rcpt_tos": envelope.rcpt_tos, "size": len(data)}) + "\n")
            self.log.flush()
        return "250 2.0.0 Ok: queued as %d" % self.count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log")
    parser.add_argument("--keep")
    parser.add_argument("--temp-fail", type=int, default=0)
    parser.add_argument("--temp-code", type=int, default=451)
    parser.add_argument("--reject-domain")
    parser.add_argument("--data-delay", type=float, default=0.0)
    parser.add_argument("--tls", choices=["starttls", "implicit"])
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--auth", help="login:password that AUTH must give")
    args = parser.parse_args()
    if args.keep:
        Path(args.keep).mkdir(parents=True, exist_ok=True)
    extra = {}
    if args.tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
        extra = ({"tls_context": context, "require_starttls": True} if args.tls == "starttls"
                 else {"ssl_context": context})
    if args.auth:
        login, password = args.auth.split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = isinstance(auth_data, LoginPassword) and (auth_data.login.decode(), auth_data.password.decode()) == (
                login, password)
            return AuthResult(success=ok, handled=False)

        extra.update(authenticator=authenticator, auth_required=True, auth_require_tls=args.tls == "starttls")
    controller = Controller(Handler(args), hostname="127.0.0.1", port=args.port,
                            data_size_limit=50 * 1024 * 1024, decode_data=False, **extra)
    controller.start()
    print(f"ready {args.port}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: (controller.stop(), sys.exit(0)))
    try:
        signal.pause()
    except KeyboardInterrupt:
        controller.stop()


if __name__ == "__main__":
    main()

"""The demo's local SMTP sink: aiosmtpd on 127.0.0.1 (a free port), each message kept as a .eml file.

Nothing leaves the machine: the demo points its sender at this sink, and a person opens the files in
any mail client. A message is on disk (written whole, then renamed) before the sink answers 250.
"""
from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

from aiosmtpd.controller import Controller


class _KeepAsEml:
    def __init__(self, folder: Path):
        self.folder = folder
        self.lock = threading.Lock()
        self.count = len(list(folder.glob("*.eml")))

    async def handle_DATA(self, server, session, envelope):
        data = envelope.original_content or envelope.content
        with self.lock:
            self.count += 1
            number = self.count
        final = self.folder / f"{number:04d}.eml"
        partial = final.with_suffix(".eml.part")
        with open(partial, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        partial.replace(final)
        return f"250 2.0.0 Ok: kept as {final.name}"


class MailSink:
    """An SMTP server on 127.0.0.1 for the length of a `with` block; `received` counts the messages kept."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.handler = _KeepAsEml(self.folder)
        self.port = _free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, decode_data=False,
                                     data_size_limit=10 * 1024 * 1024)

    @property
    def received(self) -> int:
        return self.handler.count

    def __enter__(self) -> "MailSink":
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]

"""Bench: `legatura send` of 20,000 queued ~5 KB emails to an aiosmtpd sink in another process, with 1 and
with 8 connections, warehouse state included (claims, journal fsyncs, batched outcome writes), beside the
ceiling measured in the same run: bare aiosmtplib sending pre-built messages to the same sink over 8
connections. Target: 8 connections >= 0.7 of the ceiling, and no Message-ID received twice.

Example: .venv/bin/python bench/bench_send.py --messages 20000
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiosmtplib

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from legatura.flows.config import Settings  # noqa: E402
from legatura.flows.sending import SendOptions, deliver  # noqa: E402
from legatura.warehouse import db  # noqa: E402

from tests.sending import SmtpServer, queue_emails, with_delivery  # noqa: E402


async def bare_ceiling(port: int, messages: list[bytes], connections: int) -> float:
    """Pre-built messages over N connections with aiosmtplib alone: what the sink can take."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for message in messages:
        queue.put_nowait(message)

    async def connection() -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
        await client.connect()
        while not queue.empty():
            await client.sendmail("bounces@asociatia-exemplu.ro", ["donor@example.org"], queue.get_nowait())
        await client.quit()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(connections)))
    return len(messages) / (time.perf_counter() - started)


def legatura_rate(folder: Path, port: int, count: int, connections: int, server: SmtpServer) -> tuple[float, int]:
    """Queue `count` emails in a fresh warehouse and send them; returns (messages/s, duplicates at the sink)."""
    settings = Settings(warehouse={"path": folder / "legatura.duckdb", "snapshot": folder / "analytics.duckdb"})
    settings = with_delivery(settings, port, concurrency=connections, batch_size=500)
    con = db.connect(settings.warehouse.path)
    db.migrate(con)
    queue_emails(con, count, body_kb=1.4)    # text + html parts: about 5 KB on the wire
    con.execute("CHECKPOINT")
    before = len(server.received())
    started = time.perf_counter()
    summary = deliver(con, settings, SendOptions())
    elapsed = time.perf_counter() - started
    sent = con.execute("SELECT count(*) FROM messages WHERE status = 'sent'").fetchall()[0][0]
    ids = [r[0] for r in con.execute("SELECT smtp_message_id FROM messages").fetchall()]
    con.close()
    assert sent == count, (sent, summary.lines())
    received = Counter(r["message_id"] for r in server.received()[before:])
    duplicates = sum(n - 1 for n in received.values() if n > 1)
    assert set(received) == set(ids), "the sink did not get every message"
    return count / elapsed, duplicates


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="legatura-bench-send-") as tmp:
        root = Path(tmp)
        server = SmtpServer(root / "sink", keep=False).start()
        try:
            # pre-built messages of the same size, for the ceiling
            sample_db = root / "sample"
            sample_db.mkdir()
            settings = with_delivery(Settings(warehouse={"path": sample_db / "w.duckdb",
                                                         "snapshot": sample_db / "a.duckdb"}), server.port)
            from datetime import datetime, timezone

            from legatura.flows.sending import EmailParts

            con = db.connect(settings.warehouse.path)
            db.migrate(con)
            queue_emails(con, 1, body_kb=1.4)
            row = con.execute("SELECT * FROM messages").fetchall()[0]
            columns = [d[0] for d in con.description]
            con.close()
            record = dict(zip(columns, row)) | {"attempts": 1, "full_name": "Ana Popescu",
                                                "smtp_message_id": "x@asociatia-exemplu.ro"}
            template = EmailParts(settings).job(record, datetime.now(timezone.utc)).payload
            size = len(template)
            prebuilt = [template.replace(b"<x@asociatia-exemplu.ro>", f"<{i:032x}@bench>".encode())
                        for i in range(args.messages)]
            ceiling = asyncio.run(bare_ceiling(server.port, prebuilt, 8))
            one, dup_one = legatura_rate(root / "one", server.port, args.messages, 1, server)
            eight, dup_eight = legatura_rate(root / "eight", server.port, args.messages, 8, server)
            ceiling_after = asyncio.run(bare_ceiling(server.port, prebuilt[: args.messages // 4], 8))
        finally:
            server.stop()
    ratio = eight / ceiling
    print(f"send {args.messages} emails of {size / 1024:.1f} KB to an aiosmtpd sink in another process:")
    print(f"  ceiling (bare aiosmtplib, pre-built, 8 connections): {ceiling:.0f}/s "
          f"(again after the runs: {ceiling_after:.0f}/s)")
    print(f"  legatura send, 1 connection:  {one:.0f}/s, duplicates {dup_one}")
    print(f"  legatura send, 8 connections: {eight:.0f}/s = {ratio:.2f} of the ceiling (target >= 0.70), "
          f"duplicates {dup_eight}")
    if dup_one or dup_eight:
        raise SystemExit("a message was received twice")


if __name__ == "__main__":
    main()

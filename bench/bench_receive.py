"""Bench the arrival path: receiver throughput (accepted and durable) and landing-to-queryable latency.

Usage: python bench/bench_receive.py [--requests N] [--clients N] [--seconds S] [--runs N] [--skip-latency]

1. The receiver (flows/web.py, `legatura receive`) in a subprocess on 127.0.0.1 (a free port), with Twilio's
   auth token set, N Twilio webhooks each signed as Twilio signs them (X-Twilio-Signature over the public URL
   and the form), posted from C client threads (raw keep-alive sockets, each response read whole and checked),
   bounded by count and time; every 200 means the signature was checked and the line fsync'd, and the landed
   lines are counted afterwards. It reports the receiver process's own CPU per request too. The same run measures the disk's own ceiling: one thread
   appending fsync'd lines with nothing else in the way.
2. The watcher running (Prefect local server under .legatura/, reused if it runs, else started and stopped),
   the time from a Stripe export landing in landing/stripe/ (renamed in, as a well-behaved producer does) to
   its rows being in the analysts' snapshot; then from an SMS webhook posted to its interaction being there.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

from legatura.flows.config import Settings

ROOT = Path(__file__).resolve().parent.parent
WEBHOOK = json.loads((ROOT / "tests" / "data" / "watch" / "twilio_webhooks.jsonl").read_text().splitlines()[0])
TOKEN = "bench-twilio-auth-token"
PUBLIC_URL = "https://asociatia-exemplu.ro/legatura"
RECEIVER = """
import sys
from pathlib import Path
from legatura.flows.config import Settings
from legatura.flows.web import serve
settings = Settings(landing={"path": Path(sys.argv[1])}, sms={"token": sys.argv[2]},
                    receive={"secret": "bench-events-secret", "public_url": sys.argv[3]})
try:
    serve(settings, "127.0.0.1", 0, lambda m: print(m, flush=True))
except KeyboardInterrupt:
    pass
"""
TWIML_EMPTY = b'<?xml version="1.0" encoding="UTF-8"?><Response/>'
STRIPE_HEADER = "id,Created date (UTC),Amount,Amount Refunded,Currency,Status,Customer Email,Customer Description\n"


def sms_form(sid: str) -> tuple[bytes, dict[str, str]]:
    """A webhook body and its headers, signed as Twilio signs it (URL + sorted names and values, HMAC-SHA1)."""
    fields = {**WEBHOOK, "MessageSid": sid, "SmsSid": sid, "SmsMessageSid": sid}
    signed = PUBLIC_URL + "/twilio/sms" + "".join(name + fields[name] for name in sorted(fields))
    signature = base64.b64encode(hmac.new(TOKEN.encode(), signed.encode(), hashlib.sha1).digest()).decode()
    return (urllib.parse.urlencode(fields).encode(),
            {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature})


def start_receiver(landing: Path) -> tuple[subprocess.Popen, str, int]:
    process = subprocess.Popen([sys.executable, "-c", RECEIVER, str(landing), TOKEN, PUBLIC_URL],
                               stdout=subprocess.PIPE, text=True, cwd=ROOT)
    first = process.stdout.readline()  # "receiving on http://127.0.0.1:PORT: ..."
    address = first.split("http://", 1)[1].split(":", 2)
    return process, address[0], int(address[1])


def raw_request(host: str, port: int, body: bytes, headers: dict[str, str]) -> bytes:
    """One whole HTTP/1.1 POST /twilio/sms with keep-alive, as bytes (what http.client would send)."""
    head = ["POST /twilio/sms HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}",
            *(f"{name}: {value}" for name, value in headers.items())]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def read_response(sock: socket.socket, buffered: bytes) -> tuple[int, bytes, bytes]:
    """(status, body, bytes left over) of the next response on a keep-alive connection, read whole."""
    while b"\r\n\r\n" not in buffered:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the receiver closed the connection mid-response")
        buffered += chunk
    head, _, rest = buffered.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = next((int(line.split(b":", 1)[1]) for line in lines[1:] if line[:15].lower() == b"content-length:"),
                  None)
    if length is None:
        raise ConnectionError(f"response without Content-Length: {lines[0]!r}")
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the receiver closed the connection mid-body")
        rest += chunk
    return status, rest[:length], rest[length:]


def post_load(host: str, port: int, requests: int, clients: int,
              seconds: float) -> tuple[int, int, float, float]:
    """Post `requests` webhooks from `clients` threads until done or `seconds` pass.

    Returns (accepted, refused, elapsed, CPU seconds the clients used).

    Each client is a raw keep-alive socket sending one whole signed request at a time and reading its whole
    response (status line, headers, Content-Length body) before the next: http.client's own parsing cost
    several times the receiver's per request on this 2-core machine, so it measured the client, not the
    receiver. An answer counts as accepted only if it is 200 with Twilio's empty TwiML body.
    """
    forms = [raw_request(host, port, *sms_form(f"SM{i:032x}")) for i in range(requests)]  # before the clock
    counts = {"ok": 0, "refused": 0}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(worker: int) -> None:
        sock = socket.create_connection((host, port), timeout=30)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        ok = refused = 0
        buffered = b""
        for i in range(worker, requests, clients):
            if time.monotonic() > deadline:
                break
            sock.sendall(forms[i])
            status, body, buffered = read_response(sock, buffered)
            if status == 200 and body == TWIML_EMPTY:
                ok += 1
            else:
                refused += 1
        sock.close()
        with lock:
            counts["ok"] += ok
            counts["refused"] += refused

    threads = [threading.Thread(target=client, args=(w,)) for w in range(clients)]
    started, cpu_started = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return counts["ok"], counts["refused"], time.perf_counter() - started, time.process_time() - cpu_started


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), to see the cost apart from a busy machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fsync_ceiling(folder: Path, lines: int = 1000) -> float:
    """fsync'd line appends per second from one thread: the disk's own limit for acknowledged writes."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "ceiling.jsonl"
    line = (json.dumps({**WEBHOOK, "received_at": "2026-11-27T10:00:00+00:00"}, ensure_ascii=False) + "\n").encode()
    started = time.perf_counter()
    for _ in range(lines):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(fd, line)
        os.fsync(fd)
        os.close(fd)
    return lines / (time.perf_counter() - started)


def bench_throughput(folder: Path, requests: int, clients: int, seconds: float) -> None:
    landing = folder / "landing"
    ceiling = fsync_ceiling(folder)
    process, host, port = start_receiver(landing)
    try:
        cpu_before = process_cpu_seconds(process.pid)
        accepted, refused, elapsed, client_cpu = post_load(host, port, requests, clients, seconds)
        server_cpu = process_cpu_seconds(process.pid) - cpu_before
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(10)
    landed = [json.loads(line) for f in (landing / "twilio").glob("*.jsonl") for line in f.read_text().splitlines()]
    durable = len({line["MessageSid"] for line in landed})
    print(f"receive: {accepted:,} of {requests:,} signed SMS webhooks accepted from {clients} clients in "
          f"{elapsed:.2f} s: {accepted / elapsed:,.0f} events/s, signatures checked, durable (fsync before 200); "
          f"{durable:,} lines landed, {refused} refused")
    print(f"  the receiver process used {server_cpu:.2f} s of CPU: {1000 * server_cpu / max(accepted, 1):.2f} ms a request, "
          f"{accepted / max(server_cpu, 1e-9):,.0f} requests per CPU-second (machine load "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores while measuring); the {clients} clients used "
          f"{1000 * client_cpu / max(accepted + refused, 1):.2f} ms a request")
    print(f"  same disk, one thread, fsync'd appends with no HTTP: {ceiling:,.0f} lines/s")
    if durable != accepted or len(landed) != durable:
        raise SystemExit(f"receive bench: {accepted} accepted but {len(landed)} lines ({durable} distinct) landed")


def bench_latency(folder: Path, runs: int) -> None:
    state_dir = ROOT / ".legatura"
    from legatura.flows import prefect_runtime

    was_running = prefect_runtime.running_server(state_dir) is not None
    settings = Settings(
        warehouse={"path": folder / "warehouse" / "legatura.duckdb",
                   "snapshot": folder / "warehouse" / "analytics.duckdb"},
        landing={"path": folder / "landing"},
        prefect={"state_dir": state_dir},
    )
    started = time.perf_counter()
    prefect_runtime.configure("local-server", state_dir, 180)
    print(f"  (Prefect local server ready in {time.perf_counter() - started:.1f} s)")
    from legatura.flows.watch import watch
    from legatura.flows.web import serve_in_thread
    from legatura.warehouse import db

    batches, stop = [], threading.Event()
    watcher = threading.Thread(target=watch, args=(settings, stop), kwargs={"on_batch": batches.append}, daemon=True)
    watcher.start()
    receiver = serve_in_thread(settings, "127.0.0.1", 0)

    def rows_in_snapshot(sql: str, params: list) -> int:
        if not settings.warehouse.snapshot.exists():
            return 0
        con = db.connect(settings.warehouse.snapshot, read_only=True)
        try:
            return con.execute(sql, params).fetchone()[0]
        finally:
            con.close()

    def wait_until(count_sql: str, params: list, expected: int, timeout: float = 120.0) -> float:
        began = time.perf_counter()
        while rows_in_snapshot(count_sql, params) < expected:
            if time.perf_counter() - began > timeout:
                raise SystemExit(f"latency bench: rows not queryable after {timeout:.0f} s; batches: {batches}")
            time.sleep(0.02)
        return time.perf_counter()

    def land_export(tag: str, rows: int = 50) -> float:
        lines = [f"ch_{tag}_{i:04d},2026-11-{1 + i % 28:02d} 10:00:00,{10 + i}.00,0.00,ron,Paid,"
                 f"donor{i}@example.org,Donor {i}\n" for i in range(rows)]
        target = settings.landing.path / "stripe" / f"{tag}.csv"
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        partial.write_text(STRIPE_HEADER + "".join(lines))
        os.replace(partial, target)
        return time.perf_counter()

    try:
        landed = land_export("warmup")
        wait_until("SELECT count(*) FROM donations WHERE donation_id LIKE ?", ["stripe:ch_warmup_%"], 50)
        file_times = []
        for run in range(runs):
            landed = land_export(f"bench{run}")
            done = wait_until("SELECT count(*) FROM donations WHERE donation_id LIKE ?", [f"stripe:ch_bench{run}_%"], 50)
            file_times.append(done - landed)
        sms_times = []
        for run in range(runs):
            sid = f"SM{run + 1:032x}"
            connection = http.client.HTTPConnection(*receiver.server_address[:2], timeout=10)
            posted = time.perf_counter()
            connection.request("POST", "/twilio/sms", *sms_form(sid))
            assert connection.getresponse().status == 200
            connection.close()
            done = wait_until("SELECT count(*) FROM interactions WHERE interaction_id = ?", [f"twilio:{sid}"], 1)
            sms_times.append(done - posted)
    finally:
        stop.set()
        watcher.join(30)
        receiver.shutdown()
        if not was_running:
            prefect_runtime.stop_server(state_dir)
    flows = [b for b in batches if b.result is not None]
    print(f"watch: Stripe export (50 rows) landing -> rows in the analysts' snapshot: median "
          f"{statistics.median(file_times):.2f} s over {runs} (each: {', '.join(f'{t:.2f}' for t in file_times)} s; "
          f"includes landing.stable_seconds = {settings.landing.stable_seconds:g} s)")
    print(f"watch: SMS webhook posted -> interaction in the snapshot: median {statistics.median(sms_times):.2f} s "
          f"over {runs} (each: {', '.join(f'{t:.2f}' for t in sms_times)} s); {len(flows)} ingest flow runs, "
          f"{len(batches) - len(flows)} failed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0, help="stop posting after this long")
    parser.add_argument("--runs", type=int, default=5, help="landings timed for the latency median")
    parser.add_argument("--skip-latency", action="store_true", help="only the receiver throughput")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-receive-") as tmp:
        bench_throughput(Path(tmp) / "throughput", args.requests, args.clients, args.seconds)
        if not args.skip_latency:
            bench_latency(Path(tmp) / "latency", args.runs)


if __name__ == "__main__":
    main()

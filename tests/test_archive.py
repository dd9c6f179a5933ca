"""Archives in the landing folder: members streamed and checked before inflating, hostile names quarantined."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import assert_accounted
from legatura.flows import archive
from legatura.flows.discover import discover

STRIPE = "stripe/unified_payments_2026-11-12.csv"
MB = 1024 * 1024
MARK = b"ch_3QKd81Lkd8Xq0Tz51mZp0aRt"   # the first charge of the Stripe sample


def hostile_zip(path: Path, formats: Path) -> Path:
    """A Stripe export beside members an extractor would write outside its folder."""
    export = (formats / STRIPE).read_bytes()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("payments/unified_payments.csv", export)
        # ZipInfo keeps a name as given (ZipFile.write would strip the leading / and the ..)
        zipped.writestr(zipfile.ZipInfo("../../x.csv"), export.replace(b"ch_3", b"ch_9"))
        zipped.writestr(zipfile.ZipInfo("/etc/cron.d/payments.csv"), export.replace(b"ch_3", b"ch_8"))
        zipped.writestr(zipfile.ZipInfo("..\\..\\win.csv"), export.replace(b"ch_3", b"ch_7"))
    return path


def test_members_with_dotdot_and_absolute_names_get_ledger_and_quarantine_rows(ingest, warehouse, settings,
                                                                             formats):
    (settings.landing.path / "stripe").mkdir(parents=True)
    landed = hostile_zip(settings.landing.path / "stripe" / "export.zip", formats)
    summaries = {s.path: s for s in ingest(settings.landing.path)}
    assert_accounted(summaries.values())
    assert set(summaries) == {f"{landed}!{name}" for name in (
        "payments/unified_payments.csv", "../../x.csv", "/etc/cron.d/payments.csv", "..\\..\\win.csv")}
    assert summaries[f"{landed}!payments/unified_payments.csv"].status == "loaded"
    ledger = dict(warehouse.execute("SELECT path, status FROM ingested_files").fetchall())
    assert ledger == {path: summary.status for path, summary in summaries.items()}   # every member, its archive kept
    quarantine = warehouse.execute(
        "SELECT source_file, reason, raw FROM quarantine WHERE line_or_key = 'file' ORDER BY 1").fetchall()
    assert sorted(quarantine) == sorted([
        (f"{landed}!..\\..\\win.csv", "archive member whose path climbs out of the archive (..): not read", None),
        (f"{landed}!../../x.csv", "archive member whose path climbs out of the archive (..): not read", None),
        (f"{landed}!/etc/cron.d/payments.csv",
         "archive member with an absolute path: not read (an extractor would write it outside its folder)", None),
    ])
    charges = {r[0][:4] for r in warehouse.execute("SELECT external_id FROM donations").fetchall()}
    assert charges == {"ch_3"}          # nothing of the refused members loaded
    assert not (settings.landing.path.parent / "x.csv").exists()


def test_a_member_over_max_member_mb_is_quarantined_by_its_declared_size(ingest, warehouse, settings, tmp_path):
    settings.landing.max_member_mb = 1
    path = tmp_path / "big.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zipped:   # ratio 1: only the size
        zipped.writestr("members.csv", b"Email Address,First Name\n" + os.urandom(2 * MB).hex().encode()[:2 * MB])
    [summary] = ingest(path, channel="mailchimp")
    assert summary.status == "failed"
    assert summary.error.endswith("archive member of 2 MB is over landing.max_member_mb (1 MB): not inflated")


def test_read_member_streams_and_stops_at_the_limit_whatever_the_directory_says(tmp_path):
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("a.csv", b"x,y\n" * 1_000_000)
    with zipfile.ZipFile(path) as zipped:
        [member] = archive.members(zipped, path)
        assert archive.read_member(zipped, member, max_bytes=4 * MB) == b"x,y\n" * 1_000_000
        with pytest.raises(archive.MemberRefused, match="inflates past"):
            archive.read_member(zipped, member, max_bytes=MB)


def test_discover_reads_only_the_directory_and_heads(settings, formats, tmp_path):
    path = tmp_path / "audience.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("subscribed.csv", (formats / "mailchimp" / "audience_export_2026-11-10" /
                                           "subscribed_members_export_c41e08b6f2.csv").read_bytes())
    [source] = discover([path], settings)
    assert (source.channel, source.raw, source.member.name) == ("mailchimp", None, "subscribed.csv")
    assert source.path == Path(f"{path}!subscribed.csv")


INGEST = r"""
import json, sys
from pathlib import Path
from legatura.flows.config import Settings
from legatura.flows.ingest import ingest_paths
from legatura.warehouse import db
folder = Path(sys.argv[1])
settings = Settings(warehouse={"path": folder / "w.duckdb", "snapshot": folder / "a.duckdb"},
                    landing={"path": folder / "landing"})
con = db.connect(settings.warehouse.path)
db.migrate(con)
summaries = ingest_paths(con, [Path(sys.argv[2])], settings)
rows = con.execute("SELECT reason, strlen(coalesce(raw, '')) FROM quarantine").fetchall()
print(json.dumps({"statuses": [s.status for s in summaries], "quarantine": rows}))
"""
# the ingest runs in a grandchild: this process's RUSAGE_CHILDREN then covers it alone, not earlier subprocesses
MEASURE = r"""
import resource, subprocess, sys
done = subprocess.run([sys.executable, "-c", sys.argv[1], *sys.argv[2:]], capture_output=True, text=True)
print(done.stdout.strip())
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.stderr.write(done.stderr)
sys.exit(done.returncode)
"""


@pytest.mark.subprocess
def test_a_zip_bomb_is_refused_without_inflating_it(tmp_path):
    """200 MB of zeros in a ~200 KB zip: quarantined from its directory, peak memory far below 300 MB."""
    bomb = tmp_path / "landing" / "mailchimp" / "audience_export.zip"
    bomb.parent.mkdir(parents=True)
    zero = bytes(MB)
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        with zipped.open("subscribed_members_export.csv", "w") as member:
            member.write(b"Email Address,First Name,Last Name\n")
            for _ in range(200):
                member.write(zero)
    assert bomb.stat().st_size < 400 * 1024
    done = subprocess.run([sys.executable, "-c", MEASURE, INGEST, str(tmp_path), str(bomb)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result, peak_kb = done.stdout.splitlines()
    result = json.loads(result)
    assert result["statuses"] == ["failed"]
    [(reason, raw_bytes)] = result["quarantine"]
    assert "over landing.max_compression_ratio (200): not inflated (a zip bomb?)" in reason and raw_bytes == 0
    assert int(peak_kb) < 300 * 1024, f"peak {int(peak_kb) // 1024} MB"


@pytest.mark.subprocess
@pytest.mark.prefect
def test_ingest_of_a_hostile_zip_exits_1_naming_the_refused_members(tmp_path, formats, prefect_api):
    hostile_zip(tmp_path / "export.zip", formats)
    done = subprocess.run([str(Path(sys.executable).with_name("legatura")), "ingest", "export.zip"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PREFECT_API_URL": prefect_api})
    assert done.returncode == 1, done.stderr
    [error] = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert error.startswith("Error: 3 file(s) could not be read and were quarantined whole: export.zip!")
    assert "export.zip!../../x.csv: archive member whose path climbs out" in error
    assert "ingested 4 file(s)" in done.stdout

"""The warm start: after one cold command, `legatura ingest` and the other flow commands run as forks of a
process that already imported Prefect; same output, same exit status, same warehouse as a cold run, Ctrl-C
forwarded (the batch rolled back, exit 130), and a cold run whenever the fork would not be what a fresh
process is (other state directory, PREFECT_* in the environment, changed code, LEGATURA_WARM=0)."""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from legatura.flows import warm

from tests.waiting import eventually

EXE = Path(sys.executable).with_name("legatura")
FORMATS = Path(__file__).parent / "data" / "formats"

pytestmark = [pytest.mark.prefect, pytest.mark.subprocess]


class User:
    """A user's shell: their own state home, no PREFECT_* variable, one working folder."""

    def __init__(self, root: Path) -> None:
        self.root, self.folder, self.state = root, root / "ngo", root / "state"
        self.folder.mkdir()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "LEGATURA_", "XDG_STATE"))}
        self.env["XDG_STATE_HOME"] = str(self.state)

    def run(self, *args: str, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run([str(EXE), *args], cwd=self.folder, env={**self.env, **(env or {})},
                              capture_output=True, text=True, timeout=240, **kwargs)

    def start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen([str(EXE), *args], cwd=self.folder, env=self.env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    @property
    def warm_dir(self) -> Path:
        return self.state / "legatura" / "warm"

    def log(self) -> str:
        path = self.warm_dir / "warm.log"
        return path.read_text() if path.exists() else ""

    def warm_ready(self) -> bool:
        old = os.environ.get("XDG_STATE_HOME")
        os.environ["XDG_STATE_HOME"] = str(self.state)
        try:
            return warm.socket_path(warm.code_fingerprint()).exists()
        finally:
            if old is None:
                os.environ.pop("XDG_STATE_HOME")
            else:
                os.environ["XDG_STATE_HOME"] = old

    def forked(self) -> int:
        """How many commands the warm process has run (its log names each by pid and command word)."""
        return sum(1 for line in self.log().splitlines() if line.split()[-1] in warm.WARM_COMMANDS)


def _sms(path: Path, count: int, batch: int) -> Path:
    lines = [json.dumps({"MessageSid": f"SMwarm{batch:02d}{i:07d}", "From": f"+407{batch:01d}{i:07d}",
                         "To": "+40316301234", "Body": f"Bună ziua {i}",
                         "received_at": f"2026-11-{1 + i % 28:02d}T10:{i % 60:02d}:00+02:00"})
             for i in range(count)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def user(tmp_path_factory):
    """One user whose first (cold) command started the local server and left the warm process behind."""
    u = User(tmp_path_factory.mktemp("warm"))
    first = u.run("ingest", str(FORMATS / "stripe"))
    assert first.returncode == 0, first.stderr
    assert eventually(u.warm_ready), u.log()
    yield u
    u.run("server", "stop")
    assert eventually(lambda: not list(u.warm_dir.glob("*.sock")), 30), u.log()


def _count(u: User, sql: str) -> int:
    con = duckdb.connect(str(u.folder / "warehouse" / "analytics.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()[0][0]
    finally:
        con.close()


def test_a_warm_command_does_what_a_cold_one_does(user):
    before = user.forked()
    warm_run = user.run("ingest", str(FORMATS / "twilio"))
    assert user.forked() == before + 1, user.log()   # it ran in a fork of the warm process
    assert warm_run.returncode == 0, warm_run.stderr
    assert "ingested 1 file(s): read 10, loaded 9, duplicate 0, quarantined 1" in warm_run.stdout
    assert "[twilio]: read 10, loaded 9" in warm_run.stderr               # progress on the caller's stderr
    assert _count(user, "SELECT count(*) FROM interactions WHERE channel = 'sms'") == 9
    # the same command again, cold: the same answer from the same warehouse
    cold = user.run("ingest", str(FORMATS / "twilio"), env={"LEGATURA_WARM": "0"})
    assert user.forked() == before + 1
    again = user.run("ingest", str(FORMATS / "twilio"))
    assert cold.returncode == again.returncode == 0
    first_line = {run.stdout.splitlines()[0] for run in (cold, again)}
    assert first_line == {"ingested 1 file(s): read 10, loaded 0, duplicate 10, quarantined 0; contacts created 0, "
                          "merged 0"}, (cold.stdout, again.stdout)
    # --json output through a pipe, whole
    tracked = user.run("track", "--json")
    assert tracked.returncode == 0 and json.loads(tracked.stdout)["mode"] in ("current", "incremental")


def _api(u: User, path: str, body: dict) -> list[dict]:
    import httpx

    url = json.loads((u.state / "legatura" / "prefect" / "server.json").read_text())["url"]
    return httpx.post(url + path, json=body, timeout=30).json()


def test_a_warm_command_is_a_completed_flow_run_on_the_users_server(user):
    """The fork ends without the interpreter's teardown (after the exit handlers): its flow run and task
    runs are recorded Completed on the server the user's commands use, as a cold command's are."""
    forked = user.forked()
    done = user.run("ingest", str(_sms(user.root / "events.jsonl", 20, 7)))
    assert done.returncode == 0 and "loaded 20" in done.stdout and user.forked() == forked + 1, done.stderr
    latest = _api(user, "/flow_runs/filter", {"limit": 1, "sort": "EXPECTED_START_TIME_DESC"})[0]
    assert latest["state_type"] == "COMPLETED", latest

    def task_runs() -> set[tuple[str, str]]:
        found = _api(user, "/task_runs/filter", {"flow_runs": {"id": {"any_": [latest["id"]]}}})
        return {(t["name"].rsplit("-", 1)[0], t["state_type"]) for t in found}

    assert eventually(lambda: task_runs() == {("ingest-files", "COMPLETED"), ("track-response-times", "COMPLETED")},
                 30), task_runs()


def test_exit_status_and_usage_come_back_as_a_cold_run_gives_them(user):
    before = user.forked()
    usage = user.run("ingest", "--chanel", "x", "nothing")
    assert usage.returncode == 2
    assert "Usage: legatura ingest" in usage.stderr and "No such option: --chanel" in usage.stderr
    missing = user.run("ingest", "no-such-file.csv")
    assert missing.returncode == 1 and "no-such-file.csv: no such file or folder" in missing.stderr
    assert user.forked() == before + 2, user.log()


def test_ctrl_c_reaches_the_command_which_keeps_nothing_of_its_batch(user):
    big = _sms(user.root / "big.jsonl", 100_000, 1)
    before = _count(user, "SELECT count(*) FROM interactions")
    forked = user.forked()
    command = user.start("ingest", str(big))
    assert eventually(lambda: user.forked() == forked + 1, 30), user.log()
    time.sleep(0.5)   # inside the batch: parsing 100,000 lines takes longer than this
    command.send_signal(signal.SIGINT)
    out, err = command.communicate(timeout=120)
    assert command.returncode == 130, (out, err)
    assert "interrupted, nothing from the unfinished batch was kept" in err
    assert _count(user, "SELECT count(*) FROM interactions") == before
    ledger = user.run("ingest", str(big))   # and the next run loads it whole
    assert ledger.returncode == 0 and "loaded 100000" in ledger.stdout, ledger.stdout


def test_only_flow_commands_of_a_plain_environment_are_sent_warm(monkeypatch):
    for key in [k for k in os.environ if k.startswith("PREFECT_")]:
        monkeypatch.delenv(key)
    monkeypatch.delenv("LEGATURA_WARM", raising=False)
    assert warm._wanted(["ingest", "x.csv"]) and warm._wanted(["--config", "a.toml", "compose", "thank-you"])
    assert not warm._wanted(["init"]) and not warm._wanted(["--help"]) and not warm._wanted(["server", "stop"])
    monkeypatch.setenv("LEGATURA_WARM", "0")
    assert not warm._wanted(["ingest", "x.csv"])
    monkeypatch.delenv("LEGATURA_WARM")
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")   # the caller's own Prefect: cold
    assert not warm._wanted(["ingest", "x.csv"])


def test_runs_cold_when_the_fork_would_not_be_a_fresh_process(user, tmp_path):
    """The fork hands the command back before any work: `warm_start = false`, or another state directory
    (another local server than the one the warm process imported Prefect for). The cold run then answers
    (here: a missing file, an error before any flow)."""
    for prefect in ("warm_start = false", f'state_dir = "{tmp_path / "other-state"}"'):
        toml = user.folder / "other.toml"
        toml.write_text(f'[prefect]\n{prefect}\n[warehouse]\npath = "{tmp_path / "other.duckdb"}"\n'
                        f'snapshot = "{tmp_path / "other-a.duckdb"}"\n', encoding="utf-8")
        forked = user.forked()
        other = user.run("--config", str(toml), "ingest", "no-such-file.csv")
        assert other.returncode == 1 and "no-such-file.csv: no such file or folder" in other.stderr, other.stderr
        assert user.forked() == forked + 1 and "handed back to run cold" in user.log().splitlines()[-1], prefect
    assert not (tmp_path / "other-state").exists()   # the fork started no server of its own there


def test_only_the_user_can_reach_it_and_changed_code_is_never_served(user):
    sockets = list(user.warm_dir.glob("*.sock"))
    assert len(sockets) == 1
    assert stat.S_IMODE(user.warm_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(sockets[0].stat().st_mode) == 0o600
    # legatura's code changes (an upgrade, an edit): the old warm process stops, the next command runs cold
    # and leaves a new one for the new code
    module = Path(warm.__file__)
    old = module.stat()
    try:
        os.utime(module, ns=(old.st_atime_ns, old.st_mtime_ns + 1_000_000_000))
        assert eventually(lambda: not sockets[0].exists(), 60), user.log()
        forked = user.forked()
        cold = user.run("track")
        assert cold.returncode == 0 and user.forked() == forked
        assert eventually(user.warm_ready, 60), user.log()
        warm_again = user.run("track")
        assert warm_again.returncode == 0 and user.forked() == forked + 1
    finally:
        os.utime(module, ns=(old.st_atime_ns, old.st_mtime_ns))


def test_never_sends_the_environment_to_a_socket_that_is_not_the_users_alone(tmp_path):
    """The request carries the caller's environment (its secrets) and terminal: a folder others can open,
    or a socket another user owns, gets nothing and the command runs cold."""
    import socket

    folder = tmp_path / "warm"
    folder.mkdir(mode=0o700)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(folder / "x.sock"))
    listener.listen(1)
    listener.settimeout(0.3)
    try:
        os.chmod(folder, 0o755)
        assert warm._run_warm(folder / "x.sock", ["track"]) is None
        with pytest.raises(TimeoutError):
            listener.accept()   # it never even connected
        os.chmod(folder, 0o700)
        if os.getuid() == 0:
            os.chown(folder / "x.sock", 65534, 65534)
            assert warm._run_warm(folder / "x.sock", ["track"]) is None
            with pytest.raises(TimeoutError):
                listener.accept()
    finally:
        listener.close()

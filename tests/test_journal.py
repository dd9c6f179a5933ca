"""The send journal: what it says after a crash, torn lines, and a requeued attempt handed over again."""
from __future__ import annotations

import asyncio

from legatura.flows.journal import SendJournal, read_journal


def test_journal_reads_handed_outcomes_and_ignores_a_torn_line(tmp_path):
    path = tmp_path / "j"
    journal = SendJournal(path)

    async def write():
        await asyncio.gather(*(journal.write({"m": f"m{i}", "a": 1, "e": "handed"}) for i in range(3)))
        journal.append({"m": "m0", "a": 1, "e": "sent", "reply_code": 250})

    asyncio.run(write())
    journal.close()
    with open(path, "ab") as handle:
        handle.write(b'{"m": "m1", "a": 1, "e": "se')          # killed mid-write
    known = read_journal(path)
    assert known[("m0", 1)].outcome["e"] == "sent" and known[("m0", 1)].handed
    assert known[("m1", 1)] == (True, None) and known[("m2", 1)] == (True, None)


def test_journal_a_requeued_attempt_handed_again_is_judged_by_what_follows(tmp_path):
    path = tmp_path / "j"
    journal = SendJournal(path)
    journal.write_now({"m": "m0", "a": 2, "e": "requeued"}, {"m": "m0", "a": 2, "e": "handed"})
    journal.close()
    assert read_journal(path)[("m0", 2)] == (True, None)      # unknown, never requeued (and re-sent) again

"""Letters: one printable HTML file per batch in outbox/letters/, the recipients list beside it, marked sent."""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

from legatura.flows.sending import SendOptions, deliver


def test_letters_batch_file_with_recipients_and_marked_sent(warehouse, settings, tmp_path):
    s = settings.model_copy(update={"letters": settings.letters.model_copy(update={"path": tmp_path / "letters"})})
    warehouse.execute("INSERT INTO contacts (contact_id, full_name) VALUES (1, 'Ion <script>Pop</script>'), "
                      "(2, 'Maria Ionescu')")
    warehouse.execute(
        "INSERT INTO messages (message_id, contact_id, campaign, channel, address, subject, body_text, is_marketing, "
        "status) VALUES ('l1', 1, '../../etc/gala', 'letter', 'Str. Lungă 5, Cluj', 'Invitație', 'Dragă Ion,\nvă "
        "invităm.', false, 'queued'), ('l2', 2, '../../etc/gala', 'letter', 'Bd. Unirii 1, București', "
        "'Invitație', 'Dragă Maria,\nvă invităm.', false, 'queued'), ('l3', 2, 'gala', 'letter', NULL, 'x', 'x', "
        "false, 'queued')")
    summary = deliver(warehouse, s, SendOptions())
    files = sorted((p.name for p in (tmp_path / "letters").iterdir()), key=lambda n: not n.endswith(".html"))
    assert len(files) == 2 and files[0].startswith("etc-gala-") and files[0].endswith(".html")
    assert files[1] == files[0].removesuffix(".html") + "-recipients.csv"
    page = (tmp_path / "letters" / files[0]).read_text(encoding="utf-8")
    assert page.count('<section class="letter"') == 2 and "break-after: page" in page
    assert "<script>" not in page and "Ion &lt;script&gt;Pop&lt;/script&gt;" in page
    with open(tmp_path / "letters" / files[1], encoding="utf-8") as handle:
        recipients = list(csv.DictReader(handle))
    assert [(r["message_id"], r["address"]) for r in recipients] == [
        ("l1", "Str. Lungă 5, Cluj"), ("l2", "Bd. Unirii 1, București")]
    assert warehouse.execute("SELECT message_id, status, batch, left(error, 22) FROM messages ORDER BY 1").fetchall() == [
        ("l1", "sent", files[0], None), ("l2", "sent", files[0], None),
        ("l3", "failed", None, "refused before sending")]
    assert summary.count("letter", "sent") == 2


def test_composed_letters_print_in_the_campaigns_layout_with_one_address(warehouse, settings, tmp_path):
    """Compose renders a letter as a whole A4 page with its address window: send must not add a second one."""
    shutil.copytree(Path(__file__).parents[1] / "templates" / "_layouts", settings.templates.path / "_layouts")
    s = settings.model_copy(update={"letters": settings.letters.model_copy(update={"path": tmp_path / "letters"})})
    warehouse.execute("INSERT INTO contacts (contact_id, full_name) VALUES (1, 'Ion Pop')")
    page = ('<section class="page"><div class="window">Ion Pop<br>Str. Lungă 5<br>Cluj</div>'
            '<p>Dragă Ion,</p></section>')
    warehouse.execute(
        "INSERT INTO messages (message_id, contact_id, campaign, channel, address, subject, body_text, body_html, "
        "is_marketing, status) VALUES ('l1', 1, 'gala', 'letter', 'Str. Lungă 5, Cluj', 'Invitație', 'Dragă Ion,', "
        "?, false, 'queued')", [page])
    deliver(warehouse, s, SendOptions())
    [batch] = [p for p in (tmp_path / "letters").iterdir() if p.suffix == ".html"]
    text = batch.read_text(encoding="utf-8")
    assert ".window {" in text and "@page { size: A4" in text          # the campaigns' print CSS
    assert text.count("Ion Pop") == 1 and 'class="to"' not in text      # the address once, in its window
    assert text.count('<section class="letter" id="l1">') == 1

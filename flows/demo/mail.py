"""Email: an mbox, a Maildir and .eml files in the encodings and containers mail really comes in."""
from __future__ import annotations

import base64
import quopri
import random
import re
import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime

from legatura.flows.demo.audience import NEWSLETTER_MONTHS
from legatura.flows.demo.cast import UTC, Demo, Person, cedilla, write_file
from legatura.flows.demo.payments import Gift

# ---------------------------------------------------------------------------------------------
# email


EMAIL_QUESTIONS = (
    ("Certificat pentru donația din {month}", "Bună ziua,\n\nAm donat luna trecută {amount} de lei cu cardul și aș "
     "avea nevoie de un certificat de donație pentru declarația fiscală (formularul 230 l-am trimis deja). Se poate?"
     "\n\nMulțumesc frumos,\n{name}", "Certificatul vă așteaptă în atașament până vineri; dacă aveți nevoie de el "
     "pe firmă, trimiteți-ne CUI-ul."),
    ("Voluntariat în weekend", "Salut!\n\nPot veni și sâmbăta asta la distribuție? Aduc și doi colegi de la muncă."
     "\n\n{first}", "Sigur, vă așteptăm sâmbătă la ora 10. Mulțumim!"),
    ("Sponsorizare prin firmă", "Bună ziua,\n\nReprezint o firmă mică din {city} și am dori să sponsorizăm tabăra "
     "copiilor. Care sunt pașii?\n\nCu stimă,\n{name}", "Vă trimitem contractul de sponsorizare și datele noastre."),
    ("Întrebare despre gală", "Bună ziua,\n\nSe poate plăti biletul la gală prin transfer bancar? Aș dori factură "
     "pe firmă.\n\n{name}", "Da, se poate; vă trimitem factura proformă astăzi."),
    ("Haine pentru copii", "Bună ziua,\n\nAm haine de iarnă pentru copii, în stare foarte bună. Unde le pot lăsa?"
     "\n\nMulțumesc,\n{first}", "Le puteți aduce la sediu, de luni până vineri, între 9 și 17."),
)
DONATION_QUESTIONS = (
    ("Nu am primit confirmarea plății", "Bună ziua,\n\nAm donat ieri prin PayPal și mi s-a luat suma de două ori. "
     "Puteți verifica?\n\n{first}", "Am verificat: a doua plată v-a fost returnată. Ne cerem scuze!"),
    ("Oprire donație lunară", "Bună,\n\nVă rog să opriți donația lunară, am rămas fără serviciu. Sper să revin "
     "curând.\n\nCu drag,\n{first}", "Am oprit donația lunară. Vă mulțumim pentru tot sprijinul!"),
    ("Redirecționare 3,5%", "Bună ziua,\n\nCum pot redirecționa 3,5% din impozit către asociație?\n\n{name}",
     "Completați formularul 230 de pe site-ul nostru; îl depunem noi."),
)
ENGLISH_QUESTION = ("Monthly donation from Germany", "Hello,\n\nI live in Munich and would like to support you "
                    "every month.\nFrom my German bank account, is a SEPA transfer in EUR possible?\n\nThank you,\n"
                    "{first}", "Da, puteți dona lunar prin SEPA, în EUR. IBAN: RO49 AAAA 1B31 0075 9384 0000 (EUR).")
MONTHS_SHORT = ("ian.", "feb.", "mar.", "apr.", "mai", "iun.", "iul.", "aug.", "sept.", "oct.", "nov.", "dec.")
DAYS_SHORT = ("lun.", "mar.", "mie.", "joi", "vin.", "sâm.", "dum.")


def _encoded_words(text: str, charset: str = "UTF-8") -> str:
    """RFC 2047 Q-encoding only around the words that need it (runs of such words become one)."""
    words = text.split(" ")
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            raw = " ".join(run).encode(charset)
            q = "".join(chr(b) if chr(b).isalnum() and b < 128 else ("_" if b == 32 else f"={b:02X}") for b in raw)
            out.append(f"=?{charset}?Q?{q}?=")
            run.clear()

    for word in words:
        if word.isascii():
            flush()
            out.append(word)
        else:
            run.append(word)
    flush()
    return " ".join(out)


def _address(name: str, email: str) -> str:
    return f"{_encoded_words(name)} <{email}>"


@dataclass
class Mail:
    at: datetime
    from_name: str
    from_email: str
    to: str
    subject: str
    text: str
    message_id: str
    in_reply_to: str = ""
    references: str = ""
    cc: str = ""
    outbound: bool = False
    encoding: str = "quoted-printable"
    delivered_to: str = ""
    thread: str = ""


def _render(mail: Mail, newline: str, charset: str = "UTF-8", date_comment: str = "") -> bytes:
    headers = []
    if mail.delivered_to:
        headers.append(f"Delivered-To: {mail.delivered_to}")
    headers += ["MIME-Version: 1.0", f"Date: {format_datetime(mail.at)}{date_comment}", f"Message-ID: {mail.message_id}"]
    if mail.in_reply_to:
        headers += [f"In-Reply-To: {mail.in_reply_to}", f"References: {mail.references or mail.in_reply_to}"]
    headers.append(f"Subject: {_encoded_words(mail.subject, charset)}")
    sender = _address(mail.from_name, mail.from_email)
    if len(sender) > 70:
        sender = sender.replace(" <", "\n <", 1)
    headers += [f"From: {sender}", f"To: {mail.to}"]
    if mail.cc:
        headers.append(f"Cc: {mail.cc}")
    payload = mail.text.encode(charset.lower())
    if mail.encoding == "quoted-printable":
        body = quopri.encodestring(payload).decode("ascii")
    elif mail.encoding == "base64":
        body = base64.encodebytes(payload).decode("ascii")
    else:
        body = payload.decode(charset.lower())
        mail.encoding = "8bit" if not mail.text.isascii() else "7bit"
    headers += [f'Content-Type: text/plain; charset="{charset}"', f"Content-Transfer-Encoding: {mail.encoding}"]
    text = "\n".join(headers) + "\n\n" + body.rstrip("\n") + "\n"
    return text.replace("\n", newline).encode(charset.lower())


def _mboxrd(message: bytes) -> bytes:
    return re.sub(rb"(?m)^(>*From )", rb">\1", message)


def write_email(demo: Demo, gifts: list[Gift], newsletter_repliers: list[Person]) -> int:
    rng = demo.rng
    staff = demo.staff
    people = [p for p in demo.people if p.email]

    def gmail_id() -> str:
        return f"<CA{demo.token(46)}@mail.gmail.com>"

    def sender_id(p: Person) -> str:
        domain = p.email.split("@")[1]
        if domain.startswith("yahoo"):
            return f"<{demo.digits(10)}.{demo.digits(7)}.{demo.digits(13)}@mail.yahoo.com>"
        if domain == "outlook.com":
            box = "AM6PR07MB" + demo.digits(4)
            return f"<{box}{demo.token(24, string.ascii_uppercase + string.digits)}@{box}.eurprd07.prod.outlook.com>"
        if domain == "gmail.com":
            return gmail_id()
        return f"<{demo.uuid()}@{domain}>"

    def ours() -> str:
        return f"<{demo.uuid()}@{demo.domain}>"

    def question(p: Person, asked: datetime, bank: tuple, to: str) -> list[Mail]:
        subject, text, answer = bank
        amount = rng.choice((50, 100, 150, 200))
        month = NEWSLETTER_MONTHS[(asked.month - 2) % 12]
        fields = {"name": p.name, "first": p.first, "city": p.city, "amount": amount, "month": month}
        subject, text = subject.format(**fields), text.format(**fields)
        thread = demo.digits(19)
        asked_mail = Mail(asked, p.name, p.email, to, subject, text, sender_id(p), delivered_to=to, thread=thread,
                          encoding=rng.choice(("quoted-printable", "base64", "quoted-printable"))
                          if not text.isascii() else "7bit")
        thread_mails = [asked_mail]
        answered = demo.answer_at(asked)
        if answered:
            staff_name, staff_email = rng.choice(staff)
            from_email = to if rng.random() < 0.6 else staff_email
            from_name = f"{staff_name} - {demo.org_name}" if from_email == to else staff_name
            local = asked.astimezone(demo.tz)
            attribution = (f"Pe {DAYS_SHORT[local.weekday()]}, {local.day} {MONTHS_SHORT[local.month - 1]} "
                           f"{local.year} la {local:%H:%M}, {p.name} <{p.email}> a scris:")
            quoted = "\n".join("> " + line if line else ">" for line in text.splitlines())
            reply_text = (f"Bună ziua, {p.first},\n\n{answer}\n\nCu drag,\n{staff_name}\n{demo.org_name}\n\n"
                          f"{attribution}\n{quoted}")
            reply = Mail(answered, from_name, from_email, _address(p.name, p.email), f"Re: {subject}", reply_text,
                         ours(), asked_mail.message_id, asked_mail.message_id, outbound=True, thread=thread,
                         cc=to if from_email != to else "")
            thread_mails.append(reply)
            thanks_at = answered + timedelta(hours=rng.uniform(1, 20))
            if rng.random() < 0.3 and thanks_at < demo.horizon:
                thread_mails.append(Mail(thanks_at, p.name, p.email, to, f"Re: {subject}",
                                         f"Mulțumesc mult!\n\n{p.first}", sender_id(p), reply.message_id,
                                         f"{asked_mail.message_id} {reply.message_id}", thread=thread,
                                         delivered_to=to))
        return thread_mails

    mbox: list[Mail] = []
    for p in demo.pick(people, 0.15):
        bank = ENGLISH_QUESTION if p.foreign else rng.choice(EMAIL_QUESTIONS)
        mbox += question(p, demo.moment(rng.randint(2, 800)), bank, demo.org_email)
    # answers by e-mail to requests that came by SMS or through the web form
    for answered, reply in demo.replies:
        p = reply["person"]
        staff_name, staff_email = rng.choice(staff)
        mbox.append(Mail(answered, staff_name, staff_email, _address(p.name, p.email), reply["subject"],
                         f"Bună ziua, {p.first},\n\n{reply['text']}\n\nCu drag,\n{staff_name}\n{demo.org_name}",
                         ours(), outbound=True, thread=demo.digits(19), cc=demo.org_email))
    mbox.sort(key=lambda m: m.at)
    chunks = []
    for mail in mbox:
        mail.at = mail.at.astimezone(UTC) if rng.random() < 0.2 else mail.at
        utc = mail.at.astimezone(UTC)
        labels = "Sent" if mail.outbound else rng.choice(("Inbox,Opened", "Inbox,Opened,Important", "Inbox"))
        head = f"From {mail.thread}@xxx {utc:%a %b %d %H:%M:%S} +0000 {utc.year}\n" \
               f"X-GM-THRID: {mail.thread}\nX-Gmail-Labels: {labels}\n"
        chunks.append(head.encode() + _mboxrd(_render(mail, "\n")) + b"\n")
    write_file(demo.landing / "email" / "mbox" / "All mail Including Spam and Trash.mbox", b"".join(chunks))
    total = len(mbox)

    # the donatii@ mailbox as a Maildir
    maildir = demo.landing / "email" / "maildir" / "donatii"
    (maildir / "tmp").mkdir(parents=True, exist_ok=True)
    donors = list({g.person.email: g.person for g in gifts if g.person.email}.values())
    boxed: list[Mail] = []
    for p in rng.sample(donors, min(len(donors), max(3, len(donors) // 12))):
        boxed += question(p, demo.moment(rng.randint(2, 400)), rng.choice(DONATION_QUESTIONS), demo.donations_email)
    answered_ids = {m.in_reply_to for m in boxed if m.outbound}
    for q, mail in enumerate(sorted(boxed, key=lambda m: m.at), start=1):
        mail.delivered_to = "" if mail.outbound else mail.delivered_to
        epoch = int(mail.at.timestamp())
        name = f"{epoch}.M{rng.randint(100000, 999999)}P{rng.randint(1000, 9999)}Q{q}.mail.{demo.domain}"
        if mail.outbound:
            name += ":2,S"
        elif mail.message_id in answered_ids:
            name += ":2,RS"
        elif rng.random() < 0.6:
            name += ":2,S"
        sub = "cur" if ":2," in name else "new"
        write_file(maildir / sub / name, _render(mail, "\n"))
    total += len(boxed)

    # single messages saved from a mail client: CRLF
    eml = demo.landing / "email" / "eml"
    saved = 0
    for n, p in enumerate(newsletter_repliers, start=1):
        sent = demo.moment(rng.randint(20, 300), (9, 11))
        newsletter_id = f"<0.1.{demo.token(2, '0123456789ABCDEF')}.{demo.token(3, '0123456789ABCDEF')}." \
                        f"{demo.token(15, '0123456789ABCDEF')}.0@mail{rng.randint(100, 250)}.atl{rng.randint(10, 200)}.mcsv.net>"
        reply = Mail(sent + timedelta(hours=rng.uniform(2, 30)), p.name, p.email,
                     _address(demo.org_name, demo.newsletter_email),
                     f"Re: Newsletter {NEWSLETTER_MONTHS[sent.month - 1]} {sent.year}: tabăra de vară",
                     f"Bună ziua,\n\nAm citit newsletterul despre tabăra de vară. Aș vrea să sponsorizez doi copii; "
                     f"cum pot face asta și ce sumă ar fi nevoie?\n\nCu stimă,\n{p.name}",
                     sender_id(p), newsletter_id, encoding="base64")
        write_file(eml / f"{n:02d}_raspuns_la_newsletter.eml", _multipart(reply, rng))
        saved += 1
    old_client = rng.choice([p for p in people if not p.foreign])
    mail = Mail(demo.moment(rng.randint(20, 300)), old_client.name, old_client.email, demo.org_email,
                "Colaborare școală - strângere de haine",
                f"Buna ziua,\n\nVă scriu în numele școlii noastre din {old_client.city}. Am dori să organizăm "
                f"împreună o strângere de haine pentru copiii din centrul de zi. Cu cine pot discuta?\n\n"
                f"Cu stimă,\nprof. {old_client.name}", f"<{demo.digits(14)}.{demo.hexid(8).upper()}@mail.scoala.ro>",
                delivered_to=demo.org_email, encoding="8bit")
    mail.text = cedilla(mail.text)
    mail.subject = cedilla(mail.subject)
    mail.from_name = old_client.name
    comment = f" ({mail.at.tzname()})"
    write_file(eml / "10_intrebare_iso-8859-2.eml", _render(mail, "\r\n", "iso-8859-2", comment))
    saved += 1
    # the same message saved from the mailbox as well: a duplicate
    if mbox:
        first_in = next(m for m in mbox if not m.outbound)
        write_file(eml / "11_salvat_din_gmail.eml", _render(first_in, "\r\n"))
        saved += 1
    broken = Mail(demo.moment(rng.randint(2, 60)), "Ion Popescu", "ion.popescu@", demo.org_email, "Întrebare donație",
                  "Bună ziua, cum pot dona pentru tabăra copiilor?\n\nIon", gmail_id(), delivered_to=demo.org_email,
                  encoding="8bit")
    write_file(eml / "12_fara_adresa_valida_in_From.eml", _render(broken, "\r\n"))
    saved += 1
    return total + saved


def _multipart(mail: Mail, rng: random.Random) -> bytes:
    boundary = "_000_AM6PR07MB" + "".join(rng.choices(string.ascii_uppercase + string.digits, k=16)) + "_"
    html = "<div dir=\"ltr\">" + mail.text.replace("\n", "<br>\n") + "</div>\n"
    plain_b64 = base64.encodebytes(mail.text.encode()).decode()
    html_b64 = base64.encodebytes(html.encode()).decode()
    lines = [
        "MIME-Version: 1.0", f"Date: {format_datetime(mail.at)}", f"Message-ID: {mail.message_id}",
        f"In-Reply-To: {mail.in_reply_to}", f"References: {mail.in_reply_to}",
        f"Subject: {_encoded_words(mail.subject)}", f"From: {_address(mail.from_name, mail.from_email)}",
        f"To: {mail.to}", f'Content-Type: multipart/alternative; boundary="{boundary}"', "",
        f"--{boundary}", 'Content-Type: text/plain; charset="UTF-8"', "Content-Transfer-Encoding: base64", "",
        plain_b64.rstrip("\n"), "",
        f"--{boundary}", 'Content-Type: text/html; charset="UTF-8"', "Content-Transfer-Encoding: base64", "",
        html_b64.rstrip("\n"), "", f"--{boundary}--", "",
    ]
    return "\n".join(lines).replace("\n", "\r\n").encode()

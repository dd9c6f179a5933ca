"""The demo's data: realistic generated exports for every channel, in their real layouts.

`generate_demo_data` writes deterministic (seeded) exports into landing/<channel>/ in exactly the
layouts of tests/data/formats (headers, encodings, delimiters, quoting, line endings, number and
time formats), with the same people recurring across channels and a few deliberately broken
records (the same breakages as the samples) so that quarantine has something to show.
"""
from __future__ import annotations

import base64
import csv
import io
import json
import math
import quopri
import random
import re
import string
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from legatura.flows.config import Settings

UTC = timezone.utc

# records broken on purpose, per channel, in the same ways as the shared samples
BROKEN_RECORDS = {
    "stripe": 3,        # empty id, `########` date, `#VALUE!` amount
    "paypal": 2,        # Excel file: subscription row without Transaction ID, 31/02 date
    "forms": 2,         # invalid email and no phone; Timestamp 31/13/.. 25:61:00
    "volunteers": 4,    # English: neither email nor phone, hours `trei`; each Romanian file: 30.02
    "twilio": 1,        # truncated last line
    "email": 1,         # .eml whose From has no valid address
}
CHANNELS = ("email", "stripe", "paypal", "mailchimp", "forms", "eventbrite", "twilio", "facebook",
            "volunteers", "partners")


# ---------------------------------------------------------------------------------------------
# the cast


@dataclass
class Person:
    """One invented person; channels write them with their own noise."""

    first: str
    last: str
    email: str | None
    phone: str | None                 # E.164
    language: str
    street: str
    city: str
    county: str
    postcode: str
    foreign: bool = False

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"

    @property
    def ascii_name(self) -> str:
        return ascii_fold(self.name)


def ascii_fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def cedilla(text: str) -> str:
    """What Windows-1250 / ISO-8859-2 can hold: comma-below ș ț become cedilla ş ţ."""
    return text.translate(str.maketrans("șțȘȚ", "şţŞŢ"))


def mojibake(text: str) -> str:
    """Facebook's export: every UTF-8 byte of a string becomes one latin-1 character."""
    return text.encode("utf-8").decode("latin-1")


MAIL_DOMAINS = ("gmail.com", "gmail.com", "gmail.com", "yahoo.com", "yahoo.ro", "outlook.com", "icloud.com")
FOREIGN_DOMAINS = ("gmx.net", "web.de", "gmx.de")
ORGANISATIONS = (
    ("Brutăria Sfântul Ilie SRL", "brutaria-sfantul-ilie.ro", "sponsorizari"),
    ("Radio Cluj Comunitar", "radioclujcomunitar.ro", "redactie"),
    ("Coaliția pentru Educație Incluzivă", "educatieincluziva.ro", "secretariat"),
    ("TechNova Solutions SRL", "technova.ro", "office"),
    ("Farmacia Dacia Verde SRL", "daciaverde.ro", "contact"),
    ("Editura Pagini Deschise", "paginideschise.ro", "drepturi"),
    ("Fundația Mâini Întinse", "mainiintinse.ro", "office"),
    ("Consiliul Elevilor din Cluj", "consiliulelevilor.ro", "contact"),
)


class Demo:
    """Everything one generation run shares: randomness, clock, the NGO's identity, the cast."""

    def __init__(self, landing: Path, settings: Settings, seed: int, people: int, today: date) -> None:
        from faker import Faker

        self.landing = landing
        self.settings = settings
        self.rng = random.Random(seed)
        self.fake = Faker("ro_RO")
        self.fake.seed_instance(seed)
        self.today = today
        self.tz = ZoneInfo(settings.organisation.timezone)
        # everything happens before the start of `today` (local), so as-of `today` sees all of it
        self.horizon = datetime.combine(today, time(0), self.tz)
        org = settings.organisation
        self.org_name = org.name
        self.domain = org.domains[0] if org.domains else org.email.split("@")[-1]
        self.org_email = org.email
        self.donations_email = f"donatii@{self.domain}"
        self.newsletter_email = f"newsletter@{self.domain}"
        self.sms_number = org.phone_numbers[0] if org.phone_numbers else "+40316301234"
        self.page = org.facebook_page or org.name
        self.staff = [(f"{first} {last}", f"{ascii_fold(first).lower()}.{ascii_fold(last).lower()}@{self.domain}")
                      for first, last in (("Maria", "Dumitrescu"), ("Radu", "Teodorescu"), ("Ioana", "Vasilescu"))]
        self.people = self._cast(people)
        self.counts: dict[str, int] = {}
        self.replies: list[tuple[datetime, dict]] = []     # the NGO's e-mail answers to SMS and forms

    # -- the cast -------------------------------------------------------------------------------
    def _cast(self, size: int) -> list[Person]:
        rng, fake = self.rng, self.fake
        used_emails: set[str] = set()
        used_phones: set[str] = set()
        cast = []
        for n in range(size):
            foreign = rng.random() < 0.05
            first, last = fake.first_name(), fake.last_name()
            if n >= 10 and n % 97 == 0:         # same name as someone else, a different person
                first, last = cast[n // 3].first, cast[n // 3].last
            has_email = rng.random() < 0.9
            has_phone = rng.random() < 0.65 or not has_email
            email = self._email(first, last, foreign, used_emails) if has_email else None
            phone = self._phone(foreign, used_phones) if has_phone else None
            cast.append(Person(first, last, email, phone, "en" if foreign else "ro",
                               fake.street_address(), fake.city(), fake.state_abbr(), fake.postcode(), foreign))
        return cast

    def _email(self, first: str, last: str, foreign: bool, used: set[str]) -> str:
        f, l = ascii_fold(first).lower().replace(" ", ""), ascii_fold(last).lower().replace(" ", "")
        domains = FOREIGN_DOMAINS if foreign else MAIL_DOMAINS
        while True:
            local = self.rng.choice((f"{f}.{l}", f"{f}{l}", f"{f}_{l}", f"{f}.{l}{self.rng.randint(70, 99)}",
                                     f"{f[0]}.{l}", f"{l}.{f}"))
            email = f"{local}@{self.rng.choice(domains)}"
            if email not in used:
                used.add(email)
                return email

    def _phone(self, foreign: bool, used: set[str]) -> str:
        while True:
            if foreign:
                phone = "+49151" + "".join(self.rng.choices(string.digits, k=8))
            else:
                phone = "+407" + self.rng.choice("2345678") + "".join(self.rng.choices(string.digits, k=7))
            if phone not in used:
                used.add(phone)
                return phone

    # -- noise ----------------------------------------------------------------------------------
    def noisy_email(self, email: str | None) -> str:
        if not email:
            return ""
        r = self.rng.random()
        if r < 0.55:
            return email
        local, domain = email.split("@")
        if r < 0.7:
            email = ".".join(p.capitalize() for p in local.split(".")) + "@" + domain.capitalize()
        elif r < 0.8:
            email = email.upper() if self.rng.random() < 0.3 else local + "@" + domain.upper()
        return self.rng.choice(("", " ")) + email + self.rng.choice(("", " ", "  "))

    def noisy_phone(self, phone: str | None) -> str:
        if not phone:
            return ""
        if phone.startswith("+49"):
            rest = phone[3:]
            return self.rng.choice((f"+49 {rest[:3]} {rest[3:]}", f"0049 {rest[:3]} {rest[3:]}", phone))
        n = phone[3:]            # 722123456
        a, b, c = n[:3], n[3:6], n[6:]
        return self.rng.choice((
            f"0{a} {b} {c}", f"0{n}", f"0{a}-{b}-{c}", f"0{a}.{b}.{c}", f"(0{a}) {b} {c}",
            f"+40 {a} {b} {c}", phone, f"0040{n}", f"0040 {a} {b} {c}", f"0{a} {b} {c}",
        ))

    def typed_name(self, p: Person) -> str:
        """A name as the public types it into a form."""
        r = self.rng.random()
        if r < 0.6:
            return p.name
        if r < 0.8:
            return p.ascii_name.lower()
        return p.ascii_name

    # -- time -----------------------------------------------------------------------------------
    def moment(self, days_ago: float, hours: tuple[int, int] = (8, 22)) -> datetime:
        """A local time `days_ago` days before today, at a plausible hour."""
        day = self.today - timedelta(days=max(1, int(days_ago)))
        seconds = self.rng.randint(hours[0] * 3600, hours[1] * 3600 - 1)
        return datetime.combine(day, time(0), self.tz) + timedelta(seconds=seconds)

    def between(self, start: date, end: date) -> datetime:
        """A local time on a day in [start, end], never today or later."""
        end = min(end, self.today - timedelta(days=1))
        start = min(start, end)
        day = start + timedelta(days=self.rng.randint(0, (end - start).days))
        return self.moment((self.today - day).days)

    def reply_delay(self) -> timedelta | None:
        """How long the NGO takes to answer: often within hours, sometimes days, sometimes never."""
        r = self.rng.random()
        if r < 0.2:
            return None
        if r < 0.4:
            return timedelta(minutes=self.rng.randint(10, 150))
        if r < 0.7:
            return timedelta(hours=self.rng.uniform(3, 23))
        return timedelta(hours=self.rng.uniform(26, 24 * 6))

    def answer_at(self, asked: datetime) -> datetime | None:
        delay = self.reply_delay()
        if delay is None:
            return None
        answered = asked + delay
        return answered if answered < self.horizon else None

    # -- ids ------------------------------------------------------------------------------------
    def token(self, k: int, alphabet: str = string.ascii_letters + string.digits) -> str:
        return "".join(self.rng.choices(alphabet, k=k))

    def hexid(self, k: int) -> str:
        return self.token(k, "0123456789abcdef")

    def digits(self, k: int) -> str:
        return str(self.rng.randint(1, 9)) + self.token(k - 1, string.digits)

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def pick(self, pool: list, share: float) -> list:
        return [p for p in pool if self.rng.random() < share]


# ---------------------------------------------------------------------------------------------
# file helpers


def _csv_text(rows: list[list[str]], delimiter: str = ",", newline: str = "\r\n",
              quote_all: bool = False) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator=newline,
                        quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL)
    writer.writerows(rows)
    return out.getvalue()


def _mailchimp_csv(rows: list[list[str]]) -> str:
    """Mailchimp quotes a field when it holds a space, a comma or a quote; LF line ends."""
    def field_text(value: str) -> str:
        if any(c in value for c in ' ,"\n'):
            return '"' + value.replace('"', '""') + '"'
        return value
    return "".join(",".join(field_text(v) for v in row) + "\n" for row in rows)


def _write(path: Path, data: bytes | str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode(encoding))
    return path


def _money_en(value: float) -> str:
    return f"{value:,.2f}"


def _money_ro(value: float) -> str:
    return f"{value:,.2f}".replace(",", " ").replace(".", ",").replace(" ", ".")


def _hours_text(hours: float, decimal_comma: bool) -> str:
    text = f"{hours:g}"
    return text.replace(".", ",") if decimal_comma else text


# ---------------------------------------------------------------------------------------------
# donations: one plan for Stripe and PayPal


@dataclass
class Gift:
    person: Person
    at: datetime                      # local
    amount: float
    currency: str
    via: str                          # stripe | paypal
    recurring: bool = False
    campaign: str = ""
    refund: str = ""                  # "" | full | partial | double (PayPal: a second payment refunded)
    failed_before: bool = False
    note: str = ""


CAMPAIGNS = ("Campania de Crăciun {y}", "Crosul Solidarității {y}", "Tabăra de vară {y}", "Urgență")


def plan_gifts(demo: Demo) -> list[Gift]:
    """Donor histories spread over three years so every donor segment has members."""
    rng, today = demo.rng, demo.today
    donors = demo.pick(demo.people, 0.5)
    archetypes = ("recurring", "regular", "first_time", "major", "lybunt", "sybunt", "lapsed")
    weights = (12, 30, 10, 4, 14, 12, 18)
    gifts: list[Gift] = []
    jan1 = date(today.year, 1, 1)
    for i, person in enumerate(donors):
        kind = archetypes[i] if i < len(archetypes) else rng.choices(archetypes, weights)[0]
        if not person.email:
            continue
        via = "stripe" if rng.random() < 0.55 else "paypal"
        currency = "EUR" if person.foreign else "RON"
        small = (10, 20, 25) if currency == "EUR" else (20, 25, 30, 50, 50, 75, 100, 100, 150, 200, 250, 300, 500)

        def gift(at: datetime, amount: float, **kw) -> None:
            campaign = ""
            if rng.random() < 0.35:
                campaign = rng.choice(CAMPAIGNS).format(y=at.year)
            gifts.append(Gift(person, at, float(amount), currency, via, campaign=campaign, **kw))

        if kind == "recurring":
            months = rng.randint(4, 30)
            amount = rng.choice((25, 50, 50, 100)) if currency == "RON" else 10
            first = today - timedelta(days=30 * months + 20)
            hour = demo.moment(1).time().replace(microsecond=0)
            for m in range(months + 1):
                day = first + timedelta(days=30 * m)
                if day >= today - timedelta(days=1):
                    break
                gifts.append(Gift(person, datetime.combine(day, hour, demo.tz), float(amount), currency, via,
                                  recurring=True))
        elif kind == "regular":
            for _ in range(rng.randint(2, 5)):
                gift(demo.between(today - timedelta(days=1080), today), rng.choice(small))
            gift(demo.between(today - timedelta(days=330), today), rng.choice(small))
        elif kind == "first_time":
            gift(demo.between(today - timedelta(days=80), today), rng.choice(small))
        elif kind == "major":
            for _ in range(rng.randint(1, 2)):
                gift(demo.between(today - timedelta(days=340), today),
                     rng.choice((2500, 3000, 5000, 6000)) if currency == "RON" else 1200)
            gift(demo.between(today - timedelta(days=330), today), rng.choice((2500, 3000)) if currency == "RON" else 500)
            gift(demo.between(today - timedelta(days=1000), today - timedelta(days=400)), rng.choice(small))
        elif kind == "lybunt":
            for _ in range(rng.randint(1, 3)):
                gift(demo.between(date(today.year - 1, 1, 1), jan1 - timedelta(days=1)), rng.choice(small))
        elif kind == "sybunt":
            start = max(today - timedelta(days=1070), date(today.year - 3, 1, 1))
            for _ in range(rng.randint(1, 3)):
                gift(demo.between(start, date(today.year - 2, 12, 31)), rng.choice(small))
        else:  # lapsed
            for _ in range(rng.randint(1, 3)):
                gift(demo.between(today - timedelta(days=1070), today - timedelta(days=400)), rng.choice(small))
    gifts.sort(key=lambda g: g.at)
    # a few mishaps, as in real exports
    singles = [g for g in gifts if not g.recurring]
    recent = demo.horizon - timedelta(days=300)
    older = demo.horizon - timedelta(days=400)
    for pool in ([g for g in singles if g.via == "paypal" and g.at >= recent],    # both PayPal downloads
                 [g for g in singles if g.via == "paypal" and g.at < older],      # show a refund
                 [g for g in singles if g.via == "stripe"]):
        if pool:
            rng.choice(pool).refund = "double"
    stripe = [g for g in singles if g.via == "stripe" and not g.refund]
    for g in rng.sample(stripe, min(4, len(stripe))):
        g.failed_before = True
    for g in rng.sample(stripe, min(2, len(stripe))):
        g.refund = "full"
    big = [g for g in stripe if g.amount >= 100 and not g.refund]
    if big:
        rng.choice(big).refund = "partial"
    notes = ("Pentru cantina socială", "În memoria tatălui meu", "Crăciun fericit! 🎄", "Pentru copiii din tabără",
             "Mulțumesc pentru tot ce faceți", "")
    for g in gifts:
        if g.via == "paypal" and rng.random() < 0.2:
            g.note = rng.choice(notes)
    return gifts


# ---------------------------------------------------------------------------------------------
# stripe


STRIPE_HEADER = [
    "id", "Created date (UTC)", "Amount", "Amount Refunded", "Currency", "Captured", "Converted Amount",
    "Converted Amount Refunded", "Converted Currency", "Decline Reason", "Description", "Fee",
    "Refunded date (UTC)", "Statement Descriptor", "Status", "Seller Message", "Taxes On Fee", "Card ID",
    "Customer ID", "Customer Description", "Customer Email", "Card Name", "Card Brand", "Card Last4",
    "Card Address Country", "Card Issue Country", "Invoice ID", "Invoice Number", "PaymentIntent ID", "Mode",
    "campaign (metadata)",
]


def write_stripe(demo: Demo, gifts: list[Gift]) -> int:
    rng = demo.rng
    descriptor = ascii_fold(demo.org_name).upper()[:22]
    customers: dict[str, tuple] = {}
    rows: list[tuple[datetime, list[str]]] = []

    def customer(p: Person) -> tuple:
        if p.email not in customers:
            brand = rng.choice(("Visa", "MasterCard"))
            card_name = rng.choice((p.ascii_name.upper(), p.ascii_name.upper(), p.ascii_name, ""))
            customers[p.email] = ("cus_" + demo.token(14), "card_1" + demo.token(24), brand,
                                  demo.token(4, string.digits), card_name, demo.noisy_email(p.email),
                                  demo.hexid(8).upper())
        return customers[p.email]

    def charge(g: Gift, at_utc: datetime, status: str, refunded: float = 0.0, invoice_no: int = 0) -> list[str]:
        cus, card, brand, last4, card_name, email, invoice_prefix = customer(g.person)
        suffix = demo.token(24)
        rate = 1.0 if g.currency == "RON" else round(rng.uniform(4.95, 5.08), 4)
        converted = round(g.amount * rate, 2)
        failed = status == "Failed"
        fee = 0.0 if failed else round(converted * 0.015 + 1.25, 2)
        country = "DE" if g.person.foreign else "RO"
        if g.recurring:
            description = "Subscription creation" if invoice_no == 1 else "Subscription update"
        else:
            description = f"Donație - {g.campaign}" if g.campaign else "Donație online"
        refunded_at = ""
        if refunded:
            refunded_at = (at_utc + timedelta(hours=rng.uniform(2, 30))).strftime("%Y-%m-%d %H:%M:%S")
        return [
            "ch_3" + suffix, at_utc.strftime("%Y-%m-%d %H:%M:%S"), f"{g.amount:.2f}", f"{refunded:.2f}",
            g.currency.lower(), "false" if failed else "true", "0.00" if failed else f"{converted:.2f}",
            f"{round(refunded * rate, 2):.2f}", "ron",
            rng.choice(("insufficient_funds", "card_declined", "expired_card")) if failed else "",
            description, f"{fee:.2f}", refunded_at, descriptor, status,
            "The bank did not return any further details with this decline." if failed else "Payment complete.",
            "0.00", card, cus, g.person.name, email, card_name, brand, last4, country, country,
            ("in_1" + demo.token(24)) if g.recurring else "",
            f"{invoice_prefix}-{invoice_no:04d}" if g.recurring else "",
            "pi_3" + suffix, "Live", g.campaign,
        ]

    invoices: dict[str, int] = {}
    for g in (g for g in gifts if g.via == "stripe"):
        at = g.at.astimezone(UTC).replace(tzinfo=None)
        if g.failed_before:
            rows.append((at - timedelta(minutes=rng.randint(2, 9)), charge(g, at - timedelta(minutes=3), "Failed")))
        if g.recurring:
            invoices[g.person.email] = invoices.get(g.person.email, 0) + 1
        status, refunded = "Paid", 0.0
        if g.refund == "full":
            status, refunded = "Refunded", g.amount
        elif g.refund == "partial":
            refunded = round(g.amount * 0.9, 2)       # 1000 typed instead of 100
        rows.append((at, charge(g, at, status, refunded, invoices.get(g.person.email, 0))))
        if g.refund == "double":                     # charged twice, the second refunded in full
            again = at + timedelta(minutes=rng.randint(2, 6))
            rows.append((again, charge(g, again, "Refunded", g.amount)))
    rows.sort(key=lambda r: r[0], reverse=True)
    body = [r for _, r in rows]
    # someone edited the export in Excel: three rows no longer make sense
    if len(body) > 12:
        body[5][0] = ""
        body[9][1] = "########"
        body[11][2] = "#VALUE!"
    name = f"unified_payments_{demo.today - timedelta(days=1):%Y-%m-%d}.csv"
    _write(demo.landing / "stripe" / name, _csv_text([STRIPE_HEADER, *body], newline="\n"))
    return len(body)


# ---------------------------------------------------------------------------------------------
# paypal


PAYPAL_HEADER = [
    "Date", "Time", "TimeZone", "Name", "Type", "Status", "Currency", "Gross", "Fee", "Net", "From Email Address",
    "To Email Address", "Transaction ID", "Shipping Address", "Address Status", "Item Title", "Item ID",
    "Shipping and Handling Amount", "Insurance Amount", "Sales Tax", "Option 1 Name", "Option 1 Value",
    "Option 2 Name", "Option 2 Value", "Reference Txn ID", "Invoice Number", "Custom Number", "Quantity",
    "Receipt ID", "Balance", "Address Line 1", "Address Line 2/District/Neighborhood", "Town/City",
    "State/Province/Region/County/Territory/Prefecture/Republic", "Zip/Postal Code", "Country",
    "Contact Phone Number", "Subject", "Note", "Country Code", "Balance Impact",
]


@dataclass
class PaypalRow:
    at: datetime
    name: str
    type: str
    currency: str
    gross: float
    fee: float
    from_email: str
    to_email: str
    txn: str
    title: str = ""
    reference: str = ""
    phone: str = ""
    note: str = ""
    balance: float = 0.0
    country_code: str = "RO"
    quantity: str = "1"

    def fields(self, money: Callable[[float], str]) -> list[str]:
        return [
            f"{self.at:%d/%m/%Y}", f"{self.at:%H:%M:%S}", self.at.tzname() or "", self.name, self.type, "Completed",
            self.currency, money(self.gross), money(self.fee), money(round(self.gross + self.fee, 2)),
            self.from_email, self.to_email, self.txn, "", "", self.title, "", money(0), "", money(0), "", "", "", "",
            self.reference, "", "", self.quantity, "", money(self.balance), "", "", "", "", "", "", self.phone,
            self.title, self.note, self.country_code, "Debit" if self.gross < 0 else "Credit",
        ]


def write_paypal(demo: Demo, gifts: list[Gift]) -> int:
    rng = demo.rng
    title = f"Donație {demo.org_name}"
    txn_alphabet = string.ascii_uppercase + string.digits
    agreements: dict[str, str] = {}
    rows: list[PaypalRow] = []
    for g in (g for g in gifts if g.via == "paypal"):
        p = g.person
        fixed = 0.35 if g.currency == "EUR" else 1.5
        fee = -round(g.amount * 0.034 + fixed, 2)
        if g.recurring:
            kind = "Subscription Payment"
            reference = agreements.setdefault(p.email, "I-" + demo.token(12, txn_alphabet))
            item = "Donație lunară"
        else:
            kind = rng.choice(("Donation Payment", "Donation Payment", "Express Checkout Payment",
                               "Website Payment", "Mobile Payment"))
            reference, item = "", (f"Donație - {g.campaign}" if g.campaign else title)
        phone = demo.noisy_phone(p.phone) if p.phone and rng.random() < 0.3 else ""
        name = p.name if rng.random() < 0.85 else p.ascii_name.upper()
        row = PaypalRow(g.at, name, kind, g.currency, g.amount, fee, demo.noisy_email(p.email),
                        demo.donations_email, demo.token(17, txn_alphabet), item, reference, phone, g.note)
        rows.append(row)
        if g.refund == "double":
            again = PaypalRow(g.at + timedelta(minutes=rng.randint(2, 6)), name, kind, g.currency, g.amount, fee,
                              row.from_email, demo.donations_email, demo.token(17, txn_alphabet), item, reference,
                              phone)
            refund = PaypalRow(again.at + timedelta(hours=rng.uniform(12, 40)), name, "Payment Refund", g.currency,
                               -g.amount, round(g.amount * 0.034, 2), demo.donations_email, p.email,
                               demo.token(17, txn_alphabet), reference=again.txn, note="Plată dublă - returnată",
                               quantity="")
            rows.extend((again, refund))
    rows.sort(key=lambda r: r.at)
    # running balance per currency, with the money moved to the bank at the end of each month
    balance = {"RON": 900.0, "EUR": 150.0}
    ledger: list[PaypalRow] = []
    month = None
    for row in rows:
        key = (row.at.year, row.at.month)
        if month is not None and key != month and balance["RON"] >= 1000:
            day = date(*month, 28)
            amount = -float(int(balance["RON"] // 1000) * 1000)
            balance["RON"] = round(balance["RON"] + amount, 2)
            ledger.append(PaypalRow(datetime.combine(day, time(10), demo.tz), "", "General Withdrawal", "RON",
                                    amount, 0.0, demo.donations_email, "", demo.token(17, txn_alphabet),
                                    balance=balance["RON"], country_code="", quantity=""))
        month = key
        balance[row.currency] = round(balance[row.currency] + row.gross + row.fee, 2)
        row.balance = balance[row.currency]
        ledger.append(row)
    # PayPal's own download: the last 12 months. An older download re-saved by Excel: the 2 years before,
    # overlapping the first by a month (real landings overlap).
    recent_from = demo.horizon - timedelta(days=365)
    excel_until = demo.horizon - timedelta(days=335)
    recent = [r for r in ledger if r.at >= recent_from]
    older = [[cedilla(v) for v in r.fields(_money_ro)] for r in ledger if r.at < excel_until]
    original = _csv_text([PAYPAL_HEADER, *(r.fields(_money_en) for r in recent)], quote_all=True)
    _write(demo.landing / "paypal" / "Download.CSV", "\ufeff" + original)
    subscriptions = [row for row in older if row[4] == "Subscription Payment"]
    if subscriptions:
        subscriptions[0][12] = ""                    # Transaction ID lost
    gifts_rows = [row for row in older if row[12] and row[10] != demo.donations_email]
    if gifts_rows:
        victim = gifts_rows[len(gifts_rows) // 2]
        victim[0] = "31/02/" + victim[0][-4:]       # a day February never has
    text = _csv_text([[cedilla(h) for h in PAYPAL_HEADER], *older], delimiter=";")
    first, last = (ledger[0].at, excel_until) if ledger else (demo.horizon, demo.horizon)
    name = f"Download_{first:%Y-%m}_{last:%Y-%m} (salvat din Excel).csv"
    _write(demo.landing / "paypal" / name, text.encode("cp1250", errors="replace"))
    return len(recent) + len(older)


# ---------------------------------------------------------------------------------------------
# mailchimp


MC_COMMON = ["Email Address", "First Name", "Last Name", "Address", "Phone Number", "MEMBER_RATING", "OPTIN_TIME",
             "OPTIN_IP", "CONFIRM_TIME", "CONFIRM_IP", "LATITUDE", "LONGITUDE", "GMTOFF", "DSTOFF", "TIMEZONE",
             "CC", "REGION"]
MC_SUBSCRIBED = MC_COMMON + ["LAST_CHANGED", "LEID", "EUID", "NOTES", "TAGS"]
MC_UNSUBSCRIBED = MC_COMMON + ["UNSUB_TIME", "UNSUB_CAMPAIGN_TITLE", "UNSUB_CAMPAIGN_ID", "UNSUB_REASON",
                               "UNSUB_REASON_OTHER", "LEID", "EUID", "NOTES", "TAGS"]
MC_CLEANED = MC_COMMON + ["CLEAN_TIME", "CLEAN_CAMPAIGN_TITLE", "CLEAN_CAMPAIGN_ID", "LEID", "EUID", "NOTES", "TAGS"]
UNSUB_REASONS = ("I no longer want to receive these emails", "I never signed up for this list",
                 "The emails are inappropriate", "Other (fill in reason below)")
NEWSLETTER_MONTHS = ("ianuarie", "februarie", "martie", "aprilie", "mai", "iunie", "iulie", "august",
                     "septembrie", "octombrie", "noiembrie", "decembrie")


def write_mailchimp(demo: Demo, donors: set[int], volunteers: set[int]) -> int:
    rng = demo.rng
    stamp = demo.today - timedelta(days=1)
    folder = demo.landing / "mailchimp" / f"audience_export_{stamp:%Y-%m-%d}"
    suffix = demo.hexid(10)
    files = {"subscribed": [MC_SUBSCRIBED], "unsubscribed": [MC_UNSUBSCRIBED], "cleaned": [MC_CLEANED]}
    utc = lambda dt: dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")  # noqa: E731
    for idx, p in enumerate(demo.people):
        if not p.email or rng.random() > 0.65:
            continue
        joined = demo.moment(rng.randint(40, 1800))
        confirmed = joined + timedelta(seconds=rng.randint(40, 600))
        ip = f"{rng.choice((86, 188, 89, 79, 5, 92))}.{rng.randint(1, 254)}.{rng.randint(0, 254)}.{rng.randint(1, 254)}"
        imported = rng.random() < 0.12
        geo = rng.random() < 0.5
        tags = []
        if idx in donors:
            tags.append("Donator")
        if idx in volunteers:
            tags.append("Voluntar")
        if rng.random() < 0.5:
            tags.append("Newsletter")
        address = ""
        if rng.random() < 0.25:
            address = f"{p.street}  {p.city}  {p.county}  {p.postcode}  RO"
        common = [
            demo.noisy_email(p.email).strip(), p.first, p.last, address,
            demo.noisy_phone(p.phone) if p.phone and rng.random() < 0.5 else "", str(rng.randint(1, 5)),
            "" if imported else utc(joined), "" if imported else ip, utc(confirmed), "" if imported else ip,
            "46.7712000" if geo else "", "23.6236000" if geo else "", "2" if geo else "", "3" if geo else "",
            "Europe/Bucharest" if geo else "", "RO" if geo else "", p.county if geo else "",
        ]
        leid, euid = demo.digits(9), demo.hexid(10)
        notes = "importat din registrul vechi" if imported else ""
        tag_text = ",".join(f'"{t}"' for t in tags)
        later = lambda: min(confirmed + timedelta(days=rng.randint(30, 700)), demo.horizon - timedelta(hours=5))  # noqa: E731
        r = rng.random()
        if r < 0.8:
            files["subscribed"].append(common + [utc(later()), leid, euid, notes, tag_text])
        elif r < 0.92:
            when = later()
            reason = rng.choice(UNSUB_REASONS)
            files["unsubscribed"].append(common + [
                utc(when), f"Newsletter {NEWSLETTER_MONTHS[when.month - 1]} {when.year}", demo.hexid(10), reason,
                "Primesc prea multe emailuri" if reason.startswith("Other") else "", leid, euid, notes, tag_text])
        else:
            when = later()
            files["cleaned"].append(common + [
                utc(when), f"Newsletter {NEWSLETTER_MONTHS[when.month - 1]} {when.year}", demo.hexid(10),
                leid, euid, notes, tag_text])
    for status, rows in files.items():
        _write(folder / f"{status}_members_export_{suffix}.csv", _mailchimp_csv(rows))
    return sum(len(rows) - 1 for rows in files.values())


# ---------------------------------------------------------------------------------------------
# forms


FORM_HEADER = ["Timestamp", "Nume și prenume", "Adresa de email", "Telefon", "Cum vă putem ajuta?",
               "Mesajul dumneavoastră", "Sunt de acord să primesc informări (GDPR)"]
FORM_REQUESTS = (
    ("Am o întrebare despre o donație", "Bună ziua, am donat {amount} lei și aș avea nevoie de o adeverință pentru firmă."),
    ("Vreau să devin voluntar", "Salut!\nPot ajuta sâmbăta, la distribuția de alimente.\nAm și mașină."),
    ("Vreau să devin voluntar", "Sunt student la {city}, am 2-3 ore libere pe săptămână, \"orice ajută\"."),
    ("Vreau să donez", "Pot dona lunar prin transfer bancar? Aș vrea să știu în ce cont."),
    ("Parteneriat / sponsorizare", "Reprezint o firmă din {city} și am dori să sponsorizăm tabăra, vă rog să mă contactați."),
    ("Altceva", "Aveți nevoie de haine de iarnă pentru copii?"),
    ("Altceva", "Puteți veni cu o prezentare la școala noastră, în {city}?"),
)
FORM_ANSWERS = {
    "Am o întrebare despre o donație": "Vă trimitem adeverința în cel mai scurt timp; ne puteți da CUI-ul firmei?",
    "Vreau să devin voluntar": "Ne bucurăm mult! Vă așteptăm sâmbătă la ora 10 pentru o scurtă instruire.",
    "Vreau să donez": "Mulțumim! Găsiți contul nostru și formularul de donație lunară pe site.",
    "Parteneriat / sponsorizare": "Mulțumim pentru interes; vă propunem o întâlnire săptămâna viitoare.",
    "Altceva": "Mulțumim pentru mesaj; revenim cu detalii în curând.",
}


def write_forms(demo: Demo, extra: list[Person]) -> int:
    rng = demo.rng
    senders = demo.pick([p for p in demo.people if p.email or p.phone], 0.12) + extra
    rows = []
    for p in senders:
        at = demo.moment(rng.randint(2, 700))
        subject, message = rng.choice(FORM_REQUESTS)
        if p in extra:
            subject, message = FORM_REQUESTS[4]
        email = demo.noisy_email(p.email) if p.email and (not p.phone or rng.random() < 0.6) else ""
        phone = demo.noisy_phone(p.phone) if p.phone and (not email or rng.random() < 0.5) else ""
        consent = "Da, sunt de acord" if rng.random() < 0.6 else ""
        rows.append((at, [f"{at:%d/%m/%Y %H:%M:%S}", demo.typed_name(p), email, phone, subject,
                          message.format(amount=rng.choice((50, 100, 150, 200)), city=p.city), consent]))
        answered = demo.answer_at(at) if p.email else None
        if answered:
            demo.replies.append((answered, {"person": p, "subject": f"Re: Formularul de contact - {subject}",
                                            "text": FORM_ANSWERS[subject]}))
    rows.sort(key=lambda r: r[0])
    body = [r for _, r in rows]
    # broken on purpose: an invalid address and no phone; a date no calendar has
    year = demo.today.year - (1 if demo.today.month == 1 else 0)
    bad = demo.moment(rng.randint(2, 20))
    body.insert(len(body) - 1 if body else 0,
                [f"{bad:%d/%m/%Y %H:%M:%S}", "Ion Popescu", "ion.popescu@gmial", "", "Vreau să donez",
                 "Vă rog să mă contactați.", ""])
    body.insert(len(body) - 1, [f"31/13/{year} 25:61:00", "Corina Stan", "corina.stan@gmail.com", "0744 100 200",
                                "Parteneriat / sponsorizare", "Am dori să sponsorizăm tabăra.", "Da, sunt de acord"])
    name = "Formular contact (Răspunsuri) - Răspunsuri formular 1.csv"
    _write(demo.landing / "forms" / name, _csv_text([FORM_HEADER, *body]))
    return len(body)


# ---------------------------------------------------------------------------------------------
# eventbrite


EVENTBRITE_HEADER = ["Order #", "Order Date", "First Name", "Last Name", "Email", "Quantity", "Price Tier",
                     "Ticket Type", "Attendee #", "Group", "Order Type", "Currency", "Total Paid", "Fees Paid",
                     "Eventbrite Fees", "Eventbrite Payment Processing", "Attendee Status", "Cell Phone",
                     "Event Name", "Event ID", "Checked In"]


def write_eventbrite(demo: Demo, volunteers: set[int]) -> int:
    rng = demo.rng
    today = demo.today
    events = [
        (f"Gala Prietenii Asociației {today.year - 1}", date(today.year - 1, 12, 6), "gala"),
        ("Crosul Solidarității", today - timedelta(days=rng.randint(35, 60)), "cros"),
    ]
    tickets = (("Intrare generală", 175.0), ("Masă susținător", 600.0), ("Invitat - voluntar", 0.0))
    total = 0
    people = [(i, p) for i, p in enumerate(demo.people) if p.email]
    for title, day, slug in events:
        if day >= today:
            day = today - timedelta(days=7)
        event_id = demo.digits(13)
        rows = []
        for i, p in rng.sample(people, min(len(people), max(6, len(people) // 6))):
            ordered = datetime.combine(day, time(0), demo.tz) - timedelta(days=rng.randint(2, 60),
                                                                             seconds=rng.randint(0, 86399))
            ticket, price = tickets[2] if i in volunteers else rng.choice(tickets[:2] * 3 + tickets[1:2])
            quantity = 1 if price == 0 else rng.choice((1, 1, 2, 2, 3))
            guests = [p] + ([p] * (quantity - 1) if rng.random() < 0.4 else
                            [Person(demo.fake.first_name(), p.last if rng.random() < 0.5 else demo.fake.last_name(),
                                    None, None, "ro", "", "", "", "") for _ in range(quantity - 1)])
            order = demo.digits(11)
            status = "Not Attending" if rng.random() < 0.06 else "Attending"
            eb_fee = round(price * 0.025 + 1.7, 2) if price else 0.0
            processing = round(price * 0.0174, 2)
            for guest in guests:
                email = p.email if guest is p else ascii_fold(f"{guest.first}.{guest.last}").lower().replace(" ", "") \
                    + "@gmail.com"
                checked = "Yes" if status == "Attending" and rng.random() < 0.8 else "No"
                rows.append([order, ordered.isoformat(sep=" "), guest.first, guest.last,
                             demo.noisy_email(email).strip() if guest is p else email, str(quantity), "", ticket,
                             demo.digits(13), "", "Free Order" if price == 0 else "Eventbrite Completed", "RON",
                             f"{price:.2f}", f"{eb_fee + processing:.2f}", f"{eb_fee:.2f}", f"{processing:.2f}",
                             status, demo.noisy_phone(p.phone) if guest is p and p.phone and rng.random() < 0.5
                             else "", title, event_id, checked])
        rows.sort(key=lambda r: (r[1], r[8]))
        # the report downloaded a week before the event (nobody checked in yet), then after it
        week_before = day - timedelta(days=7)
        before = [r[:-1] + ["No"] for r in rows
                  if r[1] < datetime.combine(week_before, time(0), demo.tz).isoformat(sep=" ")]
        _write(demo.landing / "eventbrite" / f"{slug}-{day.year}_attendees_{week_before:%Y-%m-%d}.csv",
               _csv_text([EVENTBRITE_HEADER, *before]))
        _write(demo.landing / "eventbrite" / f"{slug}-{day.year}_attendees_{day:%Y-%m-%d}_after-event.csv",
               _csv_text([EVENTBRITE_HEADER, *rows]))
        total += len(rows) + len(before)
    return total


# ---------------------------------------------------------------------------------------------
# twilio


GSM7 = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
           "¿abcdefghijklmnopqrstuvwxyzäöñüà")
SMS_QUESTIONS = ("Bună! Cum pot dona lunar?", "Când e gala anul acesta?", "Vin și eu sâmbătă la distribuție",
                 "Mai aveți nevoie de voluntari?", "Unde pot aduce hainele pentru copii?",
                 "Buna ziua, se poate plati si cash la sediu?", "Am donat, mulțumesc pentru tot ce faceți!",
                 "Pot veni cu copiii la atelier?")


def _segments(body: str) -> int:
    if all(c in GSM7 for c in body):
        return 1 if len(body) <= 160 else math.ceil(len(body) / 153)
    return 1 if len(body) <= 70 else math.ceil(len(body) / 67)


def write_twilio(demo: Demo, volunteers: set[int]) -> int:
    rng = demo.rng
    account, service = "AC" + demo.hexid(32), "MG" + demo.hexid(32)
    texters = [p for i, p in enumerate(demo.people) if p.phone and rng.random() < (0.4 if i in volunteers else 0.2)]
    messages: list[tuple[datetime, Person, str, str]] = []
    for p in texters:
        for _ in range(rng.randint(1, 3)):
            at = demo.moment(rng.randint(2, 700), (7, 23))
            body = "Hallo! Can I donate from Germany?" if p.foreign else rng.choice(SMS_QUESTIONS)
            messages.append((at, p, body, ""))
            answered = demo.answer_at(at) if p.email else None
            if answered:
                demo.replies.append((answered, {"person": p, "subject": "Răspuns la mesajul dumneavoastră (SMS)",
                                                "text": "Mulțumim pentru mesajul trimis prin SMS! Vă răspundem aici, "
                                                        "pe larg."}))
    # carrier keywords: some stop, one stops and starts again, one stops, starts and stops
    keyword_people = texters[:6]
    for n, p in enumerate(keyword_people):
        start = demo.moment(rng.randint(200, 500))
        words = [rng.choice(("STOP", "stop", "Stop", " STOP "))]
        if n == 1:
            words.append("START")
        if n == 2:
            words += ["START", "Stop"]
        for k, word in enumerate(words):
            messages.append((start + timedelta(days=40 * k, minutes=rng.randint(0, 600)), p, word,
                             word.strip().upper()))
    messages.sort(key=lambda m: m[0])
    by_year: dict[int, list[str]] = {}
    for at, p, body, opt_out in messages:
        sid = "SM" + demo.hexid(32)
        record = {
            "ToCountry": "RO", "ToState": "", "SmsMessageSid": sid, "NumMedia": "0", "ToCity": "", "FromZip": "",
            "SmsSid": sid, "FromState": "", "SmsStatus": "received", "FromCity": "", "Body": body,
            "FromCountry": "DE" if p.phone.startswith("+49") else "RO", "To": demo.sms_number,
            "MessagingServiceSid": service, "ToZip": "", "NumSegments": str(_segments(body)), "MessageSid": sid,
            "AccountSid": account, "From": p.phone, "ApiVersion": "2010-04-01",
        }
        if opt_out:
            record["OptOutType"] = opt_out
        record["received_at"] = at.isoformat()
        by_year.setdefault(at.year, []).append(json.dumps(record, ensure_ascii=False))
    last = json.loads(by_year[max(by_year)][-1])
    sid = "SM" + demo.hexid(32)
    last.update(SmsMessageSid=sid, SmsSid=sid, MessageSid=sid)
    truncated = json.dumps(last, ensure_ascii=False)[:70]
    total = 0
    for n, (year, lines) in enumerate(sorted(by_year.items())):
        text = "".join(line + "\n" for line in lines)
        if n == len(by_year) - 1:        # the receiver died mid-write
            text += truncated
            total += 1
        _write(demo.landing / "twilio" / f"inbound_sms_{year}.jsonl", text)
        total += len(lines)
    return total


# ---------------------------------------------------------------------------------------------
# facebook


FB_THREADS = (
    ("Bună seara! Mai aveți nevoie de voluntari sâmbătă?",
     "Bună ziua! Da, vă așteptăm la ora 10, pe str. Memorandumului 12. Mulțumim! 💚", "Super, vin cu o prietenă 😊"),
    ("Salut, unde pot lăsa niște haine pentru copii?",
     "Bună! Le puteți aduce la sediu, de luni până vineri, 9-17. Mulțumim mult!", None),
    ("Am trimis formularul 230, l-ați primit?", "Da, l-am primit, vă mulțumim!", "Mulțumesc și eu! 🙏"),
    ("Cât costă biletul la gală?", "Bună! Intrarea generală este 175 de lei; detalii pe Eventbrite.", None),
    ("Primiți și jucării? Am o cutie plină.", "Da, cu mare drag! Le puteți lăsa la sediu.", "Perfect, trec mâine."),
)


def _fb_folder(name: str, demo: Demo) -> str:
    kept = "".join(c for c in name.lower() if c in string.ascii_lowercase + string.digits)
    return f"{kept}_{demo.digits(16)}"


def write_facebook(demo: Demo) -> int:
    rng = demo.rng
    stamp = demo.today - timedelta(days=1)
    page_slug = "".join(c for c in ascii_fold(demo.page).lower() if c.isalnum())
    root = demo.landing / "facebook" / f"facebook-{page_slug}-{stamp:%Y-%m-%d}-{demo.token(8)}" / "messages" / "inbox"
    counterparts = [p.name for p in rng.sample(demo.people, min(8, len(demo.people)))]
    counterparts += [demo.fake.name() for _ in range(max(4, len(demo.people) // 25))]
    total = 0
    for name in counterparts:
        folder = _fb_folder(name, demo)
        question, answer, follow_up = rng.choice(FB_THREADS)
        asked = demo.moment(rng.randint(3, 500), (7, 24))
        ms = lambda dt: int(dt.timestamp() * 1000) + rng.randint(0, 999)  # noqa: E731
        messages = [{"sender_name": name, "timestamp_ms": ms(asked), "content": question}]
        answered = demo.answer_at(asked)
        if answered:
            messages.append({"sender_name": demo.page, "timestamp_ms": ms(answered), "content": answer})
            if follow_up:
                later = answered + timedelta(minutes=rng.randint(5, 300))
                if later < demo.horizon:
                    messages.append({"sender_name": name, "timestamp_ms": ms(later), "content": follow_up})
        if rng.random() < 0.25:
            at = ms(asked + timedelta(seconds=rng.randint(20, 200)))
            messages.append({"sender_name": name, "timestamp_ms": at, "photos": [
                {"uri": f"messages/inbox/{folder}/photos/{demo.digits(15)}.jpg", "creation_timestamp": at // 1000}]})
        messages.sort(key=lambda m: m["timestamp_ms"], reverse=True)
        for m in messages:
            m["sender_name"] = mojibake(m["sender_name"])
            if "content" in m:
                m["content"] = mojibake(m["content"])
            m["is_geoblocked_for_viewer"] = False
        thread = {
            "participants": [{"name": mojibake(name)}, {"name": mojibake(demo.page)}],
            "messages": messages,
            "title": mojibake(name),
            "is_still_participant": True,
            "thread_path": f"inbox/{folder}",
            "magic_words": [],
        }
        _write(root / folder / "message_1.json", json.dumps(thread, indent=2, ensure_ascii=True) + "\n")
        total += len(messages)
    return total


# ---------------------------------------------------------------------------------------------
# volunteers


ACTIVITIES = ("Distribuție alimente", "Atelier educațional", "Meditații online", "Strângere de fonduri",
              "Eveniment - Gala", "Tabără copii; logistică", "Administrativ", "Sortare haine")


def plan_shifts(demo: Demo) -> tuple[list[tuple[date, Person, float, str]], set[int]]:
    rng, today = demo.rng, demo.today
    chosen = [(i, p) for i, p in enumerate(demo.people) if rng.random() < 0.25]
    shifts = []
    kinds = ("new", "active", "lapsed", "old", "active", "active")
    for n, (_, p) in enumerate(chosen):
        kind = kinds[n] if n < len(kinds) else rng.choice(kinds)
        if kind == "new":
            days = sorted(rng.sample(range(1, 29), rng.randint(1, 3)))
        elif kind == "active":
            first = rng.randint(100, 1000)
            days = sorted({rng.randint(1, first) for _ in range(rng.randint(2, 12))} | {rng.randint(1, 80)})
        elif kind == "lapsed":
            first = rng.randint(400, 1050)
            days = sorted({rng.randint(190, first) for _ in range(rng.randint(1, 8))})
        else:
            days = sorted({rng.randint(90, 1050) for _ in range(rng.randint(1, 6))})
        for d in days:
            hours = rng.choice((1.5, 2, 2, 2.5, 3, 3, 4, 4.5, 5, 6))
            shifts.append((today - timedelta(days=d), p, hours, rng.choice(ACTIVITIES)))
    shifts.sort(key=lambda s: s[0])
    return shifts, {i for i, _ in chosen}


def _identify(demo: Demo, p: Person) -> tuple[str, str]:
    """A coordinator notes an email, a phone or both: rows with both link what other rows kept apart."""
    r = demo.rng.random()
    email = demo.noisy_email(p.email) if p.email and (not p.phone or r < 0.7) else ""
    phone = demo.noisy_phone(p.phone) if p.phone and (not email or r > 0.35) else ""
    return email, phone


def write_volunteers(demo: Demo, shifts: list[tuple[date, Person, float, str]]) -> int:
    rng, today = demo.rng, demo.today
    recent_from = today - timedelta(days=365)
    middle_from = today - timedelta(days=730)
    english, middle, oldest = [], [], []
    for day, p, hours, activity in shifts:
        if day >= recent_from:
            email, phone = _identify(demo, p)
            english.append([day.isoformat(), email.strip(), phone, p.name if rng.random() < 0.8 else p.ascii_name,
                            _hours_text(hours, False), activity])
        else:
            email, phone = _identify(demo, p)
            row = [f"{day:%d.%m.%Y}", email.strip(), phone, p.name, _hours_text(hours, True), activity]
            (middle if day >= middle_from else oldest).append(row)
    # broken on purpose: nobody to credit the hours to; hours in words; a day February never has
    english.insert(max(0, len(english) - 2), [(today - timedelta(days=5)).isoformat(), "", "", "Voluntar nou", "3",
                                              ACTIVITIES[0]])
    if english:
        victim = english[len(english) // 2]
        english.insert(len(english) // 2, [victim[0], victim[1] or "sanziana.muresan@gmail.com", victim[2],
                                           victim[3], "trei", victim[5]])
    header_en = ["date", "email", "phone", "name", "hours", "activity"]
    header_ro = ["Data", "E-mail", "Telefon", "Nume și prenume", "Ore", "Activitate"]
    _write(demo.landing / "volunteers" / f"volunteer_hours_{today.year}.csv", _csv_text([header_en, *english]))
    total = len(english)
    for rows, encoding, label in ((oldest, "cp1250", "Excel, Windows-1250"), (middle, "utf-8-sig", "Excel, UTF-8")):
        year = today.year - (2 if rows is oldest else 1)
        rows.insert(len(rows) // 2, [f"30.02.{year}", rows[0][1] if rows else "", rows[0][2] if rows else "0722 000 111",
                                     rows[0][3] if rows else "Ion Ionescu", "2", "Administrativ"])
        if not rows[len(rows) // 2][1] and not rows[len(rows) // 2][2]:
            rows[len(rows) // 2][2] = "0722 000 111"
        text = _csv_text([header_ro, *rows], delimiter=";")
        if encoding == "cp1250":
            data = cedilla(text).encode("cp1250", errors="replace")
        else:
            data = text.encode("utf-8-sig")
        _write(demo.landing / "volunteers" / f"pontaj_voluntari_{year} ({label}).csv", data)
        total += len(rows)
    return total


# ---------------------------------------------------------------------------------------------
# partners


def _yaml_str(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def write_partners(demo: Demo, coalition_liaison: Person) -> int:
    rng, today = demo.rng, demo.today
    liaisons = []
    for org, domain, _ in ORGANISATIONS:
        first, last = demo.fake.first_name(), demo.fake.last_name()
        email = f"{ascii_fold(first).lower()}.{ascii_fold(last).lower()}@{domain}".replace(" ", "")
        phone = "+407" + rng.choice("2345678") + demo.token(7, string.digits)
        liaisons.append(Person(first, last, email, phone, "ro", "", "", "", ""))
    liaisons[2] = coalition_liaison
    y = today.year
    renewal_end = today + timedelta(days=rng.randint(15, 50))
    plans = [
        # (org index, type, stage, starts_on, ends_on)
        (0, "sponsor", "evaluate", date(y - 2, 3, 1), date(y - 1, 2, 28)),
        (0, "sponsor", "active", date(y - 1, 3, 1), date(y + 1, 2, 28)),
        (1, "media", "active", date(y - 2, 9, 1), None),
        (2, "coalition", "active", date(y, 1, 1) if today.month > 1 else date(y - 1, 1, 1), date(y, 12, 31)),
        (3, "sponsor", "prospect", None, None),
        (4, "endorser", "active", renewal_end - timedelta(days=365), renewal_end),
        (5, "licensee", "follow_up", date(y - 3, 6, 1), date(y - 1, 5, 31)),
        (6, "ngo", "active", today - timedelta(days=200), today + timedelta(days=400)),
        (7, "endorser", "negotiate", None, None),
    ]
    texts = {
        "sponsor": ("Pâine zilnică pentru cantina socială", "promovează partenerul pe site, în newsletter și la gală",
                    "livrează 200 de pâini pe săptămână", "raport trimestrial, vizibilitate la gală",
                    "produse în valoare de aprox. 8.000 RON / an"),
        "media": ("Informarea publicului despre campaniile asociației", "furnizează comunicate și materiale foto",
                  "difuzează gratuit spoturi și interviuri", "conținut exclusiv pentru partener",
                  "spațiu de emisie în valoare de 12.000 RON / an"),
        "coalition": ("Advocacy comun pentru politici publice în educație", "coordonează grupul de lucru pe educație",
                      "mobilizează membrii coaliției", "expertiză și date din teren", "cotizație anuală de 1.500 RON"),
        "endorser": ("Susținerea publică a campaniei de donare de sânge", "menționează partenerul în materiale",
                     "recomandă campania clienților săi", "vizibilitate în comunicate",
                     "expunere în 12 farmacii"),
        "licensee": ("Licențierea manualului „Educație pentru toți”", "actualizează conținutul anual",
                     "tipărește și distribuie manualul", "drepturi de utilizare a conținutului",
                     "redevență de 5% din vânzări"),
        "ngo": ("Program comun de meditații pentru copii", "asigură voluntarii și coordonarea",
                "asigură spațiul și logistica", "metodologie și voluntari", "sală și materiale"),
    }
    out = ["# Acorduri de parteneriat - " + demo.org_name,
           "# Perioadele sunt inclusive (starts_on și ends_on fac parte din acord); ends_on: null = pe durată "
           "nedeterminată.", ""]
    fmt = lambda d: "null" if d is None else d.isoformat()  # noqa: E731
    for n, (org_i, kind, stage, starts, ends) in enumerate(plans):
        org, domain, box = ORGANISATIONS[org_i]
        liaison = liaisons[org_i]
        year = starts.year if starts else y
        objective, ngo_resp, partner_resp, ngo_contrib, partner_contrib = texts[kind]
        if stage in ("prospect", "negotiate"):
            ngo_resp = partner_resp = ngo_contrib = partner_contrib = "de stabilit"
        out += [
            f'- agreement_id: "ACP-{year}-{n + 1:03d}"',
            f"  partner: {_yaml_str(org)}",
            f"  type: {kind}",
            f'  contact_email: "{box}@{domain}"',
            f"  liaison: {_yaml_str(liaison.name)}",
            f'  liaison_email: "{liaison.email}"',
            f'  liaison_phone: "{demo.noisy_phone(liaison.phone).strip()}"',
            f"  stage: {stage}",
            f"  starts_on: {fmt(starts)}",
            f"  ends_on: {fmt(ends)}",
        ]
        if n == 1:   # the renewal: a multi-line block
            out += ["  objectives: |", f"    {objective}", "    Indicatori: număr de mese servite, apariții media."]
        else:
            out.append(f"  objectives: {_yaml_str(objective)}")
        out += [
            "  responsibilities:", f"    ngo: {_yaml_str(ngo_resp)}", f"    partner: {_yaml_str(partner_resp)}",
            "  contributions:", f"    ngo: {_yaml_str(ngo_contrib)}", f"    partner: {_yaml_str(partner_contrib)}",
            f"  cooperation_mechanism: {_yaml_str('întâlnire trimestrială; persoană de legătură dedicată')}",
            f"  benefit_sharing: {_yaml_str('vizibilitate publică pentru partener; beneficiarii câștigă')}",
        ]
        if stage == "prospect":
            out.append(f"  notes: {_yaml_str('primul contact prin formularul de pe site')}")
        out.append("")
    _write(demo.landing / "partners" / "acorduri_parteneriat.yaml", "\n".join(out[:-1]) + "\n")
    return len(plans)


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
    _write(demo.landing / "email" / "mbox" / "All mail Including Spam and Trash.mbox", b"".join(chunks))
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
        _write(maildir / sub / name, _render(mail, "\n"))
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
        _write(eml / f"{n:02d}_raspuns_la_newsletter.eml", _multipart(reply, rng))
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
    _write(eml / "10_intrebare_iso-8859-2.eml", _render(mail, "\r\n", "iso-8859-2", comment))
    saved += 1
    # the same message saved from the mailbox as well: a duplicate
    if mbox:
        first_in = next(m for m in mbox if not m.outbound)
        _write(eml / "11_salvat_din_gmail.eml", _render(first_in, "\r\n"))
        saved += 1
    broken = Mail(demo.moment(rng.randint(2, 60)), "Ion Popescu", "ion.popescu@", demo.org_email, "Întrebare donație",
                  "Bună ziua, cum pot dona pentru tabăra copiilor?\n\nIon", gmail_id(), delivered_to=demo.org_email,
                  encoding="8bit")
    _write(eml / "12_fara_adresa_valida_in_From.eml", _render(broken, "\r\n"))
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


# ---------------------------------------------------------------------------------------------
# the generator


def generate_demo_data(landing: Path, seed: int = 7, people: int = 300, today: date | None = None,
                       settings: Settings | None = None) -> dict[str, int]:
    """Write realistic demo exports for every channel into landing/<channel>/; records written per channel."""
    settings = settings or Settings()
    demo = Demo(Path(landing), settings, seed, max(people, 30), today or date.today())
    gifts = plan_gifts(demo)
    shifts, volunteer_ids = plan_shifts(demo)
    donor_ids = {i for i, p in enumerate(demo.people) if any(g.person is p for g in gifts)}
    coalition_liaison = next(p for p in demo.people if p.email and p.phone and not p.foreign)
    counts = demo.counts
    counts["stripe"] = write_stripe(demo, gifts)
    counts["paypal"] = write_paypal(demo, gifts)
    counts["mailchimp"] = write_mailchimp(demo, donor_ids, volunteer_ids)
    counts["partners"] = write_partners(demo, coalition_liaison)
    counts["forms"] = write_forms(demo, [coalition_liaison])
    counts["eventbrite"] = write_eventbrite(demo, volunteer_ids)
    counts["twilio"] = write_twilio(demo, volunteer_ids)
    counts["facebook"] = write_facebook(demo)
    counts["volunteers"] = write_volunteers(demo, shifts)
    newsletter_repliers = [p for p in demo.people if p.email][:2]
    counts["email"] = write_email(demo, gifts, newsletter_repliers)
    return {channel: counts[channel] for channel in CHANNELS}

"""The demo's cast: the people, organisations and the NGO, and the helpers every export writer shares."""
from __future__ import annotations

import csv
import io
import random
import string
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from legatura.flows.config import Settings

UTC = timezone.utc


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


def csv_text(rows: list[list[str]], delimiter: str = ",", newline: str = "\r\n",
              quote_all: bool = False) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator=newline,
                        quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL)
    writer.writerows(rows)
    return out.getvalue()


def mailchimp_csv(rows: list[list[str]]) -> str:
    """Mailchimp quotes a field when it holds a space, a comma or a quote; LF line ends."""
    def field_text(value: str) -> str:
        if any(c in value for c in ' ,"\n'):
            return '"' + value.replace('"', '""') + '"'
        return value
    return "".join(",".join(field_text(v) for v in row) + "\n" for row in rows)


def write_file(path: Path, data: bytes | str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode(encoding))
    return path


def money_en(value: float) -> str:
    return f"{value:,.2f}"


def money_ro(value: float) -> str:
    return f"{value:,.2f}".replace(",", " ").replace(".", ",").replace(" ", ".")


def hours_text(hours: float, decimal_comma: bool) -> str:
    text = f"{hours:g}"
    return text.replace(".", ",") if decimal_comma else text

"""Donations: one plan of gifts, written as a Stripe payments export and as PayPal activity downloads."""
from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from legatura.flows.demo.cast import UTC, Demo, Person, ascii_fold, cedilla, csv_text, money_en, money_ro, write_file

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
    write_file(demo.landing / "stripe" / name, csv_text([STRIPE_HEADER, *body], newline="\n"))
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
    older = [[cedilla(v) for v in r.fields(money_ro)] for r in ledger if r.at < excel_until]
    original = csv_text([PAYPAL_HEADER, *(r.fields(money_en) for r in recent)], quote_all=True)
    write_file(demo.landing / "paypal" / "Download.CSV", "\ufeff" + original)
    subscriptions = [row for row in older if row[4] == "Subscription Payment"]
    if subscriptions:
        subscriptions[0][12] = ""                    # Transaction ID lost
    gifts_rows = [row for row in older if row[12] and row[10] != demo.donations_email]
    if gifts_rows:
        victim = gifts_rows[len(gifts_rows) // 2]
        victim[0] = "31/02/" + victim[0][-4:]       # a day February never has
    text = csv_text([[cedilla(h) for h in PAYPAL_HEADER], *older], delimiter=";")
    first, last = (ledger[0].at, excel_until) if ledger else (demo.horizon, demo.horizon)
    name = f"Download_{first:%Y-%m}_{last:%Y-%m} (salvat din Excel).csv"
    write_file(demo.landing / "paypal" / name, text.encode("cp1250", errors="replace"))
    return len(recent) + len(older)

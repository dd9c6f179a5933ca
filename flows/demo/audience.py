"""Sign-ups: a Mailchimp audience export, a Google Forms sheet and Eventbrite attendee downloads."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

from legatura.flows.demo.cast import UTC, Demo, Person, ascii_fold, csv_text, mailchimp_csv, write_file

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
        write_file(folder / f"{status}_members_export_{suffix}.csv", mailchimp_csv(rows))
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
    write_file(demo.landing / "forms" / name, csv_text([FORM_HEADER, *body]))
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
        write_file(demo.landing / "eventbrite" / f"{slug}-{day.year}_attendees_{week_before:%Y-%m-%d}.csv",
               csv_text([EVENTBRITE_HEADER, *before]))
        write_file(demo.landing / "eventbrite" / f"{slug}-{day.year}_attendees_{day:%Y-%m-%d}_after-event.csv",
               csv_text([EVENTBRITE_HEADER, *rows]))
        total += len(rows) + len(before)
    return total

"""Volunteering: the shifts of the cast, as volunteer-hours sheets in two header sets and encodings."""
from __future__ import annotations

from datetime import date, timedelta

from legatura.flows.demo.cast import Demo, Person, cedilla, csv_text, hours_text, write_file

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
                            hours_text(hours, False), activity])
        else:
            email, phone = _identify(demo, p)
            row = [f"{day:%d.%m.%Y}", email.strip(), phone, p.name, hours_text(hours, True), activity]
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
    write_file(demo.landing / "volunteers" / f"volunteer_hours_{today.year}.csv", csv_text([header_en, *english]))
    total = len(english)
    for rows, encoding, label in ((oldest, "cp1250", "Excel, Windows-1250"), (middle, "utf-8-sig", "Excel, UTF-8")):
        year = today.year - (2 if rows is oldest else 1)
        rows.insert(len(rows) // 2, [f"30.02.{year}", rows[0][1] if rows else "", rows[0][2] if rows else "0722 000 111",
                                     rows[0][3] if rows else "Ion Ionescu", "2", "Administrativ"])
        if not rows[len(rows) // 2][1] and not rows[len(rows) // 2][2]:
            rows[len(rows) // 2][2] = "0722 000 111"
        text = csv_text([header_ro, *rows], delimiter=";")
        if encoding == "cp1250":
            data = cedilla(text).encode("cp1250", errors="replace")
        else:
            data = text.encode("utf-8-sig")
        write_file(demo.landing / "volunteers" / f"pontaj_voluntari_{year} ({label}).csv", data)
        total += len(rows)
    return total

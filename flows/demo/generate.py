"""The demo's data: realistic generated exports for every channel, in their real layouts.

`generate_demo_data` writes deterministic (seeded) exports into landing/<channel>/ in exactly the
layouts of tests/data/formats (headers, encodings, delimiters, quoting, line endings, number and
time formats), with the same people recurring across channels and a few deliberately broken
records (the same breakages as the samples) so that quarantine has something to show.
"""
from __future__ import annotations

from datetime import date
from pathlib import Path

from legatura.flows.config import Settings
from legatura.flows.demo.audience import write_eventbrite, write_forms, write_mailchimp
from legatura.flows.demo.cast import Demo
from legatura.flows.demo.conversations import write_facebook, write_twilio
from legatura.flows.demo.mail import write_email
from legatura.flows.demo.partners import write_partners
from legatura.flows.demo.payments import plan_gifts, write_paypal, write_stripe
from legatura.flows.demo.volunteers import plan_shifts, write_volunteers

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

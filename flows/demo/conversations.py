"""Conversations: Twilio inbound SMS as JSON lines and Facebook page message threads."""
from __future__ import annotations

import json
import math
import string
from datetime import datetime, timedelta

from legatura.flows.demo.cast import Demo, Person, ascii_fold, mojibake, write_file

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
        write_file(demo.landing / "twilio" / f"inbound_sms_{year}.jsonl", text)
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
        write_file(root / folder / "message_1.json", json.dumps(thread, indent=2, ensure_ascii=True) + "\n")
        total += len(messages)
    return total

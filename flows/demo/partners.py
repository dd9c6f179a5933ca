"""Partner agreements as YAML, every field of an agreement and its shapes."""
from __future__ import annotations

import json
import string
from datetime import date, timedelta

from legatura.flows.demo.cast import ORGANISATIONS, Demo, Person, ascii_fold, write_file

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
    write_file(demo.landing / "partners" / "acorduri_parteneriat.yaml", "\n".join(out[:-1]) + "\n")
    return len(plans)

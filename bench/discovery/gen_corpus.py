#!/usr/bin/env python3
"""Generate a labelled corpus for `palisade scan` and Presidio.

Writes into OUT (default bench/discovery/corpus):
  pii.txt       PII-dense text: every line holds one or more labelled values, plus distractors
                (invalid cards, version strings, order numbers, bare 9-digit numbers...)
  labels.jsonl  one {"start", "end", "type"} per labelled value (byte offsets into pii.txt)
  clean.txt     text without PII (prose, numbers, dates, amounts)

Values come from Faker (pinned in requirements.txt) where it produces valid ones (names, emails,
URLs, IPs, card numbers with Luhn, IBANs with mod-97, SSNs); phone numbers are drawn from valid
NANP/UK ranges here. The seed makes the corpus reproducible.
"""

import argparse
import json
import os
import random

from faker import Faker

TYPES = ["CREDIT_CARD", "EMAIL", "IBAN", "IP_ADDRESS", "US_SSN", "URL", "PHONE_NUMBER", "PERSON"]

WORDS = (
    "the system records were updated after review and all teams agreed that quarterly results "
    "show growth in several regions while costs remained stable overall performance improved "
    "compared with last year report meeting scheduled project milestone delivered on time budget "
    "office committee approved plan for development of new features customers requested during "
    "survey analysis data pipeline invoice shipment warehouse support ticket release notes"
).split()


def luhn_ok(num):
    total = 0
    for i, ch in enumerate(reversed(num)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)
        self.f = Faker("en_US")
        self.f.seed_instance(seed)
        self.f_gb = Faker("en_GB")
        self.f_gb.seed_instance(seed + 1)
        self.f_de = Faker("de_DE")
        self.f_de.seed_instance(seed + 2)
        self.f_fr = Faker("fr_FR")
        self.f_fr.seed_instance(seed + 3)

    def words(self, n):
        return " ".join(self.r.choice(WORDS) for _ in range(n))

    def card(self):
        kind = self.r.choice(["visa16", "mastercard", "amex", "discover", "jcb", "diners"])
        num = self.f.credit_card_number(card_type=kind)
        style = self.r.random()
        if style < 0.4 and len(num) == 16:
            num = " ".join(num[i : i + 4] for i in range(0, 16, 4))
        elif style < 0.55 and len(num) == 16:
            num = "-".join(num[i : i + 4] for i in range(0, 16, 4))
        return num

    def iban(self):
        fk = self.r.choice([self.f_gb, self.f_de, self.f_fr])
        iban = fk.iban()
        if self.r.random() < 0.5:
            iban = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
        return iban

    def ssn(self):
        while True:
            s = self.f.ssn()
            if s not in ("078-05-1120", "219-09-9999", "123-45-6789"):
                return s

    def phone(self):
        r = self.r
        area = f"{r.randint(2, 9)}{r.randint(0, 9)}{r.randint(0, 9)}"
        if area[1:] == "11":
            area = "212"
        exch = f"{r.randint(2, 9)}{r.randint(0, 9)}{r.randint(0, 9)}"
        line = f"{r.randint(0, 9999):04d}"
        return r.choice(
            [
                f"({area}) {exch}-{line}",
                f"{area}-{exch}-{line}",
                f"{area}.{exch}.{line}",
                f"+1 {area} {exch} {line}",
                f"+1-{area}-{exch}-{line}",
                f"+44 7{r.randint(100, 999)} {r.randint(100000, 999999)}",
            ]
        )

    def ip(self):
        return self.f.ipv4() if self.r.random() < 0.85 else self.f.ipv6()

    def url(self):
        u = self.f.url()
        if self.r.random() < 0.5:
            u = u.rstrip("/") + "/" + self.f.uri_path()
        return u


# Templates: (text with {slot}s, slot types). A slot of type None is a distractor (not labelled).
TEMPLATES = [
    ("Payment received from card {CREDIT_CARD} for invoice {ORDER}.", None),
    ("Customer {PERSON} paid with credit card number {CREDIT_CARD}.", None),
    ("Please update the card on file: {CREDIT_CARD}, thanks.", None),
    ("Contact {PERSON} at {EMAIL} about the renewal.", None),
    ("Send the report to {EMAIL} before Friday.", None),
    ("Wire the refund to IBAN {IBAN} today.", None),
    ("Beneficiary account {IBAN} ({PERSON}).", None),
    ("Login from {IP_ADDRESS} was blocked by the firewall.", None),
    ("The server at {IP_ADDRESS} answered in {MS} ms.", None),
    ("SSN: {US_SSN}", None),
    ("Her social security number is {US_SSN} according to the form.", None),
    ("Employee {PERSON}, SSN {US_SSN}, started in {YEAR}.", None),
    ("See {URL} for the release notes.", None),
    ("Download it from {URL} and run the installer.", None),
    ("Call {PERSON} on {PHONE_NUMBER} after lunch.", None),
    ("Phone: {PHONE_NUMBER}", None),
    ("Reach support at {PHONE_NUMBER} or {EMAIL}.", None),
    ("Meeting with {PERSON} moved to room {ROOM}.", None),
    # Distractors only: nothing here is PII.
    ("Order {ORDER} shipped with tracking {TRACK} on {DATE}.", None),
    ("Upgrade to version {VERSION} fixed {N} issues; build {BUILD}.", None),
    ("Card ending {LAST4}, amount {AMOUNT} USD, reference {BADCARD}.", None),
    ("Ticket {NINE} was closed after {N} days.", None),
]


def render(g, template):
    """Fill a template; return (line, [(start, end, type)] relative to the line)."""
    out = ""
    labels = []
    rest = template
    while "{" in rest:
        pre, _, after = rest.partition("{")
        slot, _, rest = after.partition("}")
        out += pre
        r = g.r
        if slot in TYPES:
            value = {
                "CREDIT_CARD": g.card,
                "EMAIL": g.f.email,
                "IBAN": g.iban,
                "IP_ADDRESS": g.ip,
                "US_SSN": g.ssn,
                "URL": g.url,
                "PHONE_NUMBER": g.phone,
                "PERSON": lambda: f"{g.f.first_name()} {g.f.last_name()}",
            }[slot]()
            start = len(out.encode())
            out += value
            labels.append((start, len(out.encode()), slot))
        else:
            out += {
                "ORDER": lambda: f"#{r.randint(10000, 99999999)}",
                "MS": lambda: str(r.randint(1, 900)),
                "YEAR": lambda: str(r.randint(1990, 2025)),
                "ROOM": lambda: f"{r.randint(1, 40)}{r.choice('ABC')}",
                "TRACK": lambda: f"1Z{r.randint(10**15, 10**16 - 1)}",
                "DATE": lambda: f"{r.randint(2019, 2026)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}",
                "VERSION": lambda: f"{r.randint(1, 9)}.{r.randint(0, 20)}.{r.randint(0, 99)}.{r.randint(0, 999)}",
                "N": lambda: str(r.randint(2, 300)),
                "BUILD": lambda: str(r.randint(10**5, 10**7)),
                "LAST4": lambda: f"{r.randint(0, 9999):04d}",
                "AMOUNT": lambda: f"{r.randint(1, 99999)}.{r.randint(0, 99):02d}",
                "BADCARD": lambda: bad_card(r),
                "NINE": lambda: str(r.randint(10**8, 10**9 - 1)),
            }[slot]()
    out += rest
    return out, labels


def bad_card(r):
    """A 16-digit number with a card prefix that fails Luhn: must not be reported."""
    while True:
        n = "4" + "".join(str(r.randint(0, 9)) for _ in range(15))
        if not luhn_ok(n):
            return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "corpus"))
    ap.add_argument("--pii-mb", type=float, default=4.0)
    ap.add_argument("--clean-mb", type=float, default=64.0)
    ap.add_argument("--seed", type=int, default=20260701)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    g = Gen(a.seed)

    target = int(a.pii_mb * 1e6)
    offset = 0
    with open(os.path.join(a.out, "pii.txt"), "wb") as text, open(
        os.path.join(a.out, "labels.jsonl"), "w"
    ) as labels:
        while offset < target:
            tmpl, _ = g.r.choice(TEMPLATES)
            # Some prose before the values, as in real documents.
            prefix = g.words(g.r.randint(3, 10)).capitalize() + ". " if g.r.random() < 0.5 else ""
            line, spans = render(g, tmpl)
            shift = len(prefix.encode())
            data = (prefix + line + "\n").encode()
            text.write(data)
            for s, e, t in spans:
                labels.write(json.dumps({"start": offset + s + shift, "end": offset + e + shift, "type": t}) + "\n")
            offset += len(data)

    target = int(a.clean_mb * 1e6)
    r = g.r
    with open(os.path.join(a.out, "clean.txt"), "w") as clean:
        size = 0
        while size < target:
            s = g.words(r.randint(8, 18)).capitalize() + ". "
            if r.random() < 0.15:
                s += f"In {r.randint(1990, 2025)} we shipped {r.randint(2, 900)} units for {r.randint(10, 99999)}.{r.randint(0, 99):02d} USD. "
            if r.random() < 0.3:
                s += "\n"
            clean.write(s)
            size += len(s)


if __name__ == "__main__":
    main()

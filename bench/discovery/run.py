#!/usr/bin/env python3
"""Speed and accuracy of `palisade scan`, with Presidio side by side on the same corpus.

  python3 bench/discovery/run.py --scan "target/release/palisade scan" [--corpus DIR]

Reports MB/s per core (CPU time of a one-thread scan, so other load on the machine does not
skew it) on corpus/pii.txt and corpus/clean.txt, then precision and recall per type on the
first --lines lines of pii.txt for palisade and for Presidio (presidio-analyzer's pattern and
phone recognizers; no spaCy model is installable from PyPI here, so PERSON is not detected by
Presidio in this run).

A detection counts as a true positive when it overlaps a labelled value of the same type; each
labelled value is matched at most once.
"""

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import time

OURS = {
    "CREDIT_CARD_NUMBER": "CREDIT_CARD",
    "CREDIT_CARD_NUMBER_(NO_KEYWORD)": "CREDIT_CARD",
    "EMAIL_ADDRESS": "EMAIL",
    "IP_ADDRESS": "IP_ADDRESS",
    "USA_SOCIAL_SECURITY_NUMBER": "US_SSN",
    "URL": "URL",
    "NAME": "PERSON",
}
PRESIDIO = {
    "CREDIT_CARD": "CREDIT_CARD",
    "EMAIL_ADDRESS": "EMAIL",
    "IBAN_CODE": "IBAN",
    "IP_ADDRESS": "IP_ADDRESS",
    "US_SSN": "US_SSN",
    "URL": "URL",
    "PHONE_NUMBER": "PHONE_NUMBER",
    "PERSON": "PERSON",
}
TYPES = ["CREDIT_CARD", "EMAIL", "IBAN", "IP_ADDRESS", "US_SSN", "URL", "PHONE_NUMBER", "PERSON"]


def our_type(t):
    if t in OURS:
        return OURS[t]
    if t.endswith("PHONE_NUMBER"):
        return "PHONE_NUMBER"
    if t.endswith("_BANK_ACCOUNT_NUMBER"):
        return "IBAN"
    return None


def cpu_children():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_scan(cmd, path, extra=()):
    argv = shlex.split(cmd) + ["--format", "jsonl", "--threads", "1", "--no-progress",
                               "--max-file-size", "4G", *extra, path]
    c0 = cpu_children()
    w0 = time.time()
    p = subprocess.run(argv, capture_output=True)
    wall = time.time() - w0
    cpu = cpu_children() - c0
    if p.returncode not in (0, 1):
        sys.exit(f"scan failed ({p.returncode}): {p.stderr.decode()}")
    dets = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
    return dets, cpu, wall


def score(gold, found):
    """gold, found: lists of (start, end, type). Returns {type: (tp, fp, fn)}."""
    out = {}
    for t in TYPES:
        g = sorted((s, e) for s, e, tt in gold if tt == t)
        f = sorted((s, e) for s, e, tt in found if tt == t)
        used = set()
        tp = fp = 0
        import bisect

        starts = [s for s, _ in g]
        for s, e in f:
            i = bisect.bisect_right(starts, e) - 1
            hit = None
            while i >= 0 and i >= bisect.bisect_left(starts, s - 200):
                gs, ge = g[i]
                if gs < e and s < ge and i not in used:
                    hit = i
                    break
                i -= 1
            if hit is None:
                fp += 1
            else:
                used.add(hit)
                tp += 1
        out[t] = (tp, fp, len(g) - len(used))
    return out


def fmt(x):
    return "-" if x is None else f"{x:.3f}"


def pr(tp, fp, fn):
    p = tp / (tp + fp) if tp + fp else None
    r = tp / (tp + fn) if tp + fn else None
    return p, r


def presidio_run(lines):
    # Presidio's URL recognizer calls tldextract, which would download the public suffix list;
    # use the snapshot bundled with tldextract instead (no network here, and none needed).
    import tldextract
    import tldextract.tldextract as tx

    tx.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        EmailRecognizer,
        IbanRecognizer,
        IpRecognizer,
        PhoneRecognizer,
        UrlRecognizer,
        UsSsnRecognizer,
    )

    recs = [
        (CreditCardRecognizer(), ["CREDIT_CARD"]),
        (EmailRecognizer(), ["EMAIL_ADDRESS"]),
        (IbanRecognizer(), ["IBAN_CODE"]),
        (IpRecognizer(), ["IP_ADDRESS"]),
        (PhoneRecognizer(), ["PHONE_NUMBER"]),
        (UrlRecognizer(), ["URL"]),
        (UsSsnRecognizer(), ["US_SSN"]),
    ]
    found = []
    offset = 0
    t0 = time.process_time()
    for line in lines:
        text = line.decode("utf-8", "replace")
        for rec, ents in recs:
            for r in rec.analyze(text, ents, None) or []:
                # Presidio's default score threshold for the AnalyzerEngine is 0: keep all.
                t = PRESIDIO.get(r.entity_type)
                if t:
                    s = offset + len(text[: r.start].encode())
                    e = offset + len(text[: r.end].encode())
                    found.append((s, e, t))
        offset += len(line)
    return found, time.process_time() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scan", required=True, help='command prefix, e.g. "target/release/palisade scan"')
    ap.add_argument("--corpus", default=os.path.join(os.path.dirname(__file__), "corpus"))
    ap.add_argument("--lines", type=int, default=20000, help="lines of pii.txt for the accuracy table")
    ap.add_argument("--no-presidio", action="store_true")
    ap.add_argument("--json", help="also write the figures to this file")
    a = ap.parse_args()

    pii = os.path.join(a.corpus, "pii.txt")
    clean = os.path.join(a.corpus, "clean.txt")
    results = {"speed": {}, "accuracy": {}}

    print("## Speed (one thread, MB per CPU-second)\n")
    print("| input | size MB | palisade MB/s | detections |")
    print("|---|---|---|---|")
    for name, path in (("PII-dense (pii.txt)", pii), ("no PII (clean.txt)", clean)):
        size = os.path.getsize(path) / 1e6
        dets, cpu, _ = run_scan(a.scan, path)
        results["speed"][name] = {"mb": size, "mb_per_s": size / cpu, "detections": len(dets)}
        print(f"| {name} | {size:.1f} | {size / cpu:.1f} | {len(dets)} |")

    with open(pii, "rb") as f:
        lines = f.readlines()[: a.lines]
    limit = sum(len(l) for l in lines)
    gold = []
    with open(os.path.join(a.corpus, "labels.jsonl")) as f:
        for l in f:
            d = json.loads(l)
            if d["end"] <= limit:
                gold.append((d["start"], d["end"], d["type"]))

    dets, _, _ = run_scan(a.scan, pii)
    ours = [
        (d["offset"], d["offset"] + d["length"], our_type(d["type"]))
        for d in dets
        if d["offset"] + d["length"] <= limit and our_type(d["type"])
    ]
    s_ours = score(gold, ours)
    s_pres = None
    pres_speed = None
    if not a.no_presidio:
        try:
            found, cpu = presidio_run(lines)
            s_pres = score(gold, found)
            pres_speed = limit / 1e6 / cpu
        except ImportError as e:
            print(f"\n(presidio not available: {e})")

    print(f"\n## Accuracy on the first {len(lines)} lines ({limit / 1e6:.2f} MB, {len(gold)} labelled values)\n")
    print("| type | labelled | palisade P | palisade R | presidio P | presidio R |")
    print("|---|---|---|---|---|---|")
    for t in TYPES:
        p1, r1 = pr(*s_ours[t])
        p2, r2 = pr(*s_pres[t]) if s_pres else (None, None)
        n = s_ours[t][0] + s_ours[t][2]
        results["accuracy"][t] = {"labelled": n, "palisade": [p1, r1], "presidio": [p2, r2]}
        print(f"| {t} | {n} | {fmt(p1)} | {fmt(r1)} | {fmt(p2)} | {fmt(r2)} |")
    if pres_speed:
        results["presidio_mb_per_s"] = pres_speed
        print(f"\nPresidio (pattern + phone recognizers, per line, one core): {pres_speed:.3f} MB/s")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()

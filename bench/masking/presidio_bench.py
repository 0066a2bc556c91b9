"""presidio-anonymizer on the same values as mask_bench: one JSON line per operator.

Presidio has no HMAC (its hash is a salted SHA-256), no deterministic encryption (its encrypt
is AES-CBC with a random IV), no format-preserving encryption and no date shift (a custom
lambda stands in), so the closest operator is measured and named in "transform".
"""
import csv
import datetime
import json
import sys
import time

from presidio_anonymizer import AnonymizerEngine
from presidio_anonymizer.entities import OperatorConfig, RecognizerResult

path, limit = sys.argv[1], int(sys.argv[2])
with open(path, newline="") as f:
    reader = csv.reader(f)
    header = next(reader)
    rows = [row for _, row in zip(range(limit), reader)]
engine = AnonymizerEngine()
version = "presidio-anonymizer 2.2.366"


def bench(column, label, operator):
    col = header.index(column)
    values = [row[col] for row in rows]
    start = time.perf_counter()
    for v in values:
        engine.anonymize(
            text=v,
            analyzer_results=[RecognizerResult("X", 0, len(v), 1.0)],
            operators={"X": operator},
        )
    secs = time.perf_counter() - start
    print(json.dumps({"tool": version, "column": column, "transform": label, "values": len(values),
                      "seconds": round(secs, 3), "values_per_sec": round(len(values) / secs)}))


def shift(value):
    return (datetime.date.fromisoformat(value) + datetime.timedelta(days=7)).isoformat()


bench("card", "mask (keep last 4)", OperatorConfig("mask", {"masking_char": "*", "chars_to_mask": 15, "from_end": False}))
bench("email", "hash sha256 + fixed salt (no hmac)", OperatorConfig("hash", {"hash_type": "sha256", "salt": "bench-salt-16bytes"}))
bench("name", "encrypt aes-cbc, random iv (no deterministic)", OperatorConfig("encrypt", {"key": "WmZq4t7w!z%C&F)J"}))
print(json.dumps({"tool": version, "column": "account", "transform": "ff1: not available", "values": 0}))
bench("dob", "custom lambda date shift", OperatorConfig("custom", {"lambda": shift}))

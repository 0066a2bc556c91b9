#!/usr/bin/env python3
"""Extract the IAM policy validation vectors from moto's test suite into JSON.

The vectors (documents and AWS's MalformedPolicyDocument messages) are data;
no moto code is copied. The list literals are read with `ast.literal_eval`,
so nothing from the sdist is executed.

Usage:
    pip download --no-deps --no-binary :all: moto==5.2.5 -d /tmp/moto
    tar xzf /tmp/moto/moto-5.2.5.tar.gz -C /tmp/moto
    python3 crates/policy/scripts/extract_moto_vectors.py \
        /tmp/moto/moto-5.2.5/tests/test_iam/test_iam_policies.py \
        > crates/policy/tests/data/moto_policy_vectors.json
"""

import ast
import json
import sys


def main() -> None:
    src = open(sys.argv[1], encoding="utf-8").read()
    tree = ast.parse(src)
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name) and target.id in (
                "invalid_policy_document_test_cases",
                "valid_policy_documents",
            ):
                found[target.id] = ast.literal_eval(node.value)
    invalid = [
        {
            # moto sends json.dumps(document); a str document is sent verbatim.
            "document": case["document"]
            if isinstance(case["document"], str)
            else json.dumps(case["document"]),
            "error_message": case["error_message"],
        }
        for case in found["invalid_policy_document_test_cases"]
    ]
    valid = [json.dumps(doc) for doc in found["valid_policy_documents"]]
    out = {
        "source": "moto 5.2.5 tests/test_iam/test_iam_policies.py",
        "invalid": invalid,
        "valid": valid,
    }
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

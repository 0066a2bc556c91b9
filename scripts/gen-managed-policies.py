#!/usr/bin/env python3
"""Regenerates crates/server/src/iam/managed_data.rs, the AWS-managed policies Palisade serves.

    python3 scripts/gen-managed-policies.py MIRROR

MIRROR is a checkout of a mirror of AWS's managed policies in the layout of `aws iam
list-policies --scope AWS` (`policies-list.json`) plus one `aws iam get-policy-version` answer per
policy (`policies/<PolicyName>`), such as github.com/zoph-io/MAMIP. Names, paths, ids, default
versions and dates come from the list; documents from the version answers.

Documents keep the statements of the services Palisade serves (SERVED): a statement's `Action`
list is cut to those services' actions, and a statement left with none is dropped, so that
evaluation does not walk thousands of other services' patterns on every request. A policy with no
statement for a served service (a Lambda or EMR service-role policy) keeps its whole document.
`NotAction` statements are kept as they are: they already speak of every service. Add a service
to SERVED when Palisade serves it, and run this again.
"""

import json
import os
import subprocess
import sys

SERVED = ("iam", "sts", "kms", "secretsmanager", "cloudtrail")

# The policies Palisade ships, with AWS's descriptions (the list has none).
POLICIES = {
    "AdministratorAccess": "Provides full access to AWS services and resources.",
    "PowerUserAccess": "Provides full access to AWS services and resources, but does not allow management of Users and groups.",
    "ReadOnlyAccess": "Provides read-only access to AWS services and resources.",
    "SecurityAudit": "The security audit template grants access to read security configuration metadata. It is useful for software that audits the configuration of an AWS account.",
    "SystemAdministrator": "Grants full access permissions necessary for resources required for application and network operations.",
    "ViewOnlyAccess": "This policy grants permissions to view resources and basic metadata across all AWS services.",
    "SupportUser": "This policy grants permissions to troubleshoot and resolve issues in an AWS account. This policy also enables the user to contact AWS support to create and manage cases.",
    "IAMFullAccess": "Provides full access to IAM via the AWS Management Console.",
    "IAMReadOnlyAccess": "Provides read only access to IAM via the AWS Management Console.",
    "IAMUserChangePassword": "Provides the ability for an IAM user to change their own password.",
    "IAMSelfManageServiceSpecificCredentials": "Allows an IAM user to manage their own Service Specific Credentials",
    "IAMUserSSHKeys": "Provides the ability for an IAM user to manage their own SSH keys.",
    "AWSKeyManagementServicePowerUser": "Provides access to AWS Key Management Service (KMS).",
    "SecretsManagerReadWrite": "Provides read/write access to AWS Secrets Manager via the AWS Management Console. Note: this exclude IAM actions, so combine with IAMFullAccess if rotation configuration is required.",
    "AWSSecretsManagerClientReadOnlyAccess": "Provides access to retrieve and describe secrets from Secrets Manager. This policy also allows decrypting KMS keys for Secrets Manager secrets.",
    "AWSCloudTrail_FullAccess": "Provides full access to AWS CloudTrail.",
    "AWSCloudTrail_ReadOnlyAccess": "Provides read only access to AWS CloudTrail.",
    "CloudTrailServiceRolePolicy": "Policy for the AWS CloudTrail service-linked role",
    "AWSLambdaBasicExecutionRole": "Provides write permissions to CloudWatch Logs.",
    "AmazonElasticMapReduceRole": "Default policy for the Amazon Elastic MapReduce service role.",
    "AmazonElasticMapReduceforEC2Role": "Default policy for the Amazon Elastic MapReduce for EC2 service role.",
}


def read(mirror, path):
    full = os.path.join(mirror, path)
    if os.path.exists(full):
        with open(full, encoding="utf-8") as f:
            return f.read()
    # A bare git directory (a mirror fetched without a work tree).
    return subprocess.check_output(["git", "-C", mirror, "show", f"HEAD:{path}"], text=True)


def served(action):
    return action == "*" or action.split(":", 1)[0].lower() in SERVED


def cut(document):
    statements = document["Statement"]
    if isinstance(statements, dict):
        statements = [statements]
    kept = []
    for st in statements:
        if "Action" not in st:
            kept.append(st)
            continue
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        mine = [a for a in actions if served(a)]
        if mine:
            kept.append({**st, "Action": mine if isinstance(st["Action"], list) else mine[0]})
    if not kept:
        return document
    return {**document, "Statement": kept}


def epoch(iso):
    from datetime import datetime

    return int(datetime.fromisoformat(iso).timestamp())


def rust_str(s):
    # A raw string with enough hashes that the text cannot close it.
    hashes = "#"
    while f'"{hashes}' in s:
        hashes += "#"
    return f'r{hashes}"{s}"{hashes}'


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    mirror = sys.argv[1]
    listed = {p["PolicyName"]: p for p in json.loads(read(mirror, "policies-list.json"))["Policies"]}
    out = [
        "// @generated by scripts/gen-managed-policies.py from a mirror of AWS's managed policies;",
        "// do not edit. Documents keep the statements of the services Palisade serves (see the script).",
        "",
        "use super::managed::AwsPolicy;",
        "",
        "/// Every AWS-managed policy Palisade knows.",
        "pub static POLICIES: &[AwsPolicy] = &[",
    ]
    for name, description in POLICIES.items():
        p = listed[name]
        version = json.loads(read(mirror, f"policies/{name}"))["PolicyVersion"]
        if version["VersionId"] != p["DefaultVersionId"]:
            sys.exit(f"{name}: the list's default version {p['DefaultVersionId']} is not the mirrored {version['VersionId']}")
        document = json.dumps(cut(version["Document"]), separators=(",", ":"))
        out += [
            "    AwsPolicy {",
            f"        name: {json.dumps(name)},",
            f"        path: {json.dumps(p['Path'])},",
            f"        id: {json.dumps(p['PolicyId'])},",
            f"        description: {json.dumps(description)},",
            f"        version: {json.dumps(p['DefaultVersionId'])},",
            f"        created: {epoch(p['CreateDate'])},",
            f"        updated: {epoch(p['UpdateDate'])},",
            f"        document: {rust_str(document)},",
            "    },",
        ]
    out += ["];", ""]
    target = os.path.join(os.path.dirname(__file__), "..", "crates", "server", "src", "iam", "managed_data.rs")
    with open(target, "w", encoding="utf-8") as f:
        f.write("\n".join(out))


if __name__ == "__main__":
    main()

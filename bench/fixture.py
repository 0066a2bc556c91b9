"""Creates what a service benchmark calls (a KMS key and a ciphertext, a secret) on a running
server, and prints one `operation<TAB>json-body` line per operation to measure."""

import argparse
import configparser
import json
import signal

import boto3


def main():
    # The scripts read the first line and close the pipe: that is not an error.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--credentials", required=True)
    p.add_argument("--profile", default="palisade")
    p.add_argument("--service", required=True, choices=["kms", "secretsmanager"])
    a = p.parse_args()
    creds = configparser.ConfigParser()
    creds.read(a.credentials)
    section = creds[a.profile]
    client = boto3.client(
        a.service,
        endpoint_url=a.endpoint,
        region_name="us-east-1",
        aws_access_key_id=section["aws_access_key_id"],
        aws_secret_access_key=section["aws_secret_access_key"],
    )
    if a.service == "kms":
        key = client.create_key(Description="bench")["KeyMetadata"]["Arn"]
        context = {"purpose": "bench"}
        blob = client.encrypt(KeyId=key, Plaintext=b"k" * 32, EncryptionContext=context)
        ops = {
            "kms:Encrypt": {"KeyId": key, "Plaintext": "a" * 44, "EncryptionContext": context},
            "kms:Decrypt": {
                "CiphertextBlob": __import__("base64").b64encode(blob["CiphertextBlob"]).decode(),
                "EncryptionContext": context,
            },
            "kms:GenerateDataKey": {"KeyId": key, "KeySpec": "AES_256", "EncryptionContext": context},
        }
    else:
        arn = client.create_secret(Name="bench/db", SecretString=json.dumps({"password": "x" * 32}))["ARN"]
        ops = {"secretsmanager:GetSecretValue": {"SecretId": arn}}
    for op, body in ops.items():
        print(f"{op}\t{json.dumps(body)}")


if __name__ == "__main__":
    main()

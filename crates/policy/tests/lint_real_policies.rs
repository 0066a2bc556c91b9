//! Real-world policies (from AWS documentation examples) must validate
//! without errors: guards the linter against false positives.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use palisade_policy::PolicyKind;
use palisade_policy::lint::{Severity, render_table, validate_policy};

const CASES: &[(&str, PolicyKind, &str)] = &[
    (
        "bucket policy enforcing TLS",
        PolicyKind::Resource,
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"DenyInsecure","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::my-bucket","arn:aws:s3:::my-bucket/*"],"Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#,
    ),
    (
        "default KMS key policy",
        PolicyKind::Resource,
        r#"{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},{"Sid":"AllowS3","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/App"},"Action":["kms:Decrypt","kms:GenerateDataKey"],"Resource":"*","Condition":{"StringEquals":{"kms:ViaService":"s3.us-east-1.amazonaws.com","kms:EncryptionContext:aws:s3:arn":"arn:aws:s3:::my-bucket"}}}]}"#,
    ),
    (
        "ABAC on EC2 tags",
        PolicyKind::Identity,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:StartInstances","ec2:StopInstances"],"Resource":"arn:aws:ec2:*:*:instance/*","Condition":{"StringEquals":{"aws:ResourceTag/Project":"${aws:PrincipalTag/Project}"}}},{"Effect":"Allow","Action":"ec2:DescribeInstances","Resource":"*"}]}"#,
    ),
    (
        "GitHub OIDC trust policy",
        PolicyKind::Trust,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com"},"StringLike":{"token.actions.githubusercontent.com:sub":"repo:org/repo:*"}}}]}"#,
    ),
    (
        "service trust policy",
        PolicyKind::Trust,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
    ),
    (
        "tagging with request tags",
        PolicyKind::Identity,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:TagUser","iam:TagRole"],"Resource":"*","Condition":{"StringEquals":{"aws:RequestTag/CostCenter":["A-123","B-456"]},"ForAllValues:StringEquals":{"aws:TagKeys":"CostCenter"}}}]}"#,
    ),
    (
        "secrets manager read with a date window",
        PolicyKind::Identity,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db-AbCdEf","Condition":{"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"},"IpAddress":{"aws:SourceIp":["203.0.113.0/24","2001:db8::/32"]},"NumericLessThan":{"aws:MultiFactorAuthAge":"3600"}}}]}"#,
    ),
    (
        "SCP region deny",
        PolicyKind::Scp,
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"DenyOutsideRegions","Effect":"Deny","NotAction":["iam:*","organizations:*","sts:*"],"Resource":"*","Condition":{"StringNotEquals":{"aws:RequestedRegion":["eu-west-1","us-east-1"]},"ArnNotLike":{"aws:PrincipalARN":"arn:aws:iam::*:role/Admin"}}}]}"#,
    ),
    (
        "RCP enforcing the organization",
        PolicyKind::Rcp,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":["s3:*","sqs:*","kms:*","secretsmanager:*","sts:AssumeRole"],"Resource":"*","Condition":{"StringNotEqualsIfExists":{"aws:PrincipalOrgID":"o-abc123"},"BoolIfExists":{"aws:PrincipalIsAWSService":"false"}}}]}"#,
    ),
];

#[test]
fn real_policies_have_no_errors() {
    for (name, kind, doc) in CASES {
        let findings = validate_policy(doc, *kind);
        let bad: Vec<_> = findings
            .iter()
            .filter(|f| f.severity <= Severity::Warning)
            .cloned()
            .collect();
        assert!(bad.is_empty(), "{name}:\n{}", render_table(&bad));
    }
}

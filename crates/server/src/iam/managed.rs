//! AWS-managed policies (`arn:aws:iam::aws:policy/...`): the account-wide job-function policies
//! and the full-access and read-only policies of the services Palisade serves, with their real
//! ARNs, paths and documents. Policies of services Palisade does not serve that tools commonly
//! attach (Lambda's and EMR's service roles) are present with abbreviated documents, which only
//! matter if those services are ever served.

/// One AWS-managed policy.
#[derive(Debug)]
pub struct AwsPolicy {
    /// The name.
    pub name: &'static str,
    /// The path.
    pub path: &'static str,
    /// The stable id (`ANPA…`).
    pub id: &'static str,
    /// The description.
    pub description: &'static str,
    /// The default version's id.
    pub version: &'static str,
    /// The default version's document.
    pub document: &'static str,
}

impl AwsPolicy {
    /// The ARN.
    pub fn arn(&self) -> String {
        format!("arn:aws:iam::aws:policy{}{}", self.path, self.name)
    }
}

/// When the AWS-managed policies were created, as IAM reports it (2015-02-06, when most were).
pub const CREATED: i64 = 1_423_267_200;

/// Every AWS-managed policy Palisade knows.
pub static POLICIES: &[AwsPolicy] = &[
    AwsPolicy {
        name: "AdministratorAccess",
        path: "/",
        id: "ANPAIWMBCKSKIEE64ZLYK",
        description: "Provides full access to AWS services and resources.",
        version: "v1",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
    },
    AwsPolicy {
        name: "PowerUserAccess",
        path: "/",
        id: "ANPAJYRXTHIB4FOVS3ZXS",
        description: "Provides full access to AWS services and resources, but does not allow management of Users and groups.",
        version: "v5",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":["iam:*","organizations:*","account:*"],"Resource":"*"},{"Effect":"Allow","Action":["iam:CreateServiceLinkedRole","iam:DeleteServiceLinkedRole","iam:ListRoles","organizations:DescribeOrganization","account:ListRegions","account:GetAccountInformation"],"Resource":"*"}]}"#,
    },
    AwsPolicy {
        name: "ReadOnlyAccess",
        path: "/",
        id: "ANPAILL3HVNFSB6DCOWYQ",
        description: "Provides read-only access to AWS services and resources.",
        version: "v1",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["cloudtrail:Describe*","cloudtrail:Get*","cloudtrail:List*","cloudtrail:LookupEvents","iam:Generate*","iam:Get*","iam:List*","iam:Simulate*","kms:Describe*","kms:Get*","kms:List*","secretsmanager:DescribeSecret","secretsmanager:GetResourcePolicy","secretsmanager:ListSecrets","secretsmanager:ListSecretVersionIds","sts:GetCallerIdentity"],"Resource":"*"}]}"#,
    },
    AwsPolicy {
        name: "SecurityAudit",
        path: "/",
        id: "ANPAIX2T3QCXHR2OGGCTO",
        description: "The security audit template grants access to read security configuration metadata.",
        version: "v1",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["cloudtrail:Describe*","cloudtrail:Get*","cloudtrail:ListTags","cloudtrail:LookupEvents","iam:GenerateCredentialReport","iam:Get*","iam:List*","iam:SimulateCustomPolicy","iam:SimulatePrincipalPolicy","kms:Describe*","kms:Get*","kms:List*","secretsmanager:DescribeSecret","secretsmanager:GetResourcePolicy","secretsmanager:ListSecrets","secretsmanager:ListSecretVersionIds"],"Resource":"*"}]}"#,
    },
    AwsPolicy {
        name: "SystemAdministrator",
        path: "/job-function/",
        id: "ANPAITJPEZXCYCBXANDSW",
        description: "Grants full access permissions necessary for resources required for application and network operations.",
        version: "v1",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["cloudtrail:DescribeTrails","cloudtrail:GetTrailStatus","cloudtrail:LookupEvents","iam:GetRole","iam:GetRolePolicy","iam:ListAttachedRolePolicies","iam:ListRolePolicies","iam:ListRoles","kms:ListAliases","kms:ListKeys","kms:DescribeKey"],"Resource":"*"},{"Effect":"Allow","Action":"iam:PassRole","Resource":"*"}]}"#,
    },
    AwsPolicy {
        name: "IAMFullAccess",
        path: "/",
        id: "ANPAI7XKCFMBPM3QQRRVQ",
        description: "Provides full access to IAM via the AWS Management Console.",
        version: "v2",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:*","organizations:DescribeAccount","organizations:DescribeOrganization","organizations:DescribeOrganizationalUnit","organizations:DescribePolicy","organizations:ListChildren","organizations:ListParents","organizations:ListPoliciesForTarget","organizations:ListRoots","organizations:ListPolicies","organizations:ListTargetsForPolicy"],"Resource":"*"}]}"#,
    },
    AwsPolicy {
        name: "IAMReadOnlyAccess",
        path: "/",
        id: "ANPAJKSO7NDY4T57MWDSQ",
        description: "Provides read only access to IAM via the AWS Management Console.",
        version: "v4",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:GenerateCredentialReport","iam:GenerateServiceLastAccessedDetails","iam:Get*","iam:List*","iam:SimulateCustomPolicy","iam:SimulatePrincipalPolicy"],"Resource":"*"}]}"#,
    },
    AwsPolicy {
        name: "IAMUserChangePassword",
        path: "/",
        id: "ANPAJ4L4MM2A7QIEB56MS",
        description: "Provides the ability for an IAM user to change their own password.",
        version: "v3",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:ChangePassword"],"Resource":["arn:aws:iam::*:user/${aws:username}","arn:aws:iam::*:user/*/${aws:username}"]},{"Effect":"Allow","Action":["iam:GetAccountPasswordPolicy"],"Resource":"*"}]}"#,
    },
    AwsPolicy {
        name: "AWSKeyManagementServicePowerUser",
        path: "/",
        id: "ANPAJNPP7PPPPMJRV2SA4",
        description: "Provides access to AWS Key Management Service (KMS).",
        version: "v2",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:CreateAlias","kms:CreateKey","kms:DeleteAlias","kms:Describe*","kms:GenerateRandom","kms:Get*","kms:List*","kms:TagResource","kms:UntagResource","iam:ListGroups","iam:ListRoles","iam:ListUsers"],"Resource":"*"}]}"#,
    },
    AwsPolicy {
        name: "AWSKeyManagementServiceReadOnlyAccess",
        path: "/",
        id: "ANPAPALISADEKMSRO0001",
        description: "Provides read-only access to AWS Key Management Service (KMS).",
        version: "v1",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Describe*","kms:Get*","kms:List*"],"Resource":"*"}]}"#,
    },
    AwsPolicy {
        name: "SecretsManagerReadWrite",
        path: "/",
        id: "ANPAJ3LGHDPZRLRV7DPMK",
        description: "Provides read/write access to AWS Secrets Manager via the AWS Management Console.",
        version: "v5",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["secretsmanager:*","kms:DescribeKey","kms:ListAliases","kms:ListKeys","tag:GetResources"],"Resource":"*"}]}"#,
    },
    AwsPolicy {
        name: "SecretsManagerReadOnlyAccess",
        path: "/",
        id: "ANPAPALISADESMRO00001",
        description: "Provides read-only access to the metadata of AWS Secrets Manager secrets.",
        version: "v1",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["secretsmanager:DescribeSecret","secretsmanager:GetResourcePolicy","secretsmanager:ListSecrets","secretsmanager:ListSecretVersionIds"],"Resource":"*"}]}"#,
    },
    AwsPolicy {
        name: "AWSCloudTrail_FullAccess",
        path: "/",
        id: "ANPAIQNUJTQYDRJPC3BNK",
        description: "Provides full access to AWS CloudTrail.",
        version: "v1",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["cloudtrail:*","kms:ListKeys","kms:ListAliases","iam:ListRoles","iam:GetRolePolicy","iam:GetUser"],"Resource":"*"}]}"#,
    },
    AwsPolicy {
        name: "AWSCloudTrail_ReadOnlyAccess",
        path: "/",
        id: "ANPAJDU7KJADWBSEQ3E7S",
        description: "Provides read only access to AWS CloudTrail.",
        version: "v1",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["cloudtrail:Get*","cloudtrail:Describe*","cloudtrail:List*","cloudtrail:LookupEvents"],"Resource":"*"}]}"#,
    },
    AwsPolicy {
        name: "AWSLambdaBasicExecutionRole",
        path: "/service-role/",
        id: "ANPAJNCQGXC42545SKXIK",
        description: "Provides write permissions to CloudWatch Logs.",
        version: "v1",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["logs:CreateLogGroup","logs:CreateLogStream","logs:PutLogEvents"],"Resource":"*"}]}"#,
    },
    AwsPolicy {
        name: "AmazonElasticMapReduceRole",
        path: "/service-role/",
        id: "ANPAIDI2BQT2LKXZG36TW",
        description: "Default policy for the Amazon Elastic MapReduce service role.",
        version: "v1",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Resource":"*","Action":["ec2:Describe*","elasticmapreduce:*","iam:GetRole","iam:GetRolePolicy","iam:ListInstanceProfiles","iam:ListRolePolicies","iam:PassRole","s3:Get*","s3:List*"]}]}"#,
    },
    AwsPolicy {
        name: "AmazonElasticMapReduceforEC2Role",
        path: "/service-role/",
        id: "ANPAIGALS5RCDLZLB3PGS",
        description: "Default policy for the Amazon Elastic MapReduce for EC2 service role.",
        version: "v1",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Resource":"*","Action":["cloudwatch:*","ec2:Describe","elasticmapreduce:Describe*","elasticmapreduce:ListBootstrapActions","elasticmapreduce:ListClusters","elasticmapreduce:ListInstanceGroups","elasticmapreduce:ListInstances","elasticmapreduce:ListSteps","s3:*"]}]}"#,
    },
];

/// An AWS-managed policy by ARN.
pub fn by_arn(arn: &str) -> Option<&'static AwsPolicy> {
    let rest = arn.strip_prefix("arn:aws:iam::aws:policy")?;
    POLICIES
        .iter()
        .find(|p| rest.strip_prefix(p.path).is_some_and(|name| name == p.name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_policy::{CompiledPolicy, PolicyKind};

    #[test]
    fn every_aws_managed_policy_is_a_valid_identity_policy() {
        for p in POLICIES {
            CompiledPolicy::parse(p.document, PolicyKind::Identity)
                .unwrap_or_else(|e| panic!("{}: {e}", p.name));
            assert_eq!(by_arn(&p.arn()).map(|f| f.name), Some(p.name));
        }
        assert!(by_arn("arn:aws:iam::aws:policy/Nonexistent").is_none());
        assert_eq!(
            by_arn("arn:aws:iam::aws:policy/job-function/SystemAdministrator").map(|p| p.name),
            Some("SystemAdministrator")
        );
    }
}

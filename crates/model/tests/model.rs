//! Codec, validation and routing tests on real shapes.

use palisade_model::codec::query::decode_query;
use palisade_model::codec::xml::{encode_query_response, encode_xml_error};
use palisade_model::codec::{encode_error, encode_output, encode_typed_output};
use palisade_model::{
    InputError, Protocol, Timestamp, all_services, cloudtrail, iam, kms, parse_input,
    resolve_target, service_by_signing_name, service_by_target_prefix, sts, validate_input,
};
use serde_json::json;

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn routing() {
    assert_eq!(all_services().len(), 5);
    let kms = service_by_target_prefix("TrentService").unwrap();
    assert_eq!(kms.name, "kms");
    assert_eq!(kms.protocol, Protocol::Json11);
    let (svc, op) = resolve_target("secretsmanager.GetSecretValue").unwrap();
    assert_eq!(svc.name, "secretsmanager");
    assert!(svc.operation(op).unwrap().typed);
    let (svc, op) =
        resolve_target("com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents")
            .unwrap();
    assert_eq!((svc.name, op), ("cloudtrail", "LookupEvents"));
    // Smithy-generated SDKs (JavaScript v3, Go v2, ...) send the service shape's name alone.
    let (svc, op) = resolve_target("CloudTrail_20131101.LookupEvents").unwrap();
    assert_eq!((svc.name, op), ("cloudtrail", "LookupEvents"));
    assert!(svc.has_target_prefix("CloudTrail_20131101"));
    // Only the last component, not any other part or suffix of the prefix.
    for other in [
        "v20131101.CloudTrail_20131101",
        "cloudtrail",
        "com.amazonaws.cloudtrail.v20131101",
        "cloudtrail_20131101",
        "",
    ] {
        assert!(!svc.has_target_prefix(other), "{other}");
        assert!(service_by_target_prefix(other).is_none(), "{other}");
    }
    assert!(
        !service_by_signing_name("iam")
            .unwrap()
            .has_target_prefix("")
    );
    // Known but not allow-listed vs unknown.
    let ct = svc.operation("CreateEventDataStore").unwrap();
    assert!(!ct.typed && ct.input.is_none());
    assert!(svc.operation("NoSuchOperation").is_none());
    assert!(kms.operation("createKey").is_none(), "case-sensitive");
    let iam = service_by_signing_name("iam").unwrap();
    assert_eq!(iam.protocol, Protocol::Query);
    assert_eq!(
        iam.xml_namespace,
        Some("https://iam.amazonaws.com/doc/2010-05-08/")
    );
    assert_eq!(
        iam.operation("CreateUser").unwrap().result_wrapper,
        Some("CreateUserResult")
    );
    assert_eq!(
        service_by_signing_name("sts").unwrap().api_version,
        "2011-06-15"
    );
    assert!(service_by_signing_name("s3").is_none());
    for s in all_services() {
        assert!(s.operations.windows(2).all(|w| w[0].name < w[1].name));
        assert!(s.shapes.windows(2).all(|w| w[0].name < w[1].name));
        for op in s.operations.iter().filter(|o| o.typed) {
            for e in op.errors {
                assert!(s.error(e).is_some(), "{}: {e}", s.name);
            }
        }
    }
}

#[test]
fn error_table() {
    let e = iam::errors::NO_SUCH_ENTITY_EXCEPTION;
    assert_eq!(
        (e.code, e.http_status, e.sender_fault),
        ("NoSuchEntity", 404, true)
    );
    assert_eq!(iam::SERVICE.error("NoSuchEntityException"), Some(&e));
    let e = kms::errors::KMS_INTERNAL_EXCEPTION;
    assert_eq!(
        (e.code, e.http_status, e.sender_fault),
        ("KMSInternalException", 500, false)
    );
    let e = kms::errors::NOT_FOUND_EXCEPTION;
    assert_eq!(
        (e.code, e.http_status, e.sender_fault),
        ("NotFoundException", 400, true)
    );
}

#[test]
fn sts_get_caller_identity_xml_golden() {
    let op = sts::SERVICE.operation("GetCallerIdentity").unwrap();
    let out = sts::GetCallerIdentityResponse {
        user_id: Some("AIDAEXAMPLE".into()),
        account: Some("123456789012".into()),
        arn: Some("arn:aws:iam::123456789012:user/alice & <bob>".into()),
    };
    let body = encode_typed_output(&sts::SERVICE, op, &out, "req-1").unwrap();
    assert_eq!(body.content_type, "text/xml");
    assert_eq!(
        body.body,
        "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
         <GetCallerIdentityResult><UserId>AIDAEXAMPLE</UserId><Account>123456789012</Account>\
         <Arn>arn:aws:iam::123456789012:user/alice &amp; &lt;bob&gt;</Arn>\
         </GetCallerIdentityResult><ResponseMetadata><RequestId>req-1</RequestId>\
         </ResponseMetadata></GetCallerIdentityResponse>"
    );
}

#[test]
fn sts_assume_role_xml_timestamps_and_nesting() {
    let op = sts::SERVICE.operation("AssumeRole").unwrap();
    let out = sts::AssumeRoleResponse {
        credentials: Some(sts::Credentials {
            access_key_id: Some("ASIAEXAMPLE".into()),
            secret_access_key: Some("secret".into()),
            session_token: Some("token".into()),
            expiration: Some(Timestamp(1_795_465_010.123)),
        }),
        assumed_role_user: None,
        packed_policy_size: Some(6),
        ..Default::default()
    };
    let xml = encode_query_response(&sts::SERVICE, op, &serde_json::to_value(&out).unwrap(), "r");
    assert!(xml.contains(
        "<AssumeRoleResult><Credentials><AccessKeyId>ASIAEXAMPLE</AccessKeyId>\
         <SecretAccessKey>secret</SecretAccessKey><SessionToken>token</SessionToken>\
         <Expiration>2026-11-23T20:16:50.123Z</Expiration></Credentials>\
         <PackedPolicySize>6</PackedPolicySize></AssumeRoleResult>"
    ));
}

#[test]
fn iam_lists_maps_and_empty_output() {
    let svc = &iam::SERVICE;
    let op = svc.operation("ListUserTags").unwrap();
    let out = json!({"Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}],
                     "IsTruncated": false});
    let xml = encode_query_response(svc, op, &out, "r");
    assert!(xml.contains(
        "<ListUserTagsResult><Tags><member><Key>a</Key><Value>1</Value></member>\
         <member><Key>b</Key><Value>2</Value></member></Tags>\
         <IsTruncated>false</IsTruncated></ListUserTagsResult>"
    ));
    // No output shape → no Result element.
    let op = svc.operation("DeleteUser").unwrap();
    assert_eq!(
        encode_query_response(svc, op, &json!(null), "r"),
        "<DeleteUserResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">\
         <ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></DeleteUserResponse>"
    );
    // Map output (GetAccountSummary.SummaryMap).
    let op = svc.operation("GetAccountSummary").unwrap();
    let xml = encode_query_response(svc, op, &json!({"SummaryMap": {"Users": 3}}), "r");
    assert!(
        xml.contains("<SummaryMap><entry><key>Users</key><value>3</value></entry></SummaryMap>")
    );
}

#[test]
fn xml_error() {
    assert_eq!(
        encode_xml_error(
            &iam::SERVICE,
            "NoSuchEntity",
            "The user with name x cannot be found.",
            true,
            "rid"
        ),
        "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender</Type>\
         <Code>NoSuchEntity</Code><Message>The user with name x cannot be found.</Message></Error>\
         <RequestId>rid</RequestId></ErrorResponse>"
    );
    let e = encode_error(&kms::SERVICE, "NotFoundException", "nope", true, "rid");
    assert_eq!(e.content_type, "application/x-amz-json-1.1");
    assert_eq!(e.body, r#"{"__type":"NotFoundException","message":"nope"}"#);
}

#[test]
fn iam_create_user_query_decode_and_parse() {
    let svc = &iam::SERVICE;
    let op = svc.operation("CreateUser").unwrap();
    let form = pairs(&[
        ("Action", "CreateUser"),
        ("Version", "2010-05-08"),
        ("UserName", "alice"),
        ("Path", "/eng/"),
        ("Tags.member.2.Key", "team"),
        ("Tags.member.2.Value", "sec"),
        ("Tags.member.1.Key", "env"),
        ("Tags.member.1.Value", "prod"),
        ("Unknown", "ignored"),
    ]);
    let v = decode_query(svc, op, &form).unwrap();
    assert_eq!(
        v,
        json!({"UserName": "alice", "Path": "/eng/",
               "Tags": [{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "sec"}]})
    );
    let req: iam::CreateUserRequest = parse_input(svc, op, v).unwrap();
    assert_eq!(req.user_name, "alice");
    let tags = req.tags.unwrap();
    assert_eq!(tags[1].key.as_deref(), Some("team"));

    // Constraint failures in query paths.
    let form = pairs(&[("UserName", "bad name!"), ("Tags.member.1.Value", "x")]);
    let v = decode_query(svc, op, &form).unwrap();
    let err = validate_input(svc, op, &v).unwrap_err();
    assert_eq!(err.code(svc), "ValidationError");
    assert_eq!(
        err.to_string(),
        "2 validation errors detected: Value 'bad name!' at 'userName' failed to satisfy \
         constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+; \
         Value null at 'tags.1.member.key' failed to satisfy constraint: Member must not be null"
    );
}

#[test]
fn query_scalars_and_errors() {
    let svc = &iam::SERVICE;
    let op = svc.operation("ListUsers").unwrap();
    let v = decode_query(svc, op, &pairs(&[("MaxItems", "10"), ("Marker", "m")])).unwrap();
    assert_eq!(v, json!({"MaxItems": 10, "Marker": "m"}));
    let err = decode_query(svc, op, &pairs(&[("MaxItems", "ten")])).unwrap_err();
    assert_eq!(err.path, "MaxItems");
    assert!(err.message.contains("MaxItems"), "{}", err.message);
    let err = validate_input(svc, op, &json!({"MaxItems": 0})).unwrap_err();
    assert_eq!(
        err.to_string(),
        "1 validation error detected: Value '0' at 'maxItems' failed to satisfy constraint: \
         Member must have value greater than or equal to 1"
    );
    // Empty list and booleans.
    let op = svc.operation("UpdateAccountPasswordPolicy").unwrap();
    let v = decode_query(svc, op, &pairs(&[("RequireSymbols", "true")])).unwrap();
    assert_eq!(v, json!({"RequireSymbols": true}));
    let op = sts::SERVICE.operation("AssumeRole").unwrap();
    let v = decode_query(
        &sts::SERVICE,
        op,
        &pairs(&[
            ("RoleArn", "arn:aws:iam::123456789012:role/r"),
            ("RoleSessionName", "sess"),
            ("PolicyArns", ""),
            ("DurationSeconds", "900"),
        ]),
    )
    .unwrap();
    assert_eq!(v["PolicyArns"], json!([]));
    let req: sts::AssumeRoleRequest = parse_input(&sts::SERVICE, op, v).unwrap();
    assert_eq!(req.duration_seconds, Some(900));
}

/// Regression: `TagKeys=a` was read as an empty list (UntagUser answered 200 and removed
/// nothing), `ActionNames.member.1.x=…` as an empty list too (SimulatePrincipalPolicy answered
/// no results instead of naming the missing ActionNames), and `member.0` as an item. Each is
/// an unknown parameter, ignored, so the list is absent.
#[test]
fn query_lists_only_as_the_protocol_writes_them() {
    let svc = &iam::SERVICE;
    let op = svc.operation("UntagUser").unwrap();
    let v = decode_query(svc, op, &pairs(&[("UserName", "u"), ("TagKeys", "keep")])).unwrap();
    assert_eq!(v, json!({"UserName": "u"}));
    let v = decode_query(svc, op, &pairs(&[("UserName", "u"), ("TagKeys", "")])).unwrap();
    assert_eq!(v, json!({"UserName": "u", "TagKeys": []}));
    let v = decode_query(
        svc,
        op,
        &pairs(&[
            ("UserName", "u"),
            ("TagKeys.member.0", "a"),
            ("TagKeys.member.1", "b"),
        ]),
    )
    .unwrap();
    assert_eq!(v, json!({"UserName": "u", "TagKeys": ["b"]}));
    let op = svc.operation("SimulatePrincipalPolicy").unwrap();
    let form = pairs(&[
        ("PolicySourceArn", "arn:aws:iam::123456789012:user/u"),
        ("ActionNames.member.1.x", "s3:GetObject"),
    ]);
    let v = decode_query(svc, op, &form).unwrap();
    assert!(v.get("ActionNames").is_none(), "{v}");
    assert!(validate_input(svc, op, &v).is_err());
}

#[test]
fn kms_create_key_validation_messages() {
    let svc = &kms::SERVICE;
    let op = svc.operation("CreateKey").unwrap();
    let long = "x".repeat(8193);
    let err =
        validate_input(svc, op, &json!({"KeyUsage": "BOGUS", "Description": long})).unwrap_err();
    assert_eq!(err.code(svc), "ValidationException");
    let InputError::Validation(errs) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(errs.0.len(), 2);
    assert_eq!(
        errs.0[0].to_string(),
        format!(
            "Value '{long}' at 'description' failed to satisfy constraint: Member must have \
             length less than or equal to 8192"
        )
    );
    assert_eq!(
        errs.0[1].to_string(),
        "Value 'BOGUS' at 'keyUsage' failed to satisfy constraint: Member must satisfy enum \
         value set: [SIGN_VERIFY, ENCRYPT_DECRYPT, GENERATE_VERIFY_MAC, KEY_AGREEMENT, \
         ENCAPSULATE_DECAPSULATE]"
    );
    assert!(
        err.to_string()
            .starts_with("2 validation errors detected: Value '")
    );

    // Characters, not bytes.
    let ok = "é".repeat(8192);
    validate_input(svc, op, &json!({"Description": ok})).unwrap();

    // Nested list paths and unknown enum values survive typed parsing only after validation.
    let err = validate_input(svc, op, &json!({"Tags": [{"TagKey": "k"}]})).unwrap_err();
    assert_eq!(
        err.to_string(),
        "1 validation error detected: Value null at 'tags.1.member.tagValue' failed to satisfy \
         constraint: Member must not be null"
    );
    let req: kms::CreateKeyRequest =
        parse_input(svc, op, json!({"KeyUsage": "ENCRYPT_DECRYPT"})).unwrap();
    assert_eq!(req.key_usage, Some(kms::KeyUsageType::EncryptDecrypt));
}

#[test]
fn json_type_errors_and_blobs() {
    let svc = &kms::SERVICE;
    let op = svc.operation("Encrypt").unwrap();
    let err = validate_input(svc, op, &json!({"KeyId": 5, "Plaintext": "aGk="})).unwrap_err();
    assert_eq!(err.code(svc), "SerializationException");
    assert!(
        matches!(&err, InputError::Decode(d) if d.path == "keyId"),
        "{err:?}"
    );
    let err = validate_input(svc, op, &json!({"KeyId": "k", "Plaintext": "!!"})).unwrap_err();
    assert!(matches!(err, InputError::Decode(_)));
    // Blob length is measured on decoded bytes (min 1).
    let err = validate_input(svc, op, &json!({"KeyId": "k", "Plaintext": ""})).unwrap_err();
    assert!(
        err.to_string().contains("Value at 'plaintext'"),
        "sensitive: {err}"
    );
    assert!(
        err.to_string()
            .contains("length greater than or equal to 1")
    );
    let req: kms::EncryptRequest =
        parse_input(svc, op, json!({"KeyId": "k", "Plaintext": "aGk="})).unwrap();
    assert_eq!(req.plaintext.as_bytes(), b"hi");
    let op = svc.operation("ListKeys").unwrap();
    let err = validate_input(svc, op, &json!({"Limit": "10"})).unwrap_err();
    assert!(matches!(err, InputError::Decode(_)));
    let err = validate_input(svc, op, &json!({"Limit": 0})).unwrap_err();
    assert!(err.to_string().contains("at 'limit'"));
}

#[test]
fn map_constraints() {
    let svc = &kms::SERVICE;
    let op = svc.operation("Encrypt").unwrap();
    let ok = json!({"KeyId": "k", "Plaintext": "aGk=", "EncryptionContext": {"a": "b"}});
    validate_input(svc, op, &ok).unwrap();
}

#[test]
fn json_output_typed() {
    let svc = &kms::SERVICE;
    let op = svc.operation("CreateKey").unwrap();
    let out = kms::CreateKeyResponse {
        key_metadata: Some(kms::KeyMetadata {
            key_id: Some("1234".into()),
            creation_date: Some(Timestamp(1_700_000_000.5)),
            enabled: Some(true),
            key_usage: Some(kms::KeyUsageType::EncryptDecrypt),
            ..Default::default()
        }),
    };
    let body = encode_output(svc, op, &serde_json::to_value(&out).unwrap(), "r");
    assert_eq!(
        body.body,
        r#"{"KeyMetadata":{"CreationDate":1700000000.5,"Enabled":true,"KeyId":"1234","KeyUsage":"ENCRYPT_DECRYPT"}}"#
    );
    let back: kms::CreateKeyResponse = serde_json::from_str(&body.body).unwrap();
    assert_eq!(back, out);
    // Unknown enum values deserialize (and are rejected by validation on input).
    let k: kms::KeyUsageType = serde_json::from_value(json!("NEW_USAGE")).unwrap();
    assert_eq!(k, kms::KeyUsageType::Unknown("NEW_USAGE".into()));
    assert_eq!(serde_json::to_value(&k).unwrap(), json!("NEW_USAGE"));
}

/// Every pattern of the five vendored models is translated and enforced.
#[test]
fn all_model_patterns_translate() {
    // Read at run time: a binary built in another checkout sharing the target dir keeps its
    // compile-time path.
    let root = format!(
        "{}/../../vendor/botocore",
        std::env::var("CARGO_MANIFEST_DIR").unwrap()
    );
    let mut patterns = std::collections::BTreeSet::new();
    for svc in ["sts", "iam", "kms", "secretsmanager", "cloudtrail"] {
        let dir = std::fs::read_dir(format!("{root}/{svc}")).unwrap();
        for version in dir {
            let path = version.unwrap().path().join("service-2.json");
            let model: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
            for shape in model["shapes"].as_object().unwrap().values() {
                if let Some(p) = shape.get("pattern").and_then(|p| p.as_str()) {
                    patterns.insert(p.to_owned());
                }
            }
        }
    }
    let mut skipped = Vec::new();
    for p in &patterns {
        match palisade_model::translate_pattern(p) {
            Some(t) => {
                regex::Regex::new(&t).unwrap_or_else(|e| panic!("{p} → {t}: {e}"));
            }
            None => skipped.push(p.clone()),
        }
    }
    assert_eq!(patterns.len(), 84);
    // The one look-ahead (IAM's account alias) is rewritten without it.
    assert_eq!(skipped, Vec::<String>::new());
    // The runtime tables compile the same way.
    for s in all_services() {
        for p in s.patterns {
            assert_eq!(p.regex().is_some(), !skipped.contains(&p.source.to_owned()));
        }
    }
}

/// Regression: a timestamp of 1e308 seconds was taken (LookupEvents answered for it).
#[test]
fn timestamps_beyond_what_a_date_holds_are_refused() {
    let svc = &cloudtrail::SERVICE;
    let op = svc.operation("LookupEvents").unwrap();
    assert!(validate_input(svc, op, &json!({"StartTime": 1e308})).is_err());
    assert!(validate_input(svc, op, &json!({"StartTime": 1_700_000_000.5})).is_ok());
    // The last second of year 9999, fraction and all, is still a date.
    assert!(validate_input(svc, op, &json!({"StartTime": 253_402_300_799.5})).is_ok());
}

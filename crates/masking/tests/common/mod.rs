//! What the masking crate's integration tests share: the command-line arguments of a mask or
//! unmask run over files, with a key file and no KMS.
#![allow(dead_code)]

use std::path::Path;

use palisade_masking::cli::{KeyArgs, MaskArgs, UnmaskArgs};

/// A 32-byte raw key, base64.
pub const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// A key file in `dir` holding [`KEY`] as the key `pii`.
pub fn keyfile(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("keys.json");
    std::fs::write(&p, format!(r#"{{"keys": {{"pii": {{"raw": "{KEY}"}}}}}}"#)).unwrap();
    p
}

pub fn key_args(keys: &Path) -> KeyArgs {
    KeyArgs {
        keys: Some(keys.to_owned()),
        kms_endpoint: None,
        kms_ca_bundle: None,
        region: Some("us-east-1".into()),
    }
}

pub fn mask_args(input: &Path, output: &Path, rules: &Path, keys: &Path) -> MaskArgs {
    MaskArgs {
        input: input.to_owned(),
        output: output.to_owned(),
        rules: Some(rules.to_owned()),
        policies: None,
        as_principal: None,
        table: None,
        format: None,
        envelope: None,
        key_args: key_args(keys),
        no_progress: true,
        quiet: true,
        summary_json: None,
    }
}

pub fn unmask_args(input: &Path, output: &Path, rules: &Path, keys: &Path) -> UnmaskArgs {
    UnmaskArgs {
        input: input.to_owned(),
        output: output.to_owned(),
        rules: rules.to_owned(),
        format: None,
        envelope: None,
        key_args: key_args(keys),
        no_progress: true,
        quiet: true,
    }
}

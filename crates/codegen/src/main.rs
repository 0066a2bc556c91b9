//! `palisade-codegen`: generates `crates/model/src/generated/*.rs` from the pinned botocore
//! models listed in `crates/codegen/allowlist.json`.
//!
//! ```text
//! cargo run -p palisade-codegen --locked              # regenerate (writes, rustfmt-formatted)
//! cargo run -p palisade-codegen --locked -- --check   # exit 1 naming stale files
//! ```

mod emit;
mod model;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Allowlist {
    botocore_version: String,
    services: Vec<ServiceEntry>,
}

#[derive(Debug, Deserialize)]
struct ServiceEntry {
    name: String,
    model: String,
    operations: Vec<String>,
}

/// Workspace root (two levels above this crate). `cargo run` sets `CARGO_MANIFEST_DIR` at run
/// time too; preferring it keeps a binary built in another checkout that shares the target dir
/// (a CI clone) from reading and writing that checkout's files.
fn workspace_root() -> PathBuf {
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    dir.join("../..")
}

/// Formats Rust source with rustfmt using the workspace `rustfmt.toml`.
fn rustfmt(root: &Path, source: &str) -> Result<String> {
    let rustfmt = std::env::var("RUSTFMT").unwrap_or_else(|_| "rustfmt".to_owned());
    let mut child = Command::new(&rustfmt)
        .arg("--edition")
        .arg("2024")
        .arg("--config-path")
        .arg(root.join("rustfmt.toml"))
        .arg("--emit")
        .arg("stdout")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {rustfmt}"))?;
    let mut stdin = child.stdin.take().context("rustfmt stdin")?;
    let input = source.to_owned();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output()?;
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("rustfmt writer thread panicked"))??;
    if !output.status.success() {
        bail!(
            "rustfmt failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8(output.stdout)?)
}

/// Generates every output file: (path relative to the workspace root, formatted contents).
fn generate(root: &Path) -> Result<Vec<(PathBuf, String)>> {
    let allow_path = root.join("crates/codegen/allowlist.json");
    let allow: Allowlist = serde_json::from_str(
        &std::fs::read_to_string(&allow_path)
            .with_context(|| format!("reading {}", allow_path.display()))?,
    )
    .with_context(|| format!("parsing {}", allow_path.display()))?;
    let out_dir = PathBuf::from("crates/model/src/generated");
    let mut files = Vec::new();
    let mut names = Vec::new();
    for svc in &allow.services {
        let model_path = root.join(&svc.model);
        let model: model::Model = serde_json::from_str(
            &std::fs::read_to_string(&model_path)
                .with_context(|| format!("reading {}", model_path.display()))?,
        )
        .with_context(|| format!("parsing {}", model_path.display()))?;
        let src = emit::service(&emit::ServiceInput {
            name: &svc.name,
            model: &model,
            operations: &svc.operations,
            botocore_version: &allow.botocore_version,
        })
        .with_context(|| format!("generating {}", svc.name))?;
        files.push((
            out_dir.join(format!("{}.rs", svc.name)),
            rustfmt(root, &src)?,
        ));
        names.push(svc.name.as_str());
    }
    let root_src = emit::root(&names, &allow.botocore_version);
    files.push((out_dir.with_extension("rs"), rustfmt(root, &root_src)?));
    Ok(files)
}

/// Paths (relative) whose committed contents differ from freshly generated output.
fn stale_files(root: &Path) -> Result<Vec<PathBuf>> {
    let mut stale = Vec::new();
    for (rel, contents) in generate(root)? {
        let current = std::fs::read_to_string(root.join(&rel)).unwrap_or_default();
        if current != contents {
            stale.push(rel);
        }
    }
    Ok(stale)
}

fn main() -> Result<()> {
    let root = workspace_root();
    let check = std::env::args().skip(1).any(|a| a == "--check");
    if check {
        let stale = stale_files(&root)?;
        if stale.is_empty() {
            eprintln!("palisade-codegen: generated code is up to date");
            return Ok(());
        }
        for f in &stale {
            eprintln!("palisade-codegen: stale: {}", f.display());
        }
        eprintln!("palisade-codegen: run `cargo run -p palisade-codegen --locked` to regenerate");
        std::process::exit(1);
    }
    let mut total = 0;
    for (rel, contents) in generate(&root)? {
        let path = root.join(&rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let unchanged = std::fs::read_to_string(&path).is_ok_and(|c| c == contents);
        if !unchanged {
            std::fs::write(&path, &contents)?;
        }
        total += contents.len();
        eprintln!(
            "palisade-codegen: {} {} ({} bytes)",
            if unchanged { "unchanged" } else { "wrote" },
            rel.display(),
            contents.len()
        );
    }
    eprintln!("palisade-codegen: {total} bytes total");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_code_is_fresh() {
        let stale = stale_files(&workspace_root()).unwrap();
        assert!(
            stale.is_empty(),
            "stale generated files {stale:?}; run `cargo run -p palisade-codegen --locked`"
        );
    }

    #[test]
    fn names() {
        assert_eq!(emit::snake("KMSKeyId"), "kms_key_id");
        assert_eq!(emit::snake("SAMLAssertion"), "saml_assertion");
        assert_eq!(emit::snake("Type"), "r#type");
        assert_eq!(emit::snake("trailNameList"), "trail_name_list");
        assert_eq!(emit::snake("S3BucketName"), "s3_bucket_name");
        assert_eq!(emit::variant("ENCRYPT_DECRYPT"), "EncryptDecrypt");
        assert_eq!(emit::variant("aws:kms"), "AwsKms");
        assert_eq!(emit::variant("2048"), "V2048");
        assert_eq!(
            emit::first_sentence("<p>Creates a <i>key</i>. More text.</p>"),
            "Creates a key."
        );
    }
}

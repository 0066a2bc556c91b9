//! `palisade audit validate`: the offline validator as a command.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::trail::{fingerprint, parse_public_key};
use crate::validate::{Options, validate};

/// `palisade audit validate` arguments.
#[derive(clap::Args, Debug)]
pub struct ValidateArgs {
    /// The delivery directory (the server's `--trail-dir`, or any directory above a bucket).
    #[arg(long)]
    pub dir: PathBuf,
    /// The trusted public keys: the JSON `aws cloudtrail list-public-keys` prints
    /// (`{"PublicKeyList": [{"Value": <base64 DER>, ...}]}`). Never take them from `--dir`.
    /// Repeatable: each Region signs its own digests, so a multi-Region trail needs the list of
    /// every Region it delivers for.
    #[arg(long, required = true)]
    pub public_keys: Vec<PathBuf>,
    /// Only files from this time (RFC 3339, or YYYY-MM-DD).
    #[arg(long)]
    pub start_time: Option<String>,
    /// Only files up to this time (a date: up to the end of that day).
    #[arg(long)]
    pub end_time: Option<String>,
    /// A checkpoint kept outside the directory (repeatable): the tree must still extend it.
    #[arg(long = "checkpoint")]
    pub checkpoints: Vec<PathBuf>,
    /// Output format.
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
}

/// A time, or a date: its first instant, or with `end` its last, so that `--end-time
/// 2026-12-03` takes in all of that day.
fn parse_time(text: &str, end: bool) -> Result<OffsetDateTime, String> {
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(t);
    }
    let f = time::macros::format_description!("[year]-[month]-[day]");
    let day = time::Date::parse(text, &f)
        .map_err(|_| format!("invalid time {text:?}: expected RFC 3339 or YYYY-MM-DD"))?;
    let at = if end {
        day.with_hms_nano(23, 59, 59, 999_999_999)
            .map_err(|e| format!("invalid time {text:?}: {e}"))?
    } else {
        day.midnight()
    };
    Ok(at.assume_utc())
}

fn load_keys(path: &std::path::Path) -> Result<HashMap<String, Vec<u8>>, String> {
    use base64::Engine as _;
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
    let list = json
        .get("PublicKeyList")
        .and_then(serde_json::Value::as_array)
        .ok_or_else(|| format!("{} has no PublicKeyList", path.display()))?;
    let mut keys = HashMap::new();
    for (i, k) in list.iter().enumerate() {
        let value = k
            .get("Value")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| format!("PublicKeyList[{i}] in {} has no Value", path.display()))?;
        // The value is quoted short: it can be a whole file's worth of junk.
        let shown: String = value.chars().take(40).collect();
        let ellipsis = if shown.len() < value.len() { "..." } else { "" };
        let der = base64::engine::general_purpose::STANDARD
            .decode(value)
            .map_err(|e| {
                format!(
                    "PublicKeyList[{i}] in {} is not base64 ({shown:?}{ellipsis}): {e}",
                    path.display()
                )
            })?;
        // A key that cannot verify anything would make every digest read as badly signed,
        // hiding the real mistake (the wrong file).
        let der = parse_public_key(&der).ok_or_else(|| {
            format!(
                "PublicKeyList[{i}] in {} is not an RSA public key of 2048 to 8192 bits in \
                 DER ({shown:?}{ellipsis})",
                path.display()
            )
        })?;
        // The fingerprint is recomputed, not trusted from the file.
        keys.insert(fingerprint(&der), der);
    }
    Ok(keys)
}

/// Runs the command; returns the exit status (0 valid, 1 any finding, 2 usage or I/O error).
pub fn run(args: &ValidateArgs) -> i32 {
    match try_run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("palisade audit validate: {e}");
            2
        }
    }
}

fn try_run(args: &ValidateArgs) -> Result<i32, String> {
    let mut trusted = Vec::new();
    for p in &args.checkpoints {
        trusted.push(
            std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?,
        );
    }
    let mut public_keys = HashMap::new();
    for p in &args.public_keys {
        public_keys.extend(load_keys(p)?);
    }
    let opts = Options {
        public_keys,
        start: args
            .start_time
            .as_deref()
            .map(|t| parse_time(t, false))
            .transpose()?,
        end: args
            .end_time
            .as_deref()
            .map(|t| parse_time(t, true))
            .transpose()?,
        trusted_checkpoints: trusted,
    };
    if let (Some(start), Some(end)) = (opts.start, opts.end)
        && start > end
    {
        return Err(format!(
            "--start-time {} is after --end-time {}",
            args.start_time.as_deref().unwrap_or_default(),
            args.end_time.as_deref().unwrap_or_default()
        ));
    }
    if !args.dir.is_dir() {
        return Err(format!("{} is not a directory", args.dir.display()));
    }
    let report = validate(&args.dir, &opts)
        .map_err(|e| format!("cannot read {}: {e}", args.dir.display()))?;
    if let Some(hint) = &report.hint {
        return Err(hint.clone());
    }
    if report.results.is_empty() {
        let window = if args.start_time.is_some() || args.end_time.is_some() {
            " in the time window"
        } else {
            ""
        };
        eprintln!(
            "palisade audit validate: no log files, digests or checkpoints found under {}{window}",
            args.dir.display()
        );
    }
    let text = if args.format == "json" {
        report.to_json() + "\n"
    } else {
        report.to_table()
    };
    let code = i32::from(!report.ok());
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(code),
        // A closed pipe (`| head`) ends the output quietly; the verdict stands.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(code),
        Err(e) => Err(format!("cannot write output: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bug: a key list whose entry is not an RSA public key was accepted, so every digest
    /// read as badly signed instead of the list being refused.
    #[test]
    fn a_key_that_is_not_an_rsa_public_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let key = crate::trail::SigningKey::generate().unwrap();
        use base64::Engine as _;
        let good = base64::engine::general_purpose::STANDARD.encode(key.public_pkcs1());
        std::fs::write(
            &path,
            format!(r#"{{"PublicKeyList":[{{"Value":"{good}"}},{{"Value":"AAAA"}}]}}"#),
        )
        .unwrap();
        let err = load_keys(&path).unwrap_err();
        assert!(
            err.contains("PublicKeyList[1]") && err.contains("\"AAAA\""),
            "{err}"
        );
        std::fs::write(
            &path,
            format!(r#"{{"PublicKeyList":[{{"Value":"{good}"}}]}}"#),
        )
        .unwrap();
        let keys = load_keys(&path).unwrap();
        assert_eq!(keys.get(&key.fingerprint()), Some(&key.public_pkcs1()));
    }

    /// Regression: `--end-time 2026-12-03` meant the first instant of that day, leaving the
    /// rest of the day out of the window.
    #[test]
    fn an_end_date_takes_in_the_whole_day() {
        let end = parse_time("2026-12-03", true).unwrap();
        let late = OffsetDateTime::parse("2026-12-03T23:59:00Z", &Rfc3339).unwrap();
        assert!(late <= end);
        assert!(end < OffsetDateTime::parse("2026-12-04T00:00:00Z", &Rfc3339).unwrap());
        assert_eq!(
            parse_time("2026-12-03", false).unwrap(),
            OffsetDateTime::parse("2026-12-03T00:00:00Z", &Rfc3339).unwrap()
        );
    }
}

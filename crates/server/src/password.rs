//! Console passwords: Argon2id hashes in PHC string form, and the account password policy.

use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use palisade_store::PasswordPolicyRecord;

use crate::identity::random_bytes;

/// OWASP's minimum for Argon2id: 19 MiB, 2 passes, 1 lane.
const M_COST: u32 = 19 * 1024;
const T_COST: u32 = 2;
const P_COST: u32 = 1;
const OUT_LEN: usize = 32;

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
#[error("the password cannot be hashed: {0}")]
pub struct HashError(String);

fn hasher(m: u32, t: u32, p: u32) -> Result<Argon2<'static>, HashError> {
    let params = Params::new(m, t, p, Some(OUT_LEN)).map_err(|e| HashError(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a password with a fresh salt: `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`.
pub fn hash(password: &str) -> Result<String, HashError> {
    let salt = random_bytes(16).map_err(|e| HashError(e.to_string()))?;
    let mut out = [0u8; OUT_LEN];
    hasher(M_COST, T_COST, P_COST)?
        .hash_password_into(password.as_bytes(), &salt, &mut out)
        .map_err(|e| HashError(e.to_string()))?;
    Ok(format!(
        "$argon2id$v=19$m={M_COST},t={T_COST},p={P_COST}${}${}",
        STANDARD_NO_PAD.encode(&salt),
        STANDARD_NO_PAD.encode(out)
    ))
}

/// Whether `password` matches a hash made by [`hash`].
pub fn verify(password: &str, phc: &str) -> bool {
    let mut parts = phc.split('$').skip(1);
    let (Some("argon2id"), Some("v=19"), Some(params), Some(salt), Some(expected)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    let mut m = M_COST;
    let mut t = T_COST;
    let mut p = P_COST;
    for kv in params.split(',') {
        match kv.split_once('=') {
            Some(("m", v)) => m = v.parse().unwrap_or(0),
            Some(("t", v)) => t = v.parse().unwrap_or(0),
            Some(("p", v)) => p = v.parse().unwrap_or(0),
            _ => return false,
        }
    }
    let (Ok(salt), Ok(expected)) = (
        STANDARD_NO_PAD.decode(salt),
        STANDARD_NO_PAD.decode(expected),
    ) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let Ok(h) = hasher(m, t, p) else { return false };
    if h.hash_password_into(password.as_bytes(), &salt, &mut out)
        .is_err()
    {
        return false;
    }
    aws_lc_rs::constant_time::verify_slices_are_equal(&out, &expected).is_ok()
}

/// The characters IAM counts as symbols (UpdateAccountPasswordPolicy's RequireSymbols): other
/// punctuation such as `.`, `~` or `/` is allowed in a password but does not satisfy the rule.
const SYMBOLS: &str = "!@#$%^&*()_+-=[]{}|'";

fn is_symbol(c: char) -> bool {
    SYMBOLS.contains(c)
}

/// Checks a password against the account's policy. Without one, IAM applies AWS's default
/// password policy (`aws_default`): at least 8 characters, of at least three of the four kinds
/// (uppercase, lowercase, numbers, symbols); `--dev` asks only for the 6 characters IAM asked
/// before that default existed, which moto's suites rely on. The error lists every rule the
/// password breaks.
pub fn check(
    policy: Option<&PasswordPolicyRecord>,
    aws_default: bool,
    password: &str,
) -> Result<(), String> {
    let default_min = if aws_default { 8 } else { 6 };
    let min = policy.map_or(default_min, |p| p.minimum_length);
    let len = i64::try_from(password.chars().count()).unwrap_or(i64::MAX);
    let mut problems = Vec::new();
    if len < min {
        problems.push(format!("Password should have a minimum length of {min}"));
    }
    if policy.is_none() && aws_default {
        // AWS's default policy asks for three of the four kinds, and says how many more of
        // which it lacks: "Password should meet 1 more of the following requirements: Password
        // should have at least one uppercase letter, Password should have at least one symbol".
        let kinds = [
            (
                password.chars().any(|c| c.is_ascii_uppercase()),
                "Password should have at least one uppercase letter",
            ),
            (
                password.chars().any(|c| c.is_ascii_lowercase()),
                "Password should have at least one lowercase letter",
            ),
            (
                password.chars().any(|c| c.is_ascii_digit()),
                "Password should have at least one number",
            ),
            (
                password.chars().any(is_symbol),
                "Password should have at least one symbol",
            ),
        ];
        let present = kinds.iter().filter(|(k, _)| *k).count();
        if present < 3 {
            let missing: Vec<&str> = kinds
                .iter()
                .filter(|(k, _)| !*k)
                .map(|(_, rule)| *rule)
                .collect();
            problems.push(format!(
                "Password should meet {} more of the following requirements: {}",
                3 - present,
                missing.join(", ")
            ));
        }
    }
    if let Some(p) = policy {
        if p.require_symbols && !password.chars().any(is_symbol) {
            problems.push("Password should have at least one symbol".to_owned());
        }
        if p.require_numbers && !password.chars().any(|c| c.is_ascii_digit()) {
            problems.push("Password should have at least one number".to_owned());
        }
        if p.require_uppercase && !password.chars().any(|c| c.is_ascii_uppercase()) {
            problems.push("Password should have at least one uppercase letter".to_owned());
        }
        if p.require_lowercase && !password.chars().any(|c| c.is_ascii_lowercase()) {
            problems.push("Password should have at least one lowercase letter".to_owned());
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_only_the_right_password_and_never_contain_it() {
        let h = hash("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(!h.contains("correct horse"));
        assert!(verify("correct horse", &h));
        assert!(!verify("correct horsf", &h));
        assert!(!verify("correct horse", "not a hash"));
        assert_ne!(hash("correct horse").unwrap(), h, "salted");
    }

    #[test]
    fn the_policy_names_every_unmet_rule() {
        let p = PasswordPolicyRecord {
            minimum_length: 10,
            require_symbols: true,
            require_numbers: true,
            require_uppercase: true,
            require_lowercase: true,
            allow_users_to_change: true,
            max_age_days: None,
            reuse_prevention: None,
            hard_expiry: None,
        };
        let e = check(Some(&p), true, "abc").unwrap_err();
        assert!(e.contains("minimum length of 10"), "{e}");
        assert!(e.contains("symbol") && e.contains("number") && e.contains("uppercase"));
        assert!(check(Some(&p), true, "Abcdefgh1!").is_ok());
        // Without a policy: AWS's default one, or --dev's six characters.
        assert!(check(None, false, "abcdef").is_ok());
        assert!(check(None, false, "abc").is_err());
        assert!(
            check(None, true, "abcdefgh").is_err(),
            "one kind of character"
        );
        assert!(check(None, true, "Abc1!").is_err(), "five characters");
        assert!(check(None, true, "abcdefg1!").is_ok());
        // Regression: the default policy's message was Palisade's own, not AWS's form.
        assert_eq!(
            check(None, true, "abcdefg1").unwrap_err(),
            "Password should meet 1 more of the following requirements: Password should have at \
             least one uppercase letter, Password should have at least one symbol"
        );
        assert_eq!(
            check(None, true, "abcdefgh").unwrap_err(),
            "Password should meet 2 more of the following requirements: Password should have at \
             least one uppercase letter, Password should have at least one number, Password \
             should have at least one symbol"
        );
        // Regression: any ASCII punctuation counted as a symbol; IAM counts only its own set.
        assert!(check(None, true, "abcdefg1.").is_err(), "'.' is no symbol");
        assert!(check(None, true, "abcdefg1'").is_ok());
        for not_symbol in [".", "~", "/", " ", "\"", ":", ";", "<", ",", "?", "`", "\\"] {
            let e = check(Some(&p), true, &format!("Abcdefgh1{not_symbol}")).unwrap_err();
            assert!(e.contains("symbol"), "{not_symbol:?}: {e}");
        }
    }
}

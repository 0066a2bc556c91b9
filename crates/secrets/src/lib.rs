//! Secrets Manager semantics, free of HTTP, SQL and cryptography: the version and staging-label
//! state machine, `ClientRequestToken` rules, `GetRandomPassword`, rotation schedules
//! (`rate()`, AWS's six-field `cron()`, `Duration` windows) and the `ListSecrets` filters.
//!
//! The server (`palisade-server`, `services/secretsmanager`) keeps the secrets, encrypts their
//! values and runs rotations; every rule about *what* a request means lives here.

pub mod filter;
pub mod password;
pub mod schedule;
pub mod staging;

pub use filter::{FilterError, SecretView, matches, validate_filters};
pub use password::{PasswordError, PasswordSpec, generate_password};
pub use schedule::{RotationRules, Schedule, ScheduleError};
pub use staging::{AWSCURRENT, AWSPENDING, AWSPREVIOUS, Staged, StagingError};

/// Why a `ClientRequestToken` (or a version id) is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ClientRequestToken must be 32-64 characters long.")]
pub struct TokenError {
    /// The refused token's length.
    pub len: usize,
}

/// Checks a `ClientRequestToken`: AWS accepts 32 to 64 characters (SDKs send a UUID).
pub fn validate_token(token: &str) -> Result<(), TokenError> {
    let len = token.chars().count();
    if (32..=64).contains(&len) {
        Ok(())
    } else {
        Err(TokenError { len })
    }
}

/// What an idempotent write with a token that already names a version amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// The token names no version: create it.
    New,
    /// The token names a version with the same value: succeed without change.
    Same,
    /// The token names a version with another value: `ResourceExistsException`.
    Conflict,
}

/// AWS's rule for a write whose token may already name a version: the same value again is a
/// no-op, another value is an error (versions are immutable).
pub fn replay(existing_value: Option<&[u8]>, new_value: &[u8]) -> Replay {
    match existing_value {
        None => Replay::New,
        Some(v) if v == new_value => Replay::Same,
        Some(_) => Replay::Conflict,
    }
}

/// The largest secret value AWS stores (SecretString or SecretBinary), in bytes.
pub const MAX_VALUE_BYTES: usize = 65_536;
/// The most staging labels a secret's versions can carry together.
pub const MAX_STAGES_PER_SECRET: usize = 20;
/// How many versions AWS keeps; older versions without labels are removed.
pub const MAX_VERSIONS: usize = 100;
/// The smallest and largest recovery window of `DeleteSecret`, in days.
pub const RECOVERY_WINDOW_DAYS: std::ops::RangeInclusive<i64> = 7..=30;

/// Checks a secret name: 1–512 characters of ASCII letters, digits and `/_+=.@-!` (`!` is in
/// the names AWS gives the secrets other services manage, `rds!cluster-...`). Names ending
/// in a hyphen and six characters are refused by AWS's console only, so they pass here.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 512
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_+=.@-!".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_must_be_32_to_64_characters() {
        assert!(validate_token(&"a".repeat(31)).is_err());
        assert!(validate_token(&"a".repeat(32)).is_ok());
        assert!(validate_token(&"a".repeat(64)).is_ok());
        assert_eq!(
            validate_token(&"a".repeat(65)).map_err(|e| e.to_string()),
            Err("ClientRequestToken must be 32-64 characters long.".to_owned())
        );
    }

    #[test]
    fn replaying_a_token_is_idempotent_only_for_the_same_value() {
        assert_eq!(replay(None, b"x"), Replay::New);
        assert_eq!(replay(Some(b"x"), b"x"), Replay::Same);
        assert_eq!(replay(Some(b"x"), b"y"), Replay::Conflict);
    }

    #[test]
    fn names_allow_aws_characters_only() {
        assert!(valid_name("prod/db+main=1.x@y-z_"));
        assert!(valid_name("rds!cluster-1a96bebc"));
        assert!(!valid_name(""));
        assert!(!valid_name("with space"));
        assert!(!valid_name(&"a".repeat(513)));
    }
}

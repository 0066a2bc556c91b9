//! `GetRandomPassword`.

const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS: &str = "0123456789";
const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/// The request's options, with AWS's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordSpec {
    /// Length, 1–4096 (default 32).
    pub length: usize,
    /// Characters never to use.
    pub exclude_characters: String,
    /// No digits.
    pub exclude_numbers: bool,
    /// No punctuation.
    pub exclude_punctuation: bool,
    /// No upper-case letters.
    pub exclude_uppercase: bool,
    /// No lower-case letters.
    pub exclude_lowercase: bool,
    /// Allow the space character.
    pub include_space: bool,
    /// At least one character of every included type (default true).
    pub require_each_included_type: bool,
}

impl Default for PasswordSpec {
    fn default() -> Self {
        Self {
            length: 32,
            exclude_characters: String::new(),
            exclude_numbers: false,
            exclude_punctuation: false,
            exclude_uppercase: false,
            exclude_lowercase: false,
            include_space: false,
            require_each_included_type: true,
        }
    }
}

/// Why no password can be made (AWS's `InvalidParameterException` texts).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Fewer characters than required types.
    #[error("Password length is too short based on the required types.")]
    TooShort,
    /// Every character is excluded.
    #[error("The password can't be generated because every character type is excluded.")]
    NothingToUse,
    /// Out of 1..=4096.
    #[error("PasswordLength must be between 1 and 4096, got {0}.")]
    BadLength(usize),
}

/// A password per `spec`. `pick(n)` returns a uniformly random index below `n` (the caller
/// supplies a cryptographic source).
pub fn generate_password(
    spec: &PasswordSpec,
    pick: &mut dyn FnMut(usize) -> usize,
) -> Result<String, PasswordError> {
    if !(1..=4096).contains(&spec.length) {
        return Err(PasswordError::BadLength(spec.length));
    }
    let keep = |set: &str| -> Vec<char> {
        set.chars()
            .filter(|c| !spec.exclude_characters.contains(*c))
            .collect()
    };
    let mut groups: Vec<Vec<char>> = Vec::new();
    if !spec.exclude_lowercase {
        groups.push(keep(LOWER));
    }
    if !spec.exclude_uppercase {
        groups.push(keep(UPPER));
    }
    if !spec.exclude_numbers {
        groups.push(keep(DIGITS));
    }
    if !spec.exclude_punctuation {
        groups.push(keep(PUNCTUATION));
    }
    // The space comes last: `RequireEachIncludedType` requires "at least one upper and
    // lowercase letter, one number, and one punctuation", and with `IncludeSpace` the password
    // only "can contain" spaces, so the space gets a position only when one is left over. Bug:
    // it came first, so a password as long as the required types (4 with a space) lacked one.
    if spec.include_space {
        groups.push(keep(" "));
    }
    groups.retain(|g| !g.is_empty());
    let all: Vec<char> = groups.iter().flatten().copied().collect();
    if all.is_empty() {
        return Err(PasswordError::NothingToUse);
    }
    // The space is not a character type of its own for the length check.
    let types = groups.iter().filter(|g| g.as_slice() != [' ']).count();
    if spec.require_each_included_type && spec.length < types {
        return Err(PasswordError::TooShort);
    }
    let choose = |set: &[char], pick: &mut dyn FnMut(usize) -> usize| -> char {
        set.get(pick(set.len())).copied().unwrap_or(' ')
    };
    let mut out: Vec<char> = (0..spec.length).map(|_| choose(&all, pick)).collect();
    if spec.require_each_included_type {
        // One position per type, chosen at random without repeats, gets a character of that
        // type, so the required characters are not all at the end.
        let mut free: Vec<usize> = (0..spec.length).collect();
        for g in &groups {
            if free.is_empty() {
                break;
            }
            let i = pick(free.len());
            let pos = free.swap_remove(i.min(free.len().saturating_sub(1)));
            if let Some(slot) = out.get_mut(pos) {
                *slot = choose(g, pick);
            }
        }
    }
    Ok(out.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rng(seed: u64) -> impl FnMut(usize) -> usize {
        let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        move |n| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s % n as u64) as usize
        }
    }

    #[test]
    fn default_password_is_32_characters_of_every_type() {
        let p = generate_password(&PasswordSpec::default(), &mut rng(1)).unwrap();
        assert_eq!(p.chars().count(), 32);
        assert!(p.chars().any(|c| c.is_ascii_lowercase()));
        assert!(p.chars().any(|c| c.is_ascii_uppercase()));
        assert!(p.chars().any(|c| c.is_ascii_digit()));
        assert!(p.chars().any(|c| c.is_ascii_punctuation()));
    }

    #[test]
    fn too_short_for_the_required_types_is_refused() {
        let spec = PasswordSpec {
            length: 3,
            ..PasswordSpec::default()
        };
        assert_eq!(
            generate_password(&spec, &mut rng(2)),
            Err(PasswordError::TooShort)
        );
    }

    #[test]
    fn a_space_never_takes_a_required_types_place() {
        // Regression: PasswordLength 4 with IncludeSpace lacked one of the four types.
        for seed in 0..500 {
            let spec = PasswordSpec {
                length: 4,
                include_space: true,
                ..PasswordSpec::default()
            };
            let p = generate_password(&spec, &mut rng(seed)).unwrap();
            assert!(p.chars().any(|c| c.is_ascii_lowercase()), "{p:?}");
            assert!(p.chars().any(|c| c.is_ascii_uppercase()), "{p:?}");
            assert!(p.chars().any(|c| c.is_ascii_digit()), "{p:?}");
            assert!(p.chars().any(|c| c.is_ascii_punctuation()), "{p:?}");
        }
    }

    #[test]
    fn everything_excluded_is_refused() {
        let spec = PasswordSpec {
            exclude_lowercase: true,
            exclude_uppercase: true,
            exclude_numbers: true,
            exclude_punctuation: true,
            ..PasswordSpec::default()
        };
        assert_eq!(
            generate_password(&spec, &mut rng(3)),
            Err(PasswordError::NothingToUse)
        );
    }

    proptest! {
        #[test]
        fn excluded_characters_never_appear(seed: u64, len in 5usize..200, excl in "[a-zA-Z0-9!@#]{0,12}",
                                            space: bool, no_punct: bool) {
            let spec = PasswordSpec { length: len, exclude_characters: excl.clone(),
                include_space: space, exclude_punctuation: no_punct, ..PasswordSpec::default() };
            let p = generate_password(&spec, &mut rng(seed)).unwrap();
            prop_assert_eq!(p.chars().count(), len);
            prop_assert!(!p.chars().any(|c| excl.contains(c)));
            if no_punct { prop_assert!(!p.chars().any(|c| c.is_ascii_punctuation())); }
            if space { prop_assert!(p.contains(' ')); }
        }
    }
}

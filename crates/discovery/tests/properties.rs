//! Random text without the strict patterns yields no strict findings.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::LazyLock;

use palisade_discovery::{Engine, EngineBuilder, Selection};
use proptest::prelude::*;

static STRICT_ENGINE: LazyLock<Engine> = LazyLock::new(|| {
    EngineBuilder::new()
        .selection(Selection::parse(STRICT).unwrap())
        .build()
        .unwrap()
});
static ALL: LazyLock<Engine> = LazyLock::new(|| Engine::with_defaults().unwrap());

/// Identifiers whose values need a checksum or a fixed prefix: noise must never produce them.
const STRICT: &str = "CREDIT_CARD_NUMBER,CREDIT_CARD_NUMBER_(NO_KEYWORD),IBAN,USA_SOCIAL_SECURITY_NUMBER,\
    UK_NHS_NUMBER,INDIA_AADHAAR_NUMBER,BRAZIL_CPF_NUMBER,BRAZIL_CNPJ_NUMBER,PKCS,OPENSSH_PRIVATE_KEY,\
    JSON_WEB_TOKEN,GITHUB_TOKEN,STRIPE_CREDENTIALS,AWS_ACCESS_KEY_ID,EMAIL_ADDRESS,URL";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Letters, punctuation, spaces and short digit groups (at most 3 digits each, then a space or
    /// letter: grouped numbers like `123 456 7890` can still form; a checksum must then stop them),
    /// no `@`, no `://`.
    #[test]
    fn noise_has_no_strict_findings(s in "([a-zA-Z ,.;!?()'\"-]{1,12}|[0-9]{1,3}[ a-z,.]|[ \\n\\t])*") {
        let found = STRICT_ENGINE.scan_bytes(s.as_bytes());
        prop_assert!(found.is_empty(), "{:?} in {:?}", found, s);
    }

    /// Arbitrary bytes never panic and never yield out-of-range spans.
    #[test]
    fn arbitrary_bytes_are_safe(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let e = &*ALL;
        for d in e.scan_bytes(&data) {
            prop_assert!(d.start < d.end && d.end <= data.len());
        }
        let r = palisade_discovery::formats::archive::scan_object(e, "x.json", &data, true);
        prop_assert!(!r.is_empty());
    }
}

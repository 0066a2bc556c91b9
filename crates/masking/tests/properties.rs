//! Property tests: every reversible transform round-trips, format-preserving ones keep the
//! length and character classes, masks keep the length.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use palisade_masking::crypto::ff1::Ff1;
use palisade_masking::crypto::siv::AesSiv;
use palisade_masking::keys::Keys;
use palisade_masking::transform::{Direction, Masked, Transform, TransformSpec};
use proptest::prelude::*;

fn compile(json: serde_json::Value) -> Transform {
    let mut keys = Keys::new();
    keys.insert_raw("k", &[7u8; 32]);
    serde_json::from_value::<TransformSpec>(json)
        .unwrap()
        .compile("X", &mut keys, Direction::Mask)
        .unwrap()
}

fn value(m: Masked) -> String {
    match m {
        Masked::Value(v) => v,
        other => panic!("{other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn ff1_round_trips(radix in 2u32..=300, len in 0usize..60, seed in any::<u64>(), tweak in proptest::collection::vec(any::<u8>(), 0..40)) {
        let f = Ff1::new(&seed.to_le_bytes().repeat(4), radix).unwrap();
        let x: Vec<u16> = (0..len.max(f.min_len())).map(|i| ((seed >> (i % 50)) as u32 ^ i as u32).rem_euclid(radix) as u16).collect();
        let c = f.encrypt(&tweak, &x).unwrap();
        prop_assert_eq!(c.len(), x.len());
        prop_assert!(c.iter().all(|&d| u32::from(d) < radix));
        prop_assert_eq!(f.decrypt(&tweak, &c).unwrap(), x);
    }

    #[test]
    fn siv_round_trips(payload in proptest::collection::vec(any::<u8>(), 0..100), ad in proptest::collection::vec(any::<u8>(), 0..40)) {
        let s = AesSiv::new(&[3u8; 64]).unwrap();
        let c = s.encrypt(&[&ad], &payload).unwrap();
        prop_assert_eq!(c.len(), payload.len() + 16);
        prop_assert_eq!(s.decrypt(&[&ad], &c).unwrap(), payload);
    }

    #[test]
    fn fpe_transform_preserves_format(v in "[0-9]{6,30}(-[0-9a-zA-Z ]{0,8})?") {
        for (spec, class) in [
            (serde_json::json!({"type": "fpe", "key": "k"}), 10u8),
            (serde_json::json!({"type": "fpe", "key": "k", "radix": 62, "context": "c"}), 62),
        ] {
            let t = compile(spec);
            let out = value(t.apply(&v, None).unwrap());
            prop_assert_eq!(out.chars().count(), v.chars().count());
            for (a, b) in out.chars().zip(v.chars()) {
                let in_alpha = |c: char| if class == 10 { c.is_ascii_digit() } else { c.is_ascii_alphanumeric() };
                prop_assert_eq!(in_alpha(a), in_alpha(b));
                if !in_alpha(b) { prop_assert_eq!(a, b); }
            }
            prop_assert_eq!(value(t.invert(&out, None).unwrap()), v.clone());
        }
    }

    #[test]
    fn deterministic_encrypt_round_trips(v in "\\PC{0,40}") {
        let t = compile(serde_json::json!({"type": "deterministic_encrypt", "key": "k", "surrogate": "T"}));
        let out = value(t.apply(&v, None).unwrap());
        prop_assert_eq!(&out, &value(t.apply(&v, None).unwrap()));
        prop_assert_eq!(value(t.invert(&out, None).unwrap()), v);
    }

    #[test]
    fn masks_keep_length(v in "\\PC{0,40}", keep in 0usize..6, start in -10i64..10) {
        for spec in [
            serde_json::json!({"type": "mask", "keep_last": keep, "unmasked": ["symbols", "whitespace"]}),
            serde_json::json!({"type": "mask", "start": start}),
            serde_json::json!({"type": "mask", "char": "•", "count": keep, "from_end": true}),
            serde_json::json!({"type": "mask", "start_delimiter": "@", "end_delimiter": "."}),
        ] {
            let out = value(compile(spec).apply(&v, None).unwrap());
            prop_assert_eq!(out.chars().count(), v.chars().count());
        }
    }

    #[test]
    fn date_shift_round_trips(days in 0i64..40000, entity in "[a-z0-9]{0,12}") {
        let t = compile(serde_json::json!({"type": "date_shift", "key": "k", "lower_days": -365, "upper_days": 365, "entity": "e"}));
        let d = time::Date::from_julian_day(2_400_000 + i32::try_from(days).unwrap()).unwrap();
        let s = format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day());
        let out = value(t.apply(&s, Some(&entity)).unwrap());
        prop_assert_eq!(value(t.invert(&out, Some(&entity)).unwrap()), s);
    }
}

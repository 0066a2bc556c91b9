//! Masking and anonymization for Palisade: DataBrew-style PII transforms, Google-DLP-style
//! de-identification (AES-SIV surrogates, FF1, date shift, bucketing) and Redshift-style
//! dynamic masking policies, over CSV/TSV, JSON Lines, Parquet and plain text.
//!
//! * [`transform`]: the transforms and their inverses; [`crypto`]: AES-SIV, FF1, CMAC.
//! * [`rules`]: the rules file; [`policy`]: dynamic masking policies by principal.
//! * [`keys`] and [`kms`]: key files, KMS-wrapped keys and envelope data keys.
//! * [`detect`]: the [`detect::Detector`] seam for free text (palisade-discovery plugs in).
//! * [`formats`] and [`cli`]: streaming file formats and the `palisade mask`/`unmask` commands.
//!
//! # Plugging in palisade-discovery
//!
//! Free-text masking (rules with `identifiers`, plain-text inputs) goes through the
//! [`detect::Detector`] trait; the built-in [`detect::RegexDetector`] knows `EMAIL`,
//! `CREDIT_CARD`, `USA_SSN` and `PHONE_NUMBER`. To mask what the discovery engine finds,
//! wrap its engine and hand it to [`cli::run_mask_with`] (or [`cli::run_detected`]); rules
//! then name discovery's identifier ids:
//!
//! ```text
//! #[derive(Debug)]
//! struct Discovery(palisade_discovery::Engine);
//! impl palisade_masking::detect::Detector for Discovery {
//!     fn detect(&self, text: &str) -> Vec<palisade_masking::detect::Span> {
//!         self.0.scan_bytes(text.as_bytes()).iter()
//!             .filter(|d| text.is_char_boundary(d.start) && text.is_char_boundary(d.end))
//!             .map(|d| palisade_masking::detect::Span {
//!                 offset: d.start, length: d.end - d.start,
//!                 identifier: self.0.type_id(d).to_owned() })
//!             .collect()
//!     }
//! }
//! palisade_masking::cli::run_mask_with(&args, Box::new(Discovery(Engine::with_defaults()?)))
//! ```
//!
//! # Keys
//!
//! Every transform derives its own subkey from a named key with HKDF-SHA256, so one key can
//! serve several transforms without relating their outputs. Keys come from a key file (raw,
//! hex, or wrapped by KMS and unwrapped with `Decrypt`), and `encrypt` draws a per-run data key
//! from KMS `GenerateDataKey` (or from a local key) whose wrapped copy goes to the envelope
//! manifest `OUTPUT.keys.json` that `unmask` reads.

pub mod cli;
pub mod crypto;
pub mod detect;
pub mod error;
pub mod formats;
pub mod keys;
pub mod kms;
pub mod masker;
pub mod policy;
pub mod rules;
pub mod transform;

pub use error::{CryptoError, MaskError};

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
//! # Detection
//!
//! Free-text masking (rules with `identifiers`, plain-text inputs) goes through the
//! [`detect::Detector`] trait. `palisade mask` uses [`detect::DiscoveryDetector`]: the
//! `palisade-discovery` engine behind `palisade scan`, compiled once per run with the managed
//! identifiers the rules name (all of them for `*`), so that what scan reports, mask masks.
//! Rules name scan's IDs (`EMAIL_ADDRESS`, `AWS_CREDENTIALS`, …) or the aliases `EMAIL`,
//! `USA_SSN`, `CREDIT_CARD`; an unknown ID is refused when the rules are loaded. Another
//! detector plugs in with [`cli::run_mask_with`] or [`cli::run_detected`].
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

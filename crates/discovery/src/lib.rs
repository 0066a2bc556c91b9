//! Macie-style sensitive-data discovery at the speed of a grep.
//!
//! * [`identifiers`]: Macie's managed data identifiers (IDs, categories, keyword rules, severity).
//! * [`engine`]: one multi-pattern regex pass, validators on candidates, keyword proximity through
//!   one Aho-Corasick automaton; `scan_bytes` / `scan_reader` work on any byte stream.
//! * [`custom`]: custom data identifiers and allow lists with Macie's limits.
//! * [`formats`]: text, CSV/TSV, JSON/JSON Lines, Parquet, gzip/zip; offsets to Macie locations.
//! * [`report`]: Macie findings, `jsonl` detections, SARIF, summary tables.
//! * [`cli`]: `palisade scan`.

pub mod custom;
pub mod engine;
pub mod error;
pub mod identifiers;
mod names;
pub mod validate;

pub use custom::{AllowList, CustomIdentifier};
pub use engine::{Detection, Engine, EngineBuilder, Selection};
pub use error::{Error, Result};
pub mod cli;
pub mod formats;
pub mod report;

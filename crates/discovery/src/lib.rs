//! Macie-style sensitive-data discovery at the speed of a grep.
//!
//! ```no_run
//! let engine = palisade_discovery::Engine::with_defaults()?;
//! for d in engine.scan_bytes(b"card number 4539 1488 0343 6467") {
//!     println!("{} at {}..{}", engine.type_id(&d), d.start, d.end);
//! }
//! # Ok::<(), palisade_discovery::Error>(())
//! ```
//!
//! Detections carry offsets, never values; callers that need values (`--reveal`) slice their
//! own buffer. For objects that are not files (a future Macie2 classification job over S3
//! streams) use [`Engine::scan_reader`] (plain text, bounded memory) or
//! [`formats::archive::scan_object`] (any supported format, archives included).
//!
//! * [`identifiers`]: Macie's managed data identifiers (IDs, categories, keyword rules, severity).
//! * [`engine`]: passes that each find candidates cheaply (digit-run windows, literal triggers,
//!   a name scanner, a whole-buffer regex for emails), validators on candidates, keyword proximity
//!   from a per-window keyword table; `scan_bytes` / `scan_reader` / `Scanner::scan_stream` work
//!   on any byte stream.
//! * [`custom`]: custom data identifiers and allow lists with Macie's limits.
//! * [`formats`]: text, CSV/TSV, JSON/JSON Lines, Parquet, gzip/zip; offsets to Macie locations.
//! * [`report`]: Macie findings, `jsonl` detections, SARIF, summary tables.
//! * [`cli`]: `palisade scan`.

pub mod custom;
pub mod engine;
pub mod error;
pub mod identifiers;
mod names;
mod starts;
pub mod validate;

pub use custom::{AllowList, CustomIdentifier};
pub use engine::{Detection, Engine, EngineBuilder, Selection};
pub use error::{Error, Result};
pub mod cli;
pub mod formats;
pub mod report;

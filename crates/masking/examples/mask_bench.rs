//! Throughput benchmark for bench/masking/run.sh: generates a CSV of `--rows` rows with five
//! sensitive columns, times each transform alone over its column (one thread, so the figure is
//! per core), then masks the whole file end to end. Prints one JSON line per measurement.
//!
//!   cargo run --release --example mask_bench -p palisade-masking -- --rows 1000000 --dir /tmp/x
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use palisade_masking::cli::run;
use palisade_masking::keys::Keys;
use palisade_masking::rules::RulesFile;
use palisade_masking::transform::{Direction, Masked, TransformSpec};
use serde_json::json;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*: reproducible test data, not security.
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const FIRST: [&str; 8] = [
    "ann", "bob", "chen", "dana", "eli", "fatima", "goran", "hiro",
];
const LAST: [&str; 8] = [
    "lee", "smith", "garcia", "okafor", "novak", "tanaka", "silva", "khan",
];

fn generate(path: &PathBuf, rows: usize) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(w, "card,email,name,account,dob").unwrap();
    for i in 0..rows {
        let card = format!(
            "4{:03}-{:04}-{:04}-{:04}",
            rng.below(1000),
            rng.below(10000),
            rng.below(10000),
            rng.below(10000)
        );
        let f = FIRST[rng.below(8) as usize];
        let l = LAST[rng.below(8) as usize];
        let email = format!("{f}.{l}{}@example.com", i % 100_000);
        let name = format!("{} {}", capital(f), capital(l));
        let account = format!("{:016}", rng.below(10_000_000_000_000_000));
        let dob = format!(
            "{}-{:02}-{:02}",
            1940 + rng.below(70),
            1 + rng.below(12),
            1 + rng.below(28)
        );
        writeln!(w, "{card},{email},{name},{account},{dob}").unwrap();
    }
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

fn specs() -> Vec<(&'static str, &'static str, serde_json::Value)> {
    vec![
        (
            "card",
            "mask (keep last 4)",
            json!({"type": "mask", "keep_last": 4, "unmasked": ["symbols"]}),
        ),
        (
            "email",
            "hmac-sha256 (hex)",
            json!({"type": "hash", "key": "k", "context": "email"}),
        ),
        (
            "name",
            "aes-siv (surrogate)",
            json!({"type": "deterministic_encrypt", "key": "k", "context": "name", "surrogate": "NAME"}),
        ),
        (
            "account",
            "ff1 radix 10 (16 digits)",
            json!({"type": "fpe", "key": "k", "context": "account"}),
        ),
        (
            "dob",
            "date shift (per email)",
            json!({"type": "date_shift", "key": "k", "lower_days": -30, "upper_days": 30, "entity": "email"}),
        ),
    ]
}

fn keys() -> Keys {
    let mut k = Keys::new();
    k.insert_raw("k", &[0x42; 32]);
    k
}

fn main() {
    let mut rows = 1_000_000usize;
    let mut dir = std::env::temp_dir().join("palisade-mask-bench");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--rows" => rows = args.next().unwrap().parse().unwrap(),
            "--dir" => dir = PathBuf::from(args.next().unwrap()),
            other => panic!("unknown argument {other}"),
        }
    }
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("people.csv");
    let t = Instant::now();
    generate(&input, rows);
    eprintln!(
        "generated {} rows in {:.1}s: {}",
        rows,
        t.elapsed().as_secs_f64(),
        input.display()
    );

    // Per transform, over its column's values, one thread.
    let mut reader = csv::Reader::from_path(&input).unwrap();
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    for (col, (name, label, spec)) in specs().into_iter().enumerate() {
        let spec: TransformSpec = serde_json::from_value(spec).unwrap();
        let t = spec.compile("X", &mut keys(), Direction::Mask).unwrap();
        let values: Vec<&str> = records.iter().map(|r| &r[col]).collect();
        let entities: Vec<&str> = records.iter().map(|r| &r[1]).collect();
        let use_entity = name == "dob";
        let start = Instant::now();
        let mut bytes = 0usize;
        for (v, e) in values.iter().zip(&entities) {
            if let Masked::Value(s) = t.apply(v, use_entity.then_some(*e)).unwrap() {
                bytes += s.len();
            }
        }
        let secs = start.elapsed().as_secs_f64();
        std::hint::black_box(bytes);
        println!(
            "{}",
            json!({"tool": "palisade-masking", "column": name, "transform": label, "values": values.len(),
                   "seconds": (secs * 1000.0).round() / 1000.0, "values_per_sec": (values.len() as f64 / secs).round()})
        );
    }
    drop(records);

    // End to end: read CSV, five transforms, write CSV.
    let rules: Vec<serde_json::Value> = specs()
        .into_iter()
        .map(|(c, _, s)| json!({"column": c, "transform": s}))
        .collect();
    let rules = RulesFile::from_value(&json!({"rules": rules})).unwrap();
    let output = dir.join("people.masked.csv");
    let compiled = rules.compile(&mut keys(), Direction::Mask).unwrap();
    let start = Instant::now();
    let summary = run(
        compiled,
        &input,
        &output,
        None,
        Direction::Mask,
        true,
        false,
    )
    .unwrap();
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({"tool": "palisade-masking", "column": "all five", "transform": "csv end to end (read, 5 transforms, write)",
               "values": summary.records, "seconds": (secs * 1000.0).round() / 1000.0,
               "values_per_sec": (summary.records as f64 / secs).round()})
    );
    for (cols, label) in [
        (&["card"][..], "csv end to end, mask only"),
        (&["card", "email"][..], "csv end to end, mask + hmac only"),
    ] {
        let rules: Vec<serde_json::Value> = specs()
            .into_iter()
            .filter(|(c, _, _)| cols.contains(c))
            .map(|(c, _, s)| json!({"column": c, "transform": s}))
            .collect();
        let compiled = RulesFile::from_value(&json!({"rules": rules}))
            .unwrap()
            .compile(&mut keys(), Direction::Mask)
            .unwrap();
        let out2 = dir.join("people.masked2.csv");
        let start = Instant::now();
        let summary = run(compiled, &input, &out2, None, Direction::Mask, true, false).unwrap();
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{}",
            json!({"tool": "palisade-masking", "column": cols.join("+"), "transform": label,
                   "values": summary.records, "seconds": (secs * 1000.0).round() / 1000.0,
                   "values_per_sec": (summary.records as f64 / secs).round()})
        );
    }
}

//! Single-core throughput of the engine on generated text: `cargo bench -p palisade-discovery`.
//! Prints MB/s for PII-free prose and PII-dense text (every line holds one or more values), scanned
//! from memory through `Scanner::scan_stream`, the path `palisade scan` takes for a text file.

use std::time::Instant;

use palisade_discovery::Engine;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*: deterministic, no dependency.
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs.get((self.next() % xs.len() as u64) as usize)
            .copied()
            .unwrap_or("")
    }
    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + (self.next() % 10) as u8))
            .collect()
    }
}

const WORDS: &[&str] = &[
    "the",
    "system",
    "records",
    "were",
    "updated",
    "after",
    "review",
    "and",
    "all",
    "teams",
    "agreed",
    "that",
    "quarterly",
    "results",
    "show",
    "growth",
    "in",
    "several",
    "regions",
    "while",
    "costs",
    "remained",
    "stable",
    "overall",
    "performance",
    "improved",
    "compared",
    "with",
    "last",
    "year",
    "report",
    "meeting",
    "scheduled",
    "project",
    "milestone",
    "delivered",
    "on",
    "time",
    "Budget",
    "Office",
    "The",
    "committee",
    "approved",
    "plan",
    "for",
    "development",
    "of",
    "new",
    "features",
    "customers",
    "requested",
    "during",
    "survey",
    "analysis",
    "data",
    "pipeline",
];

fn prose(rng: &mut Rng, bytes: usize) -> Vec<u8> {
    let mut s = String::with_capacity(bytes + 100);
    while s.len() < bytes {
        for i in 0..12 {
            if i > 0 {
                s.push(' ');
            }
            s.push_str(rng.pick(WORDS));
        }
        s.push_str(if rng.next().is_multiple_of(4) {
            ".\n"
        } else {
            ". "
        });
        if rng.next().is_multiple_of(7) {
            s.push_str(&format!(
                "In {} we shipped {} items. ",
                1990 + rng.next() % 35,
                rng.next() % 500
            ));
        }
    }
    s.into_bytes()
}

fn luhn_complete(prefix: &str, len: usize, rng: &mut Rng) -> String {
    let mut d = prefix.to_owned();
    d.push_str(&rng.digits(len - prefix.len() - 1));
    for c in 0..10u8 {
        let cand = format!("{d}{c}");
        let ok = cand
            .bytes()
            .rev()
            .enumerate()
            .map(|(i, b)| {
                let v = u32::from(b - b'0');
                if i % 2 == 1 {
                    if v * 2 > 9 { v * 2 - 9 } else { v * 2 }
                } else {
                    v
                }
            })
            .sum::<u32>()
            % 10
            == 0;
        if ok {
            return cand;
        }
    }
    d
}

fn dense(rng: &mut Rng, bytes: usize) -> Vec<u8> {
    let mut s = String::with_capacity(bytes + 200);
    while s.len() < bytes {
        let line = match rng.next() % 8 {
            0 => format!(
                "Customer email: {}.{}@example.com, phone (415) 555-{}",
                rng.pick(WORDS),
                rng.pick(WORDS),
                rng.digits(4)
            ),
            1 => format!("card number {} exp 09/27", luhn_complete("4", 16, rng)),
            2 => format!(
                "SSN: {}-{}-{} on file",
                100 + rng.next() % 500,
                10 + rng.next() % 80,
                1000 + rng.next() % 8000
            ),
            3 => format!(
                "login from 10.{}.{}.{} at https://portal.example.com/a/{}",
                rng.next() % 256,
                rng.next() % 256,
                rng.next() % 256,
                rng.digits(5)
            ),
            4 => "IBAN DE89 3704 0044 0532 0130 00 transferred".to_owned(),
            5 => format!("Dear John Smith, your order {} shipped", rng.digits(8)),
            6 => format!("aws key AKIA{} for the build", "Z3MSJV4WWNKWW5FG"),
            _ => format!(
                "DOB: 0{}/1{}/19{}",
                1 + rng.next() % 9,
                rng.next() % 9,
                50 + rng.next() % 49
            ),
        };
        s.push_str(&line);
        s.push('\n');
    }
    s.into_bytes()
}

/// CPU seconds used by this thread (utime + stime from /proc), so that figures stay per core when
/// other processes share the machine; wall time where /proc is missing.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn measure(engine: &Engine, name: &str, data: &[u8]) {
    // PALISADE_BENCH_ONLY picks one input by a word of its name (for profiling).
    if let Ok(only) = std::env::var("PALISADE_BENCH_ONLY")
        && !name.contains(only.as_str())
    {
        return;
    }
    let mut scanner = engine.scanner();
    let mut out: Vec<usize> = Vec::new();
    // Through the stream API in 1 MiB chunks, as `palisade scan` reads files (each pass then
    // reads a chunk from the core's L2 cache), from memory: no I/O is measured.
    let mut run = |out: &mut Vec<usize>| {
        let _ = scanner.scan_stream(data, |chunk| out.push(chunk.found.len()));
    };
    // Warm the lazy DFA caches.
    run(&mut out);
    let found: usize = out.iter().sum();
    let rounds = 5;
    let t = Instant::now();
    let c0 = cpu_seconds();
    // The fastest round's wall time too: on a shared machine it moves less between runs than the
    // mean, so it is the figure to compare two builds by.
    let mut best = f64::MAX;
    for _ in 0..rounds {
        let r = Instant::now();
        out.clear();
        run(&mut out);
        best = best.min(r.elapsed().as_secs_f64());
    }
    let wall = t.elapsed().as_secs_f64();
    let secs = match (c0, cpu_seconds()) {
        (Some(a), Some(b)) if b > a => b - a,
        _ => wall,
    } / f64::from(rounds);
    println!(
        "{name:<24} {:>8.1} MB/s per core  (best round {:.1}; {} MB, {found} detections)",
        data.len() as f64 / 1e6 / secs,
        data.len() as f64 / 1e6 / best,
        data.len() / 1_000_000
    );
}

fn main() {
    // PALISADE_BENCH_IDS narrows the identifiers (same syntax as `--identifiers`).
    let ids = std::env::var("PALISADE_BENCH_IDS").unwrap_or_else(|_| "ALL".into());
    let built = palisade_discovery::Selection::parse(&ids).and_then(|s| {
        palisade_discovery::EngineBuilder::new()
            .selection(s)
            .build()
    });
    let engine = match built {
        Ok(e) => e,
        Err(e) => {
            eprintln!("cannot build the engine: {e}");
            std::process::exit(2);
        }
    };
    // PALISADE_BENCH_FILES measures these files instead (comma-separated), e.g. the corpus of
    // bench/discovery/run.sh.
    if let Ok(files) = std::env::var("PALISADE_BENCH_FILES") {
        for f in files.split(',').filter(|f| !f.is_empty()) {
            match std::fs::read(f) {
                Ok(data) => measure(&engine, f, &data),
                Err(e) => {
                    eprintln!("cannot read {f}: {e}");
                    std::process::exit(2);
                }
            }
        }
        return;
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let clean = prose(&mut rng, 32 << 20);
    let pii = dense(&mut rng, 16 << 20);
    measure(&engine, "text without PII", &clean);
    measure(&engine, "PII-dense text", &pii);
    let mut utf8 = String::new();
    while utf8.len() < (8 << 20) {
        utf8.push_str("Zürich Ærøskøbing naïve café 東京都 Привет мир — ");
    }
    measure(&engine, "non-ASCII text", utf8.as_bytes());
}

//! Searches for an order of the trigger literals (`identifiers::TRIGGER_ORDER`) under which the
//! trigger automaton scans the given files fastest, starting from the current order:
//! `cargo run --release -p palisade-discovery --example trigger_order -- FILES... [--rounds N]`.
//! Prints each file's speed before and after, and the order found.

use std::time::Instant;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use palisade_discovery::identifiers::{MANAGED, Pass, TRIGGER_ORDER, pass_of};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn automaton(order: &[&str]) -> Result<AhoCorasick> {
    // As the engine builds it.
    Ok(AhoCorasickBuilder::new()
        .match_kind(MatchKind::LeftmostFirst)
        .build(order)?)
}

/// MB/s of the best of `reps` searches over `data`.
fn speed(ac: &AhoCorasick, data: &[u8], reps: usize) -> f64 {
    let best = (0..reps)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(ac.find_iter(data).count());
            t.elapsed().as_secs_f64()
        })
        .fold(f64::MAX, f64::min);
    data.len() as f64 / best / 1e6
}

fn main() -> Result<()> {
    let mut files = Vec::new();
    let mut rounds = 2000usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--rounds" {
            rounds = args.next().and_then(|n| n.parse().ok()).unwrap_or(rounds);
        } else {
            let mut d = std::fs::read(&a).map_err(|e| format!("cannot read {a}: {e}"))?;
            d.truncate(16 << 20);
            files.push(d);
        }
    }
    let mut order: Vec<&str> = MANAGED
        .iter()
        .flat_map(|m| match pass_of(m) {
            Pass::Literal(t) | Pass::Token(t) => t.iter().map(|l| l.0).collect(),
            _ => Vec::new(),
        })
        .collect();
    order.sort();
    order.dedup();
    let rank = |l: &str| TRIGGER_ORDER.iter().position(|&t| t == l);
    order.sort_by_key(|l| rank(l).unwrap_or(usize::MAX));
    // Seconds per MB summed over the files: every file counts, none dominates.
    let cost = |o: &[&str]| -> Result<f64> {
        let ac = automaton(o)?;
        Ok(files.iter().map(|d| 1.0 / speed(&ac, d, 3)).sum())
    };
    let show = |label: &str, o: &[&str]| -> Result<()> {
        let ac = automaton(o)?;
        let v: Vec<String> = files
            .iter()
            .map(|d| format!("{:.0}", speed(&ac, d, 5)))
            .collect();
        println!("{label} (MB/s per file): {}", v.join(" "));
        Ok(())
    };
    show("current", &order)?;
    let mut best = cost(&order)?;
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    };
    for _ in 0..rounds {
        let (i, j) = (next(order.len()), next(order.len()));
        order.swap(i, j);
        let c = cost(&order)?;
        if c < best {
            best = c;
        } else {
            order.swap(i, j);
        }
    }
    show("found", &order)?;
    println!("{order:?}");
    Ok(())
}

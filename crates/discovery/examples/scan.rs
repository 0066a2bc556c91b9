//! `palisade scan` without the server: `cargo run --release -p palisade-discovery --example scan -- PATH...`.

use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: palisade_discovery::cli::ScanArgs,
}

fn main() {
    let cli = Cli::parse();
    std::process::exit(palisade_discovery::cli::run(cli.args));
}

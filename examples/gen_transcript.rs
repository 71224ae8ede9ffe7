//! Writes a generated conforming transcript, for benchmarking `notifspec check`:
//! `cargo run --release --example gen_transcript -- 10000000 big.txt` (or `-` for stdout).

use std::io::Write;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let lines: usize = match args.next().map(|s| s.parse()) {
        Some(Ok(n)) => n,
        _ => {
            eprintln!("usage: gen_transcript LINES [FILE|-]");
            std::process::exit(2);
        }
    };
    let out: Box<dyn Write> = match args.next().as_deref() {
        None | Some("-") => Box::new(std::io::stdout().lock()),
        Some(path) => Box::new(std::fs::File::create(path)?),
    };
    notifspec::transcript::generate_conforming(lines, out)
}

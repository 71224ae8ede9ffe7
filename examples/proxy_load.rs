//! Drives `random?` round trips at one address, for profiling a proxy under a fixed load:
//! `cargo run --release --example proxy_load -- ADDR CONNS SECONDS`. Prints round trips,
//! round trips/s and p50/p99 in µs (the `proxy` bench's driver, one point).

use std::sync::Arc;
use std::time::Duration;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = match args.as_slice() {
        [addr, conns, secs] => addr
            .parse()
            .ok()
            .zip(conns.parse::<usize>().ok())
            .zip(secs.parse::<f64>().ok()),
        _ => None,
    };
    let Some(((addr, conns), secs)) = parsed else {
        eprintln!("usage: proxy_load ADDR CONNS SECONDS");
        std::process::exit(2);
    };
    let dialect = notifspec::dialect::Dialect::default();
    let mut request = dialect.commands.random.clone().into_bytes();
    request.extend_from_slice(dialect.line_ending.as_bytes());
    let request: Arc<[u8]> = request.into();
    let duration = Duration::from_secs_f64(secs);
    match notifspec::bench::rr::drive(addr, conns, request, duration, u64::MAX).await {
        Ok(s) => println!(
            "{} rt {:.0} rt/s p50 {:.1} µs p99 {:.1} µs",
            s.round_trips,
            s.rate(),
            s.latency.quantile(0.5).as_secs_f64() * 1e6,
            s.latency.quantile(0.99).as_secs_f64() * 1e6
        ),
        Err(e) => {
            eprintln!("proxy_load: {e}");
            std::process::exit(1);
        }
    }
}

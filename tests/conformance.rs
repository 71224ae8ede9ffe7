//! The conformance suite under `cargo test`: every feature scenario against the embedded
//! reference server and client, or against an external server when `NOTIFSPEC_SERVER`
//! (and optionally `NOTIFSPEC_CONTROL`) is set. A failed scenario fails `cargo test`.

use std::process::ExitCode;
use std::sync::Arc;

use notifspec::conform::{self, Options, Suite, Target, render};

fn main() -> ExitCode {
    let target = match std::env::var("NOTIFSPEC_SERVER") {
        Ok(addr) => Target::Server {
            addr,
            control: std::env::var("NOTIFSPEC_CONTROL").ok(),
        },
        Err(_) => Target::Reference,
    };
    let suite = match Suite::embedded() {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("conformance: the suite does not load: {e}");
            return ExitCode::FAILURE;
        }
    };
    let options = Options::new(target);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match rt.block_on(conform::run(suite, &options)) {
        Ok(report) => {
            print!("{}", render::text(&report));
            if report.status() == notifspec::cmd::Status::Pass {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("conformance: {e}");
            ExitCode::FAILURE
        }
    }
}

//! The conformance suite under `cargo test`: every feature scenario against the embedded
//! reference server and client in each built-in dialect, or against an external server when
//! `NOTIFSPEC_SERVER` (and optionally `NOTIFSPEC_CONTROL` or `NOTIFSPEC_PUBLISH_CMD`,
//! `NOTIFSPEC_DIALECT`) is set; with neither a control port nor a publish command, the server
//! is taken to publish on its own (spontaneous mode, as `conform` does). A
//! failed scenario fails `cargo test` and prints the full report; a green run prints one
//! summary line per dialect. Like libtest, `--list` lists the scenarios and a free argument
//! keeps only the scenarios whose name contains it (`cargo test --test conformance window`).

use std::process::ExitCode;
use std::sync::Arc;

use notifspec::cmd::Status;
use notifspec::conform::items::{DEFAULT_SPONTANEOUS_WAIT, ItemSource, PublishCmd, Spontaneous};
use notifspec::conform::{self, ConformTarget, Options, Suite, render};
use notifspec::dialect::{self, Dialect};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let filter = args.iter().find(|a| !a.starts_with('-')).cloned();
    let mut suite = match Suite::embedded() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("conformance: the suite does not load: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(f) = &filter {
        suite.scenarios.retain(|s| s.name.contains(f.as_str()));
    }
    if args.iter().any(|a| a == "--list") {
        for s in &suite.scenarios {
            println!("{}: test", s.name);
        }
        return ExitCode::SUCCESS;
    }
    let suite = Arc::new(suite);
    let target = match std::env::var("NOTIFSPEC_SERVER") {
        Ok(addr) => ConformTarget::Server {
            addr,
            control: std::env::var("NOTIFSPEC_CONTROL").ok(),
        },
        Err(_) => ConformTarget::Reference,
    };
    let dialects: Vec<String> = match std::env::var("NOTIFSPEC_DIALECT") {
        Ok(d) => vec![d],
        Err(_) if target == ConformTarget::Reference => dialect::builtin_names()
            .into_iter()
            .map(str::to_string)
            .collect(),
        Err(_) => vec![dialect::DEFAULT_DIALECT.to_string()],
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let mut code = ExitCode::SUCCESS;
    for name in dialects {
        let mut options = Options::new(target.clone());
        options.items = match items() {
            Ok(items) => items,
            Err(e) => {
                eprintln!("conformance: {e}");
                return ExitCode::FAILURE;
            }
        };
        options.dialect = match Dialect::load(&name, None) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("conformance: {e}");
                return ExitCode::FAILURE;
            }
        };
        match rt.block_on(conform::run(suite.clone(), &options)) {
            Ok(report) => {
                let text = render::text(&report);
                if report.status() == Status::Pass {
                    let summary = text.lines().last().unwrap_or_default();
                    println!("conformance ({name}): {summary}");
                } else {
                    print!("{text}");
                    code = ExitCode::FAILURE;
                }
            }
            Err(e) => {
                eprintln!("conformance: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    code
}

/// How items appear on an external server: `NOTIFSPEC_PUBLISH_CMD`, else its control port,
/// else its own publishing (waits bounded by `conform`'s default).
fn items() -> Result<ItemSource, String> {
    if std::env::var("NOTIFSPEC_SERVER").is_err() || std::env::var("NOTIFSPEC_CONTROL").is_ok() {
        return Ok(ItemSource::ControlPort);
    }
    Ok(match std::env::var("NOTIFSPEC_PUBLISH_CMD") {
        Ok(cmd) => ItemSource::Command(PublishCmd::new(&cmd)?),
        Err(_) => ItemSource::Spontaneous(Spontaneous::new(DEFAULT_SPONTANEOUS_WAIT)),
    })
}

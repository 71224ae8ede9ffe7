//! The variant matrix: the reference server configured with every legal alternative where the
//! seed leaves the behaviour open (docs/protocol.md, section 8.1), alone and in a
//! pairwise-covering set of combinations, must pass the whole conformance suite and the
//! simulator's smoke scenario in every built-in dialect. A rule or a scenario that picked a
//! side where the seed is silent fails here with the combination named.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use notifspec::choices::Choices;
use notifspec::conform::{self, ConformTarget, Options, Suite, render};
use notifspec::dialect::{self, Dialect};
use notifspec::sim::{LoadedScenario, ReferenceServer, SimOptions, simulate};

/// The defaults, every single alternative, and combinations covering every pair.
fn matrix() -> Vec<Choices> {
    let mut all = vec![Choices::default()];
    for c in Choices::single_alternatives()
        .into_iter()
        .chain(Choices::pairwise())
    {
        if !all.contains(&c) {
            all.push(c);
        }
    }
    all
}

fn dialects() -> Vec<Dialect> {
    dialect::builtin_names()
        .into_iter()
        .map(|n| Dialect::builtin(n).expect("a built-in dialect"))
        .collect()
}

/// Every server scenario of the suite (replays of the shipped transcripts and the offline
/// checks included) against the embedded reference server with `choices`, in `dialect`.
///
/// The client scenarios (`@client`) are left out: the choices are the server's, and those
/// scenarios drive the reference *client* against a scripted server, never the reference
/// server; they also wait on the client's own timers, which a paused clock would fire early.
/// `tests/conformance.rs` runs them on the real clock.
async fn conform_run(suite: Arc<Suite>, dialect: Dialect, choices: Choices) -> Option<String> {
    let mut o = Options::new(ConformTarget::Reference);
    o.dialect = dialect.clone();
    o.choices = choices;
    o.tags = Some("not @client".parse().expect("a tag expression"));
    // A bound a passing run never waits for; the clock is paused, so waiting costs nothing.
    o.timeout = Duration::from_secs(5);
    let report = conform::run(suite, &o).await.expect("the suite runs");
    let t = report.totals();
    let errored = report
        .scenarios
        .iter()
        .any(|s| matches!(s.outcome, conform::Outcome::Errored { .. }));
    (t.failed > 0 || errored || t.passed == 0).then(|| {
        format!(
            "--choice {choices} in {}:\n{}",
            dialect.name,
            render::text(&report)
        )
    })
}

#[tokio::test(start_paused = true)]
async fn the_conformance_suite_passes_every_legal_reading() {
    let suite = Arc::new(Suite::embedded().unwrap());
    let matrix = matrix();
    assert!(matrix.len() >= 7, "{}", matrix.len());
    let mut broken = vec![];
    for choices in &matrix {
        for d in dialects() {
            if let Some(report) = conform_run(suite.clone(), d, *choices).await {
                broken.push(report);
            }
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n\n"));
}

#[test]
fn the_smoke_simulation_passes_every_legal_reading() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/smoke.yaml");
    let mut broken = vec![];
    for choices in matrix() {
        for d in dialects() {
            let mut loaded = LoadedScenario::from_file(&path).unwrap();
            loaded.dialect = d.clone();
            let mut opts = SimOptions::new(42);
            opts.factory = ReferenceServer::factory_with(choices);
            let report = simulate(&loaded, opts).expect("the simulation runs");
            if !report.passed() {
                broken.push(format!(
                    "--choice {choices} in {}:\n{}",
                    d.name,
                    report.to_text()
                ));
            }
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n\n"));
}

//! Replay: transcripts per second replayed against the embedded server with `--jobs`.
//!
//! The replay command is built separately; this measurement first asks the binary whether
//! its `replay` takes `--jobs`, and reports "not available in this build" rather than a
//! figure it could not measure.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use super::{BenchError, Plan, Table};

/// The table's title.
pub const TITLE: &str = "replay: transcripts per second against the embedded server";

/// What the replay measurement does.
#[derive(Debug, Clone)]
pub struct ReplayPlan {
    /// Transcripts replayed per run.
    pub transcripts: usize,
    /// Parallel replays (`--jobs`).
    pub jobs: usize,
}

/// Whether `notifspec replay` in this build supports parallel replay (`--jobs`).
pub async fn available(plan: &Plan) -> Result<bool, BenchError> {
    let out = Command::new(&plan.exe)
        .args(["replay", "--help"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(30), out)
        .await
        .map_err(|_| BenchError::Timeout {
            what: "notifspec replay --help".into(),
            after: Duration::from_secs(30),
        })?
        .map_err(|source| BenchError::Io {
            what: "running notifspec replay --help".into(),
            source,
        })?;
    Ok(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("--jobs"))
}

/// Runs the measurement and builds its table.
pub async fn measure(plan: &Plan) -> Result<Table, BenchError> {
    if !available(plan).await? {
        return Err(BenchError::Unavailable(
            "replay: not available in this build".into(),
        ));
    }
    Err(BenchError::Unavailable(format!(
        "replay: this build's `replay` takes --jobs, but the benchmark does not drive it yet \
         ({} transcripts, {} jobs planned)",
        plan.replay.transcripts, plan.replay.jobs
    )))
}

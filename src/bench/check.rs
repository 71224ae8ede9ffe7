//! `notifspec check` on a generated transcript of millions of lines, next to `wc -l` on the
//! same file: how close the offline checker comes to the cost of merely reading the lines.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::process::time_child;
use super::stats::median;
use super::{BenchError, Cell, Goal, PerfTarget, Plan, Table, ratio};
use crate::transcript::generate_conforming;

/// The table's title.
pub const TITLE: &str = "check: transcript lines per second, `notifspec check` vs `wc -l`";

/// The target: `check` at this fraction of `wc -l`'s lines per second.
pub const TARGET: f64 = 0.25;

/// What the check measurement does.
#[derive(Debug, Clone)]
pub struct CheckPlan {
    /// Lines in the generated transcript (exactly).
    pub lines: usize,
}

/// Writes the crate's one conforming generator's transcript of exactly `lines` lines to
/// `path`, so the benchmark measures the same input as the checker's own tests and
/// `examples/gen_transcript.rs`; returns the line count.
pub fn generate(path: &Path, lines: usize) -> std::io::Result<usize> {
    generate_conforming(lines, std::fs::File::create(path)?)?;
    Ok(lines)
}

/// Removes the generated file however the measurement ends.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs the measurement and builds its table.
pub async fn measure(plan: &Plan) -> Result<Table, BenchError> {
    let path = std::env::temp_dir().join(format!("notifspec-bench-{}.txt", std::process::id()));
    let file = TempFile(path.clone());
    let target = plan.check.lines;
    let lines = tokio::task::spawn_blocking(move || generate(&path, target))
        .await
        .map_err(|e| BenchError::Protocol {
            what: format!("generating the transcript: {e}"),
        })?
        .map_err(|source| BenchError::Io {
            what: "writing the generated transcript".into(),
            source,
        })?;
    let bytes = std::fs::metadata(&file.0).map(|m| m.len()).unwrap_or(0);
    // Generous bounds: 50,000 lines/s for check, a million for wc, a minute at least.
    let bound = |per_sec: usize| Duration::from_secs(60 + (lines / per_sec) as u64);
    let wc = Path::new("wc");
    let mut wc_rates = Vec::new();
    let mut check_rates = Vec::new();
    for _ in 0..plan.runs {
        let d = time_child(wc, &[Path::new("-l"), &file.0], bound(1_000_000)).await?;
        wc_rates.push(lines as f64 / d.as_secs_f64().max(1e-9));
        let d = time_child(&plan.exe, &[Path::new("check"), &file.0], bound(50_000)).await?;
        check_rates.push(lines as f64 / d.as_secs_f64().max(1e-9));
    }
    let mut t = Table::new("check", TITLE, &["tool", "lines", "seconds", "lines/s"]);
    for (name, rates) in [("wc -l", &wc_rates), ("notifspec check", &check_rates)] {
        let rate = median(rates);
        t.rows.push(vec![
            Cell::text(name),
            Cell::int(lines as f64),
            rate.map_or(Cell::text("-"), |r| Cell::num(lines as f64 / r, 3)),
            rate.map_or(Cell::text("-"), Cell::int),
        ]);
    }
    t.targets.push(PerfTarget {
        what: "check/wc lines per second".into(),
        ratio: ratio(median(&check_rates), median(&wc_rates)),
        goal: TARGET,
        direction: Goal::AtLeast,
    });
    t.notes.push(format!(
        "median of {} runs on one generated conforming transcript ({lines} lines, {:.1} MB); \
         wall time of each child process, `check` verified to pass",
        plan.runs,
        bytes as f64 / 1e6
    ));
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_transcript_has_the_requested_lines_and_passes() {
        let dir = std::env::temp_dir().join(format!("nsb-gen-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("t.txt");
        let n = generate(&path, 100).expect("generate");
        let text = std::fs::read_to_string(&path).expect("read");
        std::fs::remove_dir_all(&dir).expect("cleanup");
        assert_eq!(n, 100);
        assert_eq!(text.lines().count(), 100);
        let t = crate::transcript::parse(&text, "t.txt").expect("parses");
        let dialect = crate::dialect::Dialect::default();
        assert_eq!(
            crate::transcript::check_transcript(&t, &dialect),
            vec![],
            "{text}"
        );
    }
}

//! The user's own cases in the gate: `conform --features DIR` (their `.feature` files, with
//! the same step sentences, tags and per-rule accounting as the embedded ones; `--only-own`
//! drops the embedded features) and `conform --transcripts DIR` (their transcripts, e.g.
//! recordings made by `proxy --record`, as regression cases: conforming ones are replayed
//! against the target, negative ones must be flagged with exactly their expected rules).
//!
//! Files are read with limits (size per file, number of files), links are not followed, and
//! every error names the file (and line and column for a syntax error).

use std::path::Path;

use super::suite::{FEATURES, Suite, TRANSCRIPT_FILES};
use crate::transcript::MAX_FILE_SIZE;

/// Largest `.feature` file read.
pub const MAX_FEATURE_SIZE: u64 = 1024 * 1024;
/// Most files taken from one folder.
pub const MAX_FILES: usize = 10_000;

/// Where the user's cases are.
#[derive(Debug, Clone, Default)]
pub struct OwnCases {
    /// A folder of `.feature` files.
    pub features: Option<std::path::PathBuf>,
    /// A folder of transcripts (`.txt`, `.transcript`) and the dialect files they name.
    pub transcripts: Option<std::path::PathBuf>,
    /// Leave the embedded features out.
    pub only_own: bool,
}

/// The feature that runs the user's transcripts: the same two outlines as the embedded
/// `features/transcripts.feature`, over the user's folder.
const OWN_TRANSCRIPTS_FEATURE: &str = "Feature: Your transcripts
  Transcripts given with --transcripts, run as regression cases.

  Scenario Outline: <conforming> replays against the server
    Given a server
    Then the transcript \"<conforming>\" replays against the server

    Examples:
      | conforming |
      | PREFIX/** |

  @offline
  Scenario Outline: <negative> is flagged with exactly its expected rules
    Then the checker flags \"<negative>\" with exactly its expected rules

    Examples:
      | negative |
      | PREFIX/** |
";

impl OwnCases {
    /// Whether any own case was asked for.
    pub fn is_empty(&self) -> bool {
        self.features.is_none() && self.transcripts.is_none()
    }

    /// The embedded suite with the user's cases added (or, with `only_own`, instead of the
    /// embedded features).
    pub fn suite(&self) -> Result<Suite, String> {
        let mut features: Vec<(String, String)> = if self.only_own {
            Vec::new()
        } else {
            owned(FEATURES)
        };
        let mut transcripts = owned(TRANSCRIPT_FILES);
        if let Some(dir) = &self.features {
            let found = read_dir_files(dir, &["feature"], MAX_FEATURE_SIZE)?;
            if found.is_empty() {
                return Err(format!(
                    "--features {}: no .feature file in it",
                    dir.display()
                ));
            }
            features.extend(found);
        }
        if let Some(dir) = &self.transcripts {
            let prefix = key_prefix(dir)?;
            let found = read_dir_files(dir, &["txt", "transcript", "yaml", "yml"], MAX_FILE_SIZE)?;
            let (mut texts, dialects): (Vec<_>, Vec<_>) = found
                .into_iter()
                .partition(|(p, _)| p.ends_with(".txt") || p.ends_with(".transcript"));
            if texts.is_empty() {
                return Err(format!(
                    "--transcripts {}: no transcript (.txt, .transcript) in it",
                    dir.display()
                ));
            }
            for (path, _) in &texts {
                if path.contains('"') || path.contains('|') {
                    return Err(format!(
                        "{path}: a transcript name cannot hold `\"` or `|` (they end a step sentence or a table cell)"
                    ));
                }
            }
            // The suite takes `.txt` files as transcripts: a `.transcript` file is keyed so.
            for (path, _) in texts.iter_mut() {
                if let Some(stem) = path.strip_suffix(".transcript") {
                    *path = format!("{stem}.transcript.txt");
                }
            }
            transcripts.extend(texts);
            transcripts.extend(dialects);
            features.push((
                format!("{prefix}/(--transcripts).feature"),
                OWN_TRANSCRIPTS_FEATURE.replace("PREFIX", &prefix),
            ));
        }
        if features.is_empty() {
            return Err("--only-own needs --features DIR or --transcripts DIR".into());
        }
        let f: Vec<(&str, &str)> = features
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        let t: Vec<(&str, &str)> = transcripts
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        Suite::from_sources(&f, &t).map_err(|e| e.to_string())
    }
}

fn owned(files: &[(&str, &str)]) -> Vec<(String, String)> {
    files
        .iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect()
}

/// How the user's transcripts are named in the suite: their folder as given, with `/`, kept
/// apart from the embedded `transcripts/` (whose globs must not pick them up).
fn key_prefix(dir: &Path) -> Result<String, String> {
    let shown = dir.display().to_string().replace('\\', "/");
    let trimmed = shown.trim_end_matches('/');
    if trimmed.is_empty() || trimmed.contains(['"', '|', '*', '\n']) {
        return Err(format!(
            "--transcripts {shown}: give the folder by a name without `\"`, `|`, `*` or a line break"
        ));
    }
    Ok(
        if trimmed == "transcripts" || trimmed.starts_with("transcripts/") {
            format!("./{trimmed}")
        } else {
            trimmed.to_string()
        },
    )
}

/// The files under `dir` (recursively, sorted, links not followed) whose extension is one of
/// `exts`, as (path as shown, text). A file over `max` bytes, not UTF-8, or one too many is
/// an error naming it.
fn read_dir_files(dir: &Path, exts: &[&str], max: u64) -> Result<Vec<(String, String)>, String> {
    let prefix = key_prefix(dir)?;
    let meta = std::fs::metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if !meta.is_dir() {
        return Err(format!("{}: not a folder", dir.display()));
    }
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.map_err(|e| e.to_string())?;
        let path = entry.path();
        let wanted = entry.file_type().is_file()
            && path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| exts.contains(&e));
        if !wanted {
            continue;
        }
        let rel = path
            .strip_prefix(dir)
            .unwrap_or(path)
            .to_string_lossy()
            .replace('\\', "/");
        let shown = format!("{prefix}/{rel}");
        if out.len() == MAX_FILES {
            return Err(format!(
                "{}: more than {MAX_FILES} files; point at a smaller folder",
                dir.display()
            ));
        }
        let size = entry.metadata().map_err(|e| format!("{shown}: {e}"))?.len();
        if size > max {
            return Err(format!(
                "{shown}: {size} bytes, more than the {max} allowed"
            ));
        }
        let bytes = std::fs::read(path).map_err(|e| format!("{shown}: {e}"))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            format!(
                "{shown}: not UTF-8 (byte {} is invalid)",
                e.utf8_error().valid_up_to() + 1
            )
        })?;
        out.push((shown, text));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_features_and_transcripts_join_the_suite_with_their_tags() {
        let dir = tempfile::tempdir().unwrap();
        let feats = dir.path().join("feats");
        std::fs::create_dir_all(feats.join("sub")).unwrap();
        std::fs::write(
            feats.join("sub/mine.feature"),
            "Feature: Mine\n  @S-RANDOM-INT\n  Scenario: my random\n    Given a server\n    And client A is connected\n    When client A sends \"random?\"\n    Then client A receives an integer\n",
        )
        .unwrap();
        let ts = dir.path().join("recs");
        std::fs::create_dir(&ts).unwrap();
        std::fs::write(ts.join("ok.txt"), "C: random?\nS: {int}\n").unwrap();
        std::fs::write(
            ts.join("bad.txt"),
            "---\nexpect: [S-RANDOM-INT]\n---\nC: random?\nS: seven\n",
        )
        .unwrap();
        let embedded = Suite::embedded().unwrap().scenarios.len();
        let own = OwnCases {
            features: Some(feats.clone()),
            transcripts: Some(ts.clone()),
            only_own: false,
        };
        let suite = own.suite().unwrap();
        assert_eq!(suite.scenarios.len(), embedded + 3);
        let mine = suite
            .scenarios
            .iter()
            .find(|s| s.name == "my random")
            .unwrap();
        assert!(
            mine.file.ends_with("feats/sub/mine.feature"),
            "{}",
            mine.file
        );
        assert_eq!(mine.rules, vec![crate::rule::RuleId::SRandomInt]);
        assert!(mine.steps.iter().all(|s| s.parsed.is_ok()));
        let rec = ts.display().to_string();
        let replays = suite
            .scenarios
            .iter()
            .find(|s| s.name == format!("{rec}/ok.txt replays against the server"))
            .unwrap();
        assert!(replays.rules.is_empty());
        let flagged = suite
            .scenarios
            .iter()
            .find(|s| s.name.starts_with(&format!("{rec}/bad.txt is flagged")))
            .unwrap();
        assert_eq!(flagged.rules, vec![crate::rule::RuleId::SRandomInt]);
        assert!(flagged.has_tag("offline"));

        let only = OwnCases {
            only_own: true,
            ..own
        };
        assert_eq!(only.suite().unwrap().scenarios.len(), 3);
    }

    #[test]
    fn bad_own_files_are_errors_naming_the_place() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("broken.feature"),
            "Scenario: y\n  Given a server\n",
        )
        .unwrap();
        let own = OwnCases {
            features: Some(dir.path().to_path_buf()),
            ..OwnCases::default()
        };
        let e = own.suite().map(|s| s.scenarios.len()).unwrap_err();
        assert!(e.contains("broken.feature:"), "{e}");
        let empty = tempfile::tempdir().unwrap();
        let own = OwnCases {
            transcripts: Some(empty.path().to_path_buf()),
            ..OwnCases::default()
        };
        let e = own.suite().map(|s| s.scenarios.len()).unwrap_err();
        assert!(e.contains("no transcript"), "{e}");
        std::fs::write(empty.path().join("t.txt"), "C: random?\nS: 1\nX: what\n").unwrap();
        let e = own.suite().map(|s| s.scenarios.len()).unwrap_err();
        assert!(e.contains("t.txt:3:"), "{e}");
        let only = OwnCases {
            only_own: true,
            ..OwnCases::default()
        };
        let e = only.suite().map(|s| s.scenarios.len()).unwrap_err();
        assert!(e.contains("--only-own needs"), "{e}");
    }
}

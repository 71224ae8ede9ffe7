//! `notifspec check PATH...`: judges transcripts offline.
//!
//! Each file is streamed ([`Reader`]): front matter first, then entry by entry into the
//! checker, so a recording of millions of lines is checked in constant memory.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::checker::{Checker, ITEMS_KNOWN_RULES, Violation};
use crate::cmd::Status;
use crate::dialect::Dialect;
use crate::report::{FileResult, MAX_KEPT_VIOLATIONS, Summary, ViolationLog};
use crate::transcript::Reader;

/// File name endings `check` picks up when searching a folder.
pub const TRANSCRIPT_EXTENSIONS: &[&str] = &["txt", "transcript"];

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Verdict lines and `file:line: RULE-ID: sentence`, then a summary.
    Text,
    /// One JSON object per file, one per line.
    Json,
}

/// Arguments of `notifspec check`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Transcript files, or folders searched recursively for files ending in `.txt` or
    /// `.transcript` (in sorted order).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Dialect (built-in name or YAML file) for transcripts whose front matter names none.
    #[arg(long)]
    pub dialect: Option<String>,
}

/// Runs the command: 0 when every transcript gets its expected verdict, 1 when one does not,
/// 2 when one cannot be read.
pub fn run(args: Args) -> Status {
    let fallback = match &args.dialect {
        Some(d) => match Dialect::load(d, None) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("notifspec check: --dialect: {e}");
                return Status::Error;
            }
        },
        None => Dialect::default(),
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut err = std::io::stderr();
    let mut summary = Summary::default();
    for path in &args.paths {
        for file in collect(path) {
            let result = match file {
                Ok(file) => check_file(&file, &fallback),
                Err(r) => r,
            };
            summary.add(&result);
            let written = match args.format {
                Format::Text => result.write_text(&mut out, &mut err),
                Format::Json => result.write_json(&mut out),
            };
            if written.is_err() {
                // stdout closed (e.g. piped into `head`): nothing more can be reported.
                return Status::Error;
            }
        }
    }
    if args.format == Format::Text {
        let _ = writeln!(out, "{summary}");
    }
    summary.status()
}

/// The transcripts `path` stands for: itself if a file, its transcripts (recursively, sorted)
/// if a folder; an error result if it does not exist.
fn collect(path: &Path) -> Vec<Result<PathBuf, FileResult>> {
    let shown = path.display().to_string();
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            let msg = format!("{shown}: {e}");
            return vec![Err(FileResult::error(shown, msg.clone(), msg))];
        }
    };
    if !meta.is_dir() {
        return vec![Ok(path.to_path_buf())];
    }
    let mut found = Vec::new();
    let mut errors = Vec::new();
    walk(path, &mut found, &mut errors);
    found.sort();
    let mut all: Vec<_> = found.into_iter().map(Ok).collect();
    all.extend(errors.into_iter().map(Err));
    all
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>, errors: &mut Vec<FileResult>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            let shown = dir.display().to_string();
            let msg = format!("{shown}: {e}");
            errors.push(FileResult::error(shown, msg.clone(), msg));
            return;
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        // `file_type` does not follow symlinks, so a link cycle cannot make this loop.
        let Ok(ft) = entry.file_type() else { continue };
        if ft.is_dir() {
            walk(&path, found, errors);
        } else if path.is_file()
            && path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| TRANSCRIPT_EXTENSIONS.contains(&e))
        {
            found.push(path);
        }
    }
}

/// Reads, parses and checks one transcript, streaming, in one pass.
///
/// Whether the transcript says when items appear (a `! publish` directive anywhere) decides
/// how availability is judged for the whole conversation, but the first publish may be the
/// last line of a file too large to read twice or to buffer. So the checker runs as if the
/// publishes were known, and two bounded logs are kept: every violation, and every violation
/// but those of [`ITEMS_KNOWN_RULES`] (the only rules `items_known` changes). At the end the
/// log that matches what the file turned out to say is judged: exactly what
/// [`check_transcript`](crate::checker::check_transcript) reports on the parsed file.
pub fn check_file(path: &Path, fallback: &Dialect) -> FileResult {
    let shown = path.display().to_string();
    let fail = |summary: String, detail: String| FileResult::error(shown.clone(), summary, detail);
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => return fail(format!("{shown}: {e}"), format!("{shown}: {e}")),
    };
    // The reader buffers in large blocks itself.
    let mut reader = match Reader::new(file, shown.clone()) {
        Ok(r) => r,
        Err(e) => return fail(e.summary(), e.to_string()),
    };
    let dialect = match &reader.front().dialect {
        Some(name) => match Dialect::load(name, path.parent()) {
            Ok(d) => d,
            Err(e) => {
                let msg = format!("{shown}: dialect `{name}`: {e}");
                return fail(msg.clone(), msg);
            }
        },
        None => fallback.clone(),
    };
    let expect = reader.front().expect.clone();
    let mut checker = Checker::for_transcript(dialect, true);
    // In a file without publishes nearly every notification breaks S-NO-DUP in the `known`
    // log, which is then dropped: past what the log keeps, such violations are only counted.
    checker.limit_items_known_reports(MAX_KEPT_VIOLATIONS);
    let mut known = ViolationLog::default();
    let mut unknown = ViolationLog::default();
    let mut record = |v: Violation| {
        if !ITEMS_KNOWN_RULES.contains(&v.rule) {
            unknown.extend([v.clone()]);
        }
        known.extend([v]);
    };
    if let Err(e) = reader.feed(&mut checker, &mut record) {
        return fail(e.summary(), e.to_string());
    }
    checker
        .finish(reader.is_complete())
        .into_iter()
        .for_each(&mut record);
    let log = if reader.saw_publish() {
        // Each unreported violation came after MAX_KEPT_VIOLATIONS reported ones, so after
        // every violation the log keeps: it only counts, and names its rule.
        for (rule, n) in checker.unreported_items_known() {
            let v = Violation {
                rule,
                line: None,
                message: String::new(),
            };
            known.extend(std::iter::repeat_n(
                v,
                usize::try_from(n).unwrap_or(usize::MAX),
            ));
        }
        known
    } else {
        unknown
    };
    FileResult::judged(shown, &expect, log)
}

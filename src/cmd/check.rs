//! `notifspec check PATH...`: judges transcripts offline.
//!
//! Each file is streamed ([`Reader`]): front matter first, then entry by entry into the
//! checker, so a recording of millions of lines is checked in constant memory.

use std::fs::File;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};

use crate::checker::Checker;
use crate::cmd::Status;
use crate::dialect::Dialect;
use crate::report::{FileResult, Summary, ViolationLog};
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

/// Reads, parses and checks one transcript, streaming.
pub fn check_file(path: &Path, fallback: &Dialect) -> FileResult {
    // Whether the transcript says when items appear (`! publish`) decides how availability is
    // judged for the whole conversation. Recordings of real traffic have no publish
    // directives, so the file is read once; if one turns up, it is judged again knowing it.
    match check_pass(path, fallback, false) {
        Ok((_, true)) => match check_pass(path, fallback, true) {
            Ok((result, _)) => result,
            Err(result) => *result,
        },
        Ok((result, false)) => result,
        Err(result) => *result,
    }
}

/// One streaming pass; also says whether a `! publish` directive was seen.
fn check_pass(
    path: &Path,
    fallback: &Dialect,
    items_known: bool,
) -> Result<(FileResult, bool), Box<FileResult>> {
    let shown = path.display().to_string();
    let fail = |summary: String, detail: String| FileResult::error(shown.clone(), summary, detail);
    let file =
        File::open(path).map_err(|e| fail(format!("{shown}: {e}"), format!("{shown}: {e}")))?;
    let mut reader = Reader::new(BufReader::with_capacity(1 << 18, file), shown.clone())
        .map_err(|e| fail(e.summary(), e.to_string()))?;
    let dialect = match &reader.front().dialect {
        Some(name) => Dialect::load(name, path.parent()).map_err(|e| {
            let msg = format!("{shown}: dialect `{name}`: {e}");
            fail(msg.clone(), msg)
        })?,
        None => fallback.clone(),
    };
    let expect = reader.front().expect.clone();
    let mut checker = Checker::for_transcript(dialect, items_known);
    let mut log = ViolationLog::default();
    while let Some(event) = reader
        .next_event()
        .map_err(|e| fail(e.summary(), e.to_string()))?
    {
        log.extend(checker.feed(&event));
    }
    log.extend(checker.finish(reader.is_complete()));
    let saw_publish = reader.saw_publish();
    Ok((FileResult::judged(shown, &expect, log), saw_publish))
}

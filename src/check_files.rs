//! Judging transcript files: finding them in folders (links confined to the folder named)
//! and checking each one streamed, in one pass and constant memory. `notifspec check` prints
//! what this returns; the simulator checks the conversations it saves with it.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};

use crate::checker::{Checker, ITEMS_KNOWN_RULES, Violation};
use crate::dialect::Dialect;
use crate::fsio::AllowedPaths;
use crate::report::{FileResult, MAX_KEPT_VIOLATIONS, ViolationLog};
use crate::transcript::Reader;

/// How `check` opens a transcript: streamed, so any size.
const STREAMED_TRANSCRIPT: crate::fsio::FileKind = crate::fsio::FileKind {
    what: "transcript",
    limit: u64::MAX,
};

/// File name endings `check` picks up when searching a folder.
pub const TRANSCRIPT_EXTENSIONS: &[&str] = &["txt", "transcript"];

/// The transcripts `path` stands for: itself if a file, its transcripts (recursively, sorted)
/// if a folder; an error result if it does not exist.
pub fn collect(path: &Path, allowed: &AllowedPaths) -> Vec<Result<PathBuf, FileResult>> {
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
    let root = Root {
        real: path.canonicalize().unwrap_or_else(|_| path.to_path_buf()),
        shown: &shown,
        allowed,
    };
    walk(path, &root, &mut found, &mut errors);
    if found.is_empty() && errors.is_empty() {
        let msg = format!(
            "{shown}: no transcripts in this folder (files ending in {})",
            TRANSCRIPT_EXTENSIONS
                .iter()
                .map(|e| format!(".{e}"))
                .collect::<Vec<_>>()
                .join(" or ")
        );
        return vec![Err(FileResult::error(shown, msg.clone(), msg))];
    }
    found.sort();
    let mut all: Vec<_> = found.into_iter().map(Ok).collect();
    all.extend(errors.into_iter().map(Err));
    all
}

/// The folder named on the command line that a walk searches: a link found inside may lead
/// only into it (or an `--allow-path` folder), or a pull request could add `x.txt` pointing
/// at any file on the machine and have its first line quoted in a parse error.
struct Root<'a> {
    real: PathBuf,
    shown: &'a str,
    allowed: &'a AllowedPaths,
}

fn walk(dir: &Path, root: &Root<'_>, found: &mut Vec<PathBuf>, errors: &mut Vec<FileResult>) {
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
        let transcript = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| TRANSCRIPT_EXTENSIONS.contains(&e));
        if ft.is_dir() {
            walk(&path, root, found, errors);
        } else if transcript && ft.is_symlink() {
            let Ok(real) = path.canonicalize() else {
                continue;
            };
            if real.starts_with(&root.real) || root.allowed.allows(&real) {
                found.push(path);
            } else {
                let shown = path.display().to_string();
                let msg = format!(
                    "{shown}: a link leading out of {}; not read (name the file itself, or \
                     pass --allow-path DIR)",
                    root.shown
                );
                errors.push(FileResult::error(shown, msg.clone(), msg));
            }
        } else if transcript && ft.is_file() {
            found.push(path);
        }
    }
}

/// Reads, parses and checks one transcript, streaming, in one pass.
///
/// Whether the transcript says when items appear (a `! publish` directive anywhere) decides
/// how availability is judged for the whole conversation, but the first publish may be the
/// last line of a file too large to read twice or to buffer. So the checker runs as if the
/// publishes were known, and a split log keeps what each answer would report; at the end
/// the one that matches the file is judged: exactly what
/// [`check_transcript`](crate::transcript::check_transcript) reports on the parsed file.
pub fn check_file(path: &Path, fallback: &Dialect) -> FileResult {
    check_file_allowing(path, fallback, &AllowedPaths::none())
}

/// [`check_file`], where the transcript's `dialect:` path may also reach `allowed`.
pub fn check_file_allowing(path: &Path, fallback: &Dialect, allowed: &AllowedPaths) -> FileResult {
    let shown = path.display().to_string();
    let fail = |summary: String, detail: String| FileResult::error(shown.clone(), summary, detail);
    let (mut reader, dialect) = match open(path, &shown, fallback, allowed) {
        Ok(opened) => opened,
        Err(result) => return *result,
    };
    let expect = reader.front().expect.clone();
    let mut checker = Checker::for_transcript(dialect, true);
    // In a file without publishes nearly every notification breaks S-NO-DUP as judged here,
    // only to be dropped: past what a log keeps, such violations are counted, not built.
    checker.limit_items_known_reports(MAX_KEPT_VIOLATIONS);
    let mut log = SplitLog::default();
    if let Err(e) = reader.feed(&mut checker, |v| log.record(v)) {
        return fail(e.summary(), e.to_string());
    }
    if reader.entries() == 0 {
        // An empty file (a recording cut off before its first line) records nothing to judge.
        let msg = format!("{shown}: no conversation: the transcript has no `C:`, `S:` or `!` line");
        return fail(msg.clone(), msg);
    }
    for v in checker.finish(reader.is_complete()) {
        log.record(v);
    }
    let log = log.into_log(reader.saw_publish(), &checker);
    FileResult::judged(shown, &expect, log)
}

/// Opens a transcript: reads its front matter and loads its dialect.
fn open(
    path: &Path,
    shown: &str,
    fallback: &Dialect,
    allowed: &AllowedPaths,
) -> Result<(Reader<File>, Dialect), Box<FileResult>> {
    let fail = |summary: String, detail: String| {
        Box::new(FileResult::error(shown.to_string(), summary, detail))
    };
    // Streamed in constant memory whatever its size, so no size limit; but only a regular
    // file (a FIFO would hang, a device never end).
    let file = crate::fsio::open_regular(path, STREAMED_TRANSCRIPT).map_err(|e| {
        let msg = format!("{shown}: {}", e.reason());
        fail(msg.clone(), msg)
    })?;
    // The reader reads in large blocks itself: no `BufReader`.
    let reader = Reader::new(file, shown).map_err(|e| fail(e.summary(), e.to_string()))?;
    let dialect = match &reader.front().dialect {
        Some(name) => Dialect::load_allowing(name, path.parent(), allowed).map_err(|e| {
            let msg = format!("{shown}: dialect `{name}`: {e}");
            fail(msg.clone(), msg)
        })?,
        None => fallback.clone(),
    };
    Ok((reader, dialect))
}

/// The violations of a conversation judged as if its publishes were known, kept twice in
/// bounded memory: all of them, and all but those of [`ITEMS_KNOWN_RULES`] (the only rules
/// knowing the publishes changes), which is what a judgement not knowing them reports.
#[derive(Default)]
struct SplitLog {
    known: ViolationLog,
    unknown: ViolationLog,
}

impl SplitLog {
    fn record(&mut self, v: Violation) {
        if !ITEMS_KNOWN_RULES.contains(&v.rule) {
            self.unknown.extend([v.clone()]);
        }
        self.known.extend([v]);
    }

    /// The log for a transcript that does (`saw_publish`) or does not say when items appear.
    fn into_log(mut self, saw_publish: bool, checker: &Checker) -> ViolationLog {
        if !saw_publish {
            return self.unknown;
        }
        // Each unreported violation came after MAX_KEPT_VIOLATIONS reported ones, so after
        // every violation the log keeps: it only counts, and names its rule.
        for (rule, n) in checker.unreported_items_known() {
            let v = Violation {
                rule,
                line: None,
                message: String::new(),
            };
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            self.known.extend(std::iter::repeat_n(v, n));
        }
        self.known
    }
}

/// Checks `files` on `jobs` threads and hands each result to `report` in the order of
/// `files`, as soon as it and all before it are done; `report` returning false stops the
/// run (files not started are not checked). Results wait for their turn in a window of
/// `4 × jobs` files, so a slow file holds back at most that many finished results.
pub fn check_in_order(
    files: Vec<Result<PathBuf, FileResult>>,
    jobs: usize,
    fallback: &Dialect,
    allowed: &AllowedPaths,
    mut report: impl FnMut(FileResult) -> bool,
) {
    let check = |file: Result<PathBuf, FileResult>| match file {
        Ok(file) => check_file_allowing(&file, fallback, allowed),
        Err(r) => r,
    };
    if jobs <= 1 || files.len() <= 1 {
        for file in files {
            if !report(check(file)) {
                return;
            }
        }
        return;
    }
    let window = jobs.saturating_mul(4);
    let total = files.len();
    let work: Vec<Mutex<Option<_>>> = files.into_iter().map(|f| Mutex::new(Some(f))).collect();
    let state = Mutex::new(Turns {
        next: 0,
        reported: 0,
        stopped: false,
        done: BTreeMap::new(),
    });
    let changed = Condvar::new();
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(total) {
            scope.spawn(|| {
                loop {
                    let i = {
                        let mut s = lock(&state);
                        while !s.stopped && s.next < total && s.next >= s.reported + window {
                            s = changed.wait(s).unwrap_or_else(|e| e.into_inner());
                        }
                        if s.stopped || s.next >= total {
                            return;
                        }
                        s.next += 1;
                        s.next - 1
                    };
                    let Some(file) = lock(&work[i]).take() else {
                        continue;
                    };
                    let result = check(file);
                    lock(&state).done.insert(i, result);
                    changed.notify_all();
                }
            });
        }
        let mut s = lock(&state);
        while s.reported < total && !s.stopped {
            let reported = s.reported;
            match s.done.remove(&reported) {
                Some(result) => {
                    // Printed without the lock: workers go on meanwhile.
                    drop(s);
                    let go_on = report(result);
                    s = lock(&state);
                    s.reported += 1;
                    s.stopped = !go_on;
                    changed.notify_all();
                }
                None => s = changed.wait(s).unwrap_or_else(|e| e.into_inner()),
            }
        }
    });
}

/// Where a parallel check stands (see [`check_in_order`]).
struct Turns {
    /// The next file to start.
    next: usize,
    /// Files reported so far (the first `reported` ones).
    reported: usize,
    /// The reporter stopped the run.
    stopped: bool,
    /// Results waiting for their turn.
    done: BTreeMap<usize, FileResult>,
}

/// A lock that a panicking worker does not poison for the others (the data stays valid).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

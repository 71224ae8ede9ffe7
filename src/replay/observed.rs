//! The observed transcript: what really happened during a replay, written in the transcript
//! format so that `check` and `replay` accept it. Divergent runs become new regression tests.

use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use super::script::{Findings, Happened};
use crate::checker::Party;
use crate::transcript::{FrontMatter, Transcript, TranscriptWriter};

/// The observed conversation as a transcript: front matter (title, dialect), the source as a
/// comment, then each line with its time since the start as a comment.
pub fn render(source: &Transcript, path: &Path, dialect: &str, f: &Findings) -> String {
    let title = match &source.front.title {
        Some(t) => format!("observed: {t}"),
        None => format!("observed replay of {}", path.display()),
    };
    let front = FrontMatter {
        title: Some(title),
        dialect: Some(dialect.to_string()),
        ..FrontMatter::default()
    };
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    if let Ok(mut w) = TranscriptWriter::new(&mut out, &front) {
        let _ = w.comment(&format!("source transcript: {}", path.display()));
        for o in &f.observed {
            let _ = w.timestamp(o.at);
            let _ = match &o.what {
                Happened::Line(Party::Client, text) => w.client(text),
                Happened::Line(Party::Server, text) => w.server(text),
                Happened::Directive(d) => w.directive(d),
                Happened::Note(n) => w.comment(n),
            };
        }
        if f.truncated {
            let _ = w.comment("the conversation went on; only the first lines were kept");
        }
        // What was not done is said, never written as if it happened.
        if let Some((line, text)) = &f.not_sent {
            let rule = f
                .own_violations
                .first()
                .map_or(String::new(), |v| format!(" (it would break {})", v.rule));
            let _ = w.comment(&format!(
                "not sent: source line {line} `{text}`{rule}; the replay stopped before it"
            ));
        }
        if let Some(why) = &f.stopped {
            let _ = w.comment(why);
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether a file name is one [`save`] writes: what `--force` may delete.
pub fn is_ours(name: &str) -> bool {
    name.ends_with(SUFFIX)
}

const SUFFIX: &str = ".observed.txt";

/// Writes `text` as `DIR/<source stem>.observed.txt` and returns that path. When another
/// input of the run already took that name (`a/x.txt` and `b/x.txt`), the name is derived
/// from the whole source path instead (`a-x.observed.txt`), then numbered: a result never
/// replaces another, and is never written through a link planted in the folder.
pub fn save(dir: &Path, source: &Path, text: &str) -> io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let stem = source
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "transcript".into());
    let whole = path_name(&source.with_extension(""));
    let names = std::iter::once(stem)
        .chain(std::iter::once(whole.clone()))
        .chain((2..).map(|n| format!("{whole}-{n}")));
    for name in names {
        let path = dir.join(format!("{name}{SUFFIX}"));
        match crate::fsio::create_new(&path) {
            Ok(mut file) => {
                file.write_all(text.as_bytes())?;
                return Ok(path);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
        }
    }
    unreachable!("the numbered names never run out")
}

/// A file name standing for a whole path: its normal components joined by `-` (`..`, `.`
/// and the root left out), every character outside `[A-Za-z0-9._-]` made `_`.
fn path_name(path: &Path) -> String {
    let parts: Vec<String> = path
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(s) => Some(
                s.to_string_lossy()
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || "._-".contains(c) {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect(),
            ),
            _ => None,
        })
        .collect();
    if parts.is_empty() {
        "transcript".into()
    } else {
        parts.join("-")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colliding_sources_get_distinct_names_from_their_paths() {
        let dir = tempfile::tempdir().unwrap();
        let a = save(dir.path(), Path::new("t/race/x.txt"), "a").unwrap();
        let b = save(dir.path(), Path::new("t/seed-text/x.txt"), "b").unwrap();
        let c = save(dir.path(), Path::new("t/seed-text/x.txt"), "c").unwrap();
        assert_eq!(a, dir.path().join("x.observed.txt"));
        assert_eq!(b, dir.path().join("t-seed-text-x.observed.txt"));
        assert_eq!(c, dir.path().join("t-seed-text-x-2.observed.txt"));
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "a");
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "b");
        assert_eq!(path_name(Path::new("/../a b/\nx")), "a_b-_x");
    }
}

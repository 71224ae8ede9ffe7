//! The observed transcript: what really happened during a replay, written in the transcript
//! format so that `check` and `replay` accept it. Divergent runs become new regression tests.

use std::io;
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

/// Writes `text` as `DIR/<source stem>.observed.txt` and returns that path.
pub fn save(dir: &Path, source: &Path, text: &str) -> io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let stem = source
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "transcript".into());
    let path = dir.join(format!("{stem}.observed.txt"));
    std::fs::write(&path, text)?;
    Ok(path)
}

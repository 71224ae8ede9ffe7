//! `--publish-cmd`: making an item appear on a server that has no notifspec control port, by
//! running a command the user gives (an admin API call, a database insert, a script).
//!
//! Its own module, below both `conform` and `replay`, because both drive servers that way:
//! a scenario's `Given a new random number is published` and a transcript's `! publish`
//! directive end in the same command. The command is untrusted in the sense of
//! docs/security.md: it runs in its own process group, bounded in time, and whatever it
//! leaves behind is killed; what it prints is read bounded and escaped before it is quoted.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use crate::dialect::ItemKind;
use crate::process::ClientGroup;
use crate::units::fmt_dur;

/// Most bytes of a publish command's stderr quoted in an error.
const MAX_STDERR: usize = 2048;

/// How long a publish command's stderr is still read after the command exits (a background
/// process it started may hold the pipe open).
const STDERR_GRACE: Duration = Duration::from_millis(200);

/// A publish command that failed, timed out or could not start: the target cannot be driven.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("publish command `{cmd}`: {reason}")]
pub struct PublishCmdError {
    /// The command as run (placeholders substituted, control bytes escaped).
    pub cmd: String,
    /// What went wrong (exit status and stderr, or the timeout).
    pub reason: String,
}

/// `--publish-cmd`: a shell command that makes an item appear on the server, run with
/// `{kind}` (`random` or `classified`) and `{text}` (the ad, the chosen number, or empty)
/// substituted as single shell words; exit status 0 means published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishCmd {
    template: String,
}

impl PublishCmd {
    /// Checks the template: without `{kind}` the command could not tell a random number
    /// from an ad.
    pub fn new(template: &str) -> Result<PublishCmd, String> {
        if !template.contains("{kind}") {
            return Err(format!(
                "--publish-cmd `{template}` has no `{{kind}}`: the command must be told what to publish"
            ));
        }
        Ok(PublishCmd {
            template: template.to_string(),
        })
    }

    /// The template as the user gave it, for the run's header.
    pub fn template(&self) -> &str {
        &self.template
    }

    /// The command line for an item of `kind` with `text` (the ad, the chosen number, or
    /// empty), placeholders replaced by shell-quoted words (so an ad such as `'; rm -rf ~ #`
    /// stays one argument).
    pub fn line_for(&self, kind: ItemKind, text: &str) -> String {
        let kind = match kind {
            ItemKind::Random => "random",
            ItemKind::Classified => "classified",
        };
        let mut out = String::with_capacity(self.template.len() + text.len() + 8);
        let mut rest = self.template.as_str();
        while let Some(i) = rest.find('{') {
            out.push_str(&rest[..i]);
            let tail = &rest[i..];
            if let Some(after) = tail.strip_prefix("{kind}") {
                out.push_str(&shell_quote(kind));
                rest = after;
            } else if let Some(after) = tail.strip_prefix("{text}") {
                out.push_str(&shell_quote(text));
                rest = after;
            } else {
                out.push('{');
                rest = &tail[1..];
            }
        }
        out.push_str(rest);
        out
    }

    /// Runs the command for an item of `kind` with `text`, bounded by `wait`: on timeout its
    /// whole process group is killed. A non-zero exit is an error quoting the command's
    /// stderr (bounded, control bytes escaped).
    pub async fn run(
        &self,
        kind: ItemKind,
        text: &str,
        wait: Duration,
    ) -> Result<(), PublishCmdError> {
        let line = self.line_for(kind, text);
        let err = |reason: String| PublishCmdError {
            cmd: crate::escape::printable(&line).into_owned(),
            reason,
        };
        // Its own process group, killed whole when `group` ends (any path out of here), so
        // nothing the command started outlives the publish.
        let (mut group, stderr) = ClientGroup::spawn_piped_stderr(&line)
            .map_err(|e| err(format!("cannot start: {e}")))?;
        // Kept outside the reading task, so what was read is there even if the pipe never
        // closes (a background process of the command holding it).
        let kept = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = kept.clone();
        let mut collect = tokio::spawn(async move {
            if let Some(mut s) = stderr {
                let mut chunk = [0u8; 1024];
                while let Ok(n) = s.read(&mut chunk).await {
                    if n == 0 {
                        break;
                    }
                    let mut kept = sink.lock().unwrap_or_else(|e| e.into_inner());
                    let room = MAX_STDERR.saturating_sub(kept.len());
                    kept.extend_from_slice(&chunk[..n.min(room)]);
                }
            }
        });
        let status = tokio::time::timeout(wait, group.wait()).await;
        group.kill_group();
        // Whatever happens below, the reading task ends with the publish.
        let abort = collect.abort_handle();
        let stderr = async {
            if tokio::time::timeout(STDERR_GRACE, &mut collect)
                .await
                .is_err()
            {
                collect.abort();
            }
            let bytes = kept.lock().unwrap_or_else(|e| e.into_inner());
            describe_stderr(&bytes)
        };
        let result = match status {
            Ok(Ok(s)) if s.success() => Ok(()),
            Ok(Ok(s)) => Err(err(format!("exited with {s}{}", stderr.await))),
            Ok(Err(e)) => Err(err(format!("cannot wait for it: {e}"))),
            Err(_) => Err(err(format!(
                "did not finish within {} and was killed{}",
                fmt_dur(wait),
                stderr.await
            ))),
        };
        abort.abort();
        group.stop().await;
        result
    }
}

/// `; stderr: …` with control bytes escaped, or nothing when the command wrote nothing.
fn describe_stderr(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim_end();
    if text.is_empty() {
        return String::new();
    }
    let more = if bytes.len() >= MAX_STDERR {
        " [...]"
    } else {
        ""
    };
    format!("; stderr: {}{more}", crate::escape::printable(text))
}

/// Quotes `s` as one POSIX shell word.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_single_quoted_words_and_quotes_cannot_escape() {
        let c = PublishCmd::new("pub --kind {kind} --text {text} {other}").unwrap();
        assert_eq!(
            c.line_for(ItemKind::Classified, "it's {kind}; rm -rf ~"),
            r"pub --kind 'classified' --text 'it'\''s {kind}; rm -rf ~' {other}"
        );
        assert_eq!(
            c.line_for(ItemKind::Random, ""),
            "pub --kind 'random' --text '' {other}"
        );
        assert!(PublishCmd::new("curl http://x/publish").is_err());
    }

    #[test]
    fn stderr_is_bounded_and_its_control_bytes_escaped() {
        assert_eq!(
            describe_stderr(b"bad\x1b[31m\r\nline\n"),
            "; stderr: bad\\u{1b}[31m\\r\\nline"
        );
        assert_eq!(describe_stderr(b"  \n"), "");
        let long = vec![b'x'; MAX_STDERR];
        assert!(describe_stderr(&long).ends_with(" [...]"));
    }
}

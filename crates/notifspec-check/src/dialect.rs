//! Dialects: the spellings and options that vary between notif implementations.
//!
//! The seed article contradicts itself (its protocol section enters notification mode with
//! `notif` and acknowledges with `notif: OK`; its recorded session uses `_notif_` and
//! `will send notifs`). Rather than silently pick one, every part of notifspec takes a
//! [`Dialect`], loaded from YAML, so the same rules apply to every spelling. The two built-in
//! dialects ship as files in `dialects/` and are also compiled into the binary.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::yaml::{self, YamlError};

/// Name of the dialect used when none is given: the one the seed's example session speaks.
pub const DEFAULT_DIALECT: &str = "seed-session";

/// Largest dialect file notifspec will read; a dialect is a few hundred bytes, so anything
/// bigger is a mistake (a wrong path), refused before it can cost memory.
pub const MAX_DIALECT_FILE: u64 = 64 * 1024;

const BUILTINS: &[(&str, &str)] = &[
    (
        "seed-session",
        include_str!("../dialects/seed-session.yaml"),
    ),
    ("seed-text", include_str!("../dialects/seed-text.yaml")),
];

/// The kinds of item a server can announce. Each has a request that fetches it, so the set is
/// fixed by the protocol; dialects only change how the announcement is spelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemKind {
    /// A random number, fetched with the `random` request.
    Random,
    /// A classified ad, fetched with the `classified` request.
    Classified,
}

impl ItemKind {
    /// Every kind, in a stable order (useful for deterministic iteration).
    pub const ALL: [ItemKind; 2] = [ItemKind::Random, ItemKind::Classified];

    /// The lowercase name used in YAML, the control port and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Random => "random",
            ItemKind::Classified => "classified",
        }
    }
}

impl fmt::Display for ItemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ItemKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "random" => Ok(ItemKind::Random),
            "classified" => Ok(ItemKind::Classified),
            other => Err(format!(
                "unknown item kind `{other}` (expected `random` or `classified`)"
            )),
        }
    }
}

/// The line terminator a peer of this dialect sends. Receivers always accept both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LineEnding {
    /// `\r\n`, what the reference peers send by default.
    Crlf,
    /// A bare `\n`.
    Lf,
}

impl LineEnding {
    /// The bytes of the terminator.
    pub fn as_bytes(self) -> &'static [u8] {
        match self {
            LineEnding::Crlf => b"\r\n",
            LineEnding::Lf => b"\n",
        }
    }
}

/// Client requests, as spelled on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Commands {
    /// Asks for the newest random number (`random?`).
    pub random: String,
    /// Asks for the oldest unread classified ad (`classified?`).
    pub classified: String,
    /// Enters notification mode (`_notif_` or `notif`).
    pub enter: String,
    /// Leaves notification mode (`stop_notif`).
    pub stop: String,
}

/// Server replies that are fixed strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replies {
    /// The acknowledgement of the enter command (`will send notifs` / `notif: OK`).
    pub mode_ack: String,
    /// The reply to `stop_notif` that completes the enter command (`OK`).
    pub stop_ok: String,
}

/// How each kind of notification is spelled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notifications {
    /// Announces a new random number (`notif: random`).
    pub random: String,
    /// Announces a new classified ad (`notif: classified`).
    pub classified: String,
}

/// Whether a client must answer each notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnswerPolicy {
    /// Every notification is answered by exactly one `ok` or stop line, and the server keeps
    /// at most one notification unanswered.
    Required,
    /// Some servers in the wild neither expect nor read an answer: notifications flow
    /// freely and the client only ever sends the stop command.
    None,
}

/// The client's answers to notifications.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answers {
    /// Whether answers are required at all.
    pub policy: AnswerPolicy,
    /// The answer that keeps the client in notification mode (`OK`).
    pub ok: String,
}

/// What a server does with an unknown or out-of-state command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorPolicy {
    /// Reply with one line starting with the error prefix.
    Error,
    /// Send nothing at all; the state does not change.
    Ignore,
}

/// Error replies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Errors {
    /// Reply or stay silent.
    pub policy: ErrorPolicy,
    /// The first word of an error line (`ERR`), followed by a space and a reason.
    pub prefix: String,
}

/// One dialect of the notif protocol. See `docs/protocol.md` for what each field means.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dialect {
    /// The name used on the command line and in transcripts' front matter.
    pub name: String,
    /// One or two sentences for people choosing a dialect.
    #[serde(default)]
    pub description: String,
    /// The terminator this dialect's peers send.
    pub line_ending: LineEnding,
    /// The longest line (terminator excluded) a receiver must accept, in bytes.
    pub max_line: usize,
    /// Client requests.
    pub commands: Commands,
    /// Fixed server replies.
    pub replies: Replies,
    /// Notification lines.
    pub notifications: Notifications,
    /// Answers to notifications.
    pub answers: Answers,
    /// Error behaviour.
    pub errors: Errors,
}

/// Why a dialect could not be loaded. Each variant names the place, so a user can fix it.
#[derive(Debug, thiserror::Error)]
pub enum DialectError {
    /// Neither a built-in name nor a readable file.
    #[error(
        "unknown dialect `{0}`: not a built-in ({builtins}) and no such file",
        builtins = builtin_names().join(", ")
    )]
    Unknown(String),
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file is larger than any dialect could be.
    #[error("{path}: {size} bytes is too large for a dialect file (at most {MAX_DIALECT_FILE})")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
    },
    /// YAML syntax error, a missing field, an unknown key or a file that is not text.
    #[error(transparent)]
    Syntax(#[from] YamlError),
    /// The dialect parsed but cannot work, e.g. two commands spelled alike.
    #[error("{origin}: invalid dialect: {message}")]
    Invalid {
        /// File path or built-in name.
        origin: String,
        /// What is wrong and how to fix it.
        message: String,
    },
}

/// The names of the dialects compiled into notifspec.
pub fn builtin_names() -> Vec<&'static str> {
    BUILTINS.iter().map(|(n, _)| *n).collect()
}

impl Default for Dialect {
    fn default() -> Self {
        Dialect::builtin(DEFAULT_DIALECT).expect("the default dialect is built in")
    }
}

impl Dialect {
    /// A built-in dialect by name.
    pub fn builtin(name: &str) -> Option<Dialect> {
        BUILTINS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(n, src)| Dialect::from_yaml_str(src, n).expect("built-in dialects are valid"))
    }

    /// Loads a dialect given as a built-in name or a path. A relative path is resolved
    /// against `base` when given (a transcript names its dialect relative to itself).
    pub fn load(name_or_path: &str, base: Option<&Path>) -> Result<Dialect, DialectError> {
        if let Some(d) = Dialect::builtin(name_or_path) {
            return Ok(d);
        }
        let mut path = PathBuf::from(name_or_path);
        if path.is_relative()
            && let Some(base) = base
        {
            path = base.join(path);
        }
        if !path.exists() {
            return Err(DialectError::Unknown(name_or_path.to_string()));
        }
        Dialect::from_file(&path)
    }

    /// Reads and validates a dialect file.
    pub fn from_file(path: &Path) -> Result<Dialect, DialectError> {
        let io = |source| DialectError::Io {
            path: path.to_path_buf(),
            source,
        };
        let size = std::fs::metadata(path).map_err(io)?.len();
        if size > MAX_DIALECT_FILE {
            return Err(DialectError::TooLarge {
                path: path.to_path_buf(),
                size,
            });
        }
        let bytes = std::fs::read(path).map_err(io)?;
        let origin = path.display().to_string();
        let text = yaml::decode(bytes, &origin, "a dialect")?;
        Dialect::from_yaml_str(&text, &origin)
    }

    /// Parses and validates dialect YAML; `origin` names the source in errors.
    pub fn from_yaml_str(text: &str, origin: &str) -> Result<Dialect, DialectError> {
        let dialect: Dialect = yaml::from_str(text, origin)?;
        dialect
            .validate()
            .map_err(|message| DialectError::Invalid {
                origin: origin.to_string(),
                message,
            })?;
        Ok(dialect)
    }

    /// Checks that the dialect can be spoken unambiguously: no empty or multi-line spellings,
    /// no two messages from the same party spelled alike, a usable line limit.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_line < 16 {
            return Err(format!(
                "max_line is {}, but it must be at least 16 bytes to fit the protocol's messages",
                self.max_line
            ));
        }
        let fields: [(&str, &str); 9] = [
            ("commands.random", &self.commands.random),
            ("commands.classified", &self.commands.classified),
            ("commands.enter", &self.commands.enter),
            ("commands.stop", &self.commands.stop),
            ("answers.ok", &self.answers.ok),
            ("replies.mode_ack", &self.replies.mode_ack),
            ("replies.stop_ok", &self.replies.stop_ok),
            ("notifications.random", &self.notifications.random),
            ("notifications.classified", &self.notifications.classified),
        ];
        for (name, value) in fields {
            if value.trim().is_empty() {
                return Err(format!("{name} is empty; give the exact line"));
            }
            if value.contains(['\r', '\n']) {
                return Err(format!(
                    "{name} contains a line break; a message is one line"
                ));
            }
            if value.trim() != value {
                return Err(format!(
                    "{name} `{value}` has leading or trailing spaces; spell it exactly"
                ));
            }
            if value.len() > self.max_line {
                return Err(format!("{name} is longer than max_line {}", self.max_line));
            }
        }
        if self.errors.prefix.trim().is_empty() || self.errors.prefix.contains(['\r', '\n']) {
            return Err("errors.prefix must be a non-empty word".into());
        }
        // Client lines (0..5) must be pairwise distinct, and so must the server lines that
        // carry meaning in notification mode (mode_ack, stop_ok, notifications).
        let distinct = |group: &[(&str, &str)]| -> Result<(), String> {
            for (i, (a, va)) in group.iter().enumerate() {
                for (b, vb) in &group[i + 1..] {
                    if va == vb {
                        return Err(format!(
                            "conflicting spellings: {a} and {b} are both `{va}`; a receiver could not tell them apart"
                        ));
                    }
                }
            }
            Ok(())
        };
        distinct(&fields[0..5])?;
        distinct(&[fields[5], fields[7], fields[8]])?;
        distinct(&[fields[6], fields[7], fields[8]])?;
        for (name, value) in [fields[7], fields[8], fields[6]] {
            if value.starts_with(&format!("{} ", self.errors.prefix)) || value == self.errors.prefix
            {
                return Err(format!(
                    "conflicting spellings: {name} `{value}` looks like an error line (prefix `{}`)",
                    self.errors.prefix
                ));
            }
        }
        Ok(())
    }

    /// The notification line announcing `kind`.
    pub fn notification(&self, kind: ItemKind) -> &str {
        match kind {
            ItemKind::Random => &self.notifications.random,
            ItemKind::Classified => &self.notifications.classified,
        }
    }

    /// The request that fetches `kind`.
    pub fn request(&self, kind: ItemKind) -> &str {
        match kind {
            ItemKind::Random => &self.commands.random,
            ItemKind::Classified => &self.commands.classified,
        }
    }

    /// The error line for `reason`, or `None` when the dialect stays silent on errors.
    pub fn error_line(&self, reason: &str) -> Option<String> {
        match self.errors.policy {
            ErrorPolicy::Error => Some(format!("{} {}", self.errors.prefix, reason)),
            ErrorPolicy::Ignore => None,
        }
    }

    /// Whether notifications must be answered (the one-outstanding window applies).
    pub fn answers_required(&self) -> bool {
        self.answers.policy == AnswerPolicy::Required
    }

    /// The dialect as YAML, e.g. for `notifspec dialect show`.
    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(self).expect("a dialect always serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_load_and_differ_only_in_mode_spelling() {
        let a = Dialect::builtin("seed-session").unwrap();
        let b = Dialect::builtin("seed-text").unwrap();
        assert_eq!(a.commands.enter, "_notif_");
        assert_eq!(a.replies.mode_ack, "will send notifs");
        assert_eq!(b.commands.enter, "notif");
        assert_eq!(b.replies.mode_ack, "notif: OK");
        assert_eq!(a.notifications, b.notifications);
        assert_eq!(a.max_line, 1024);
        assert_eq!(Dialect::default(), a);
    }

    #[test]
    fn unknown_key_is_named_with_position() {
        let src = BUILTINS[0]
            .1
            .replace("max_line: 1024", "max_line: 1024\nmax_lines: 3");
        let err = Dialect::from_yaml_str(&src, "x.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("x.yaml:"), "{err}");
        assert!(err.contains("max_lines"), "{err}");
    }

    #[test]
    fn conflicting_spellings_are_refused() {
        let src = BUILTINS[0]
            .1
            .replace("enter: \"_notif_\"", "enter: \"random?\"");
        let err = Dialect::from_yaml_str(&src, "x.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("conflicting spellings"), "{err}");
        assert!(err.contains("commands.random"), "{err}");
    }

    #[test]
    fn error_lines() {
        let d = Dialect::default();
        assert_eq!(
            d.error_line("unknown command").unwrap(),
            "ERR unknown command"
        );
        assert_eq!(d.notification(ItemKind::Classified), "notif: classified");
    }

    #[test]
    fn load_by_name_or_missing_path() {
        assert!(Dialect::load("seed-text", None).is_ok());
        let err = Dialect::load("nope", None).unwrap_err().to_string();
        assert!(err.contains("seed-session"), "{err}");
    }

    #[test]
    fn binary_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.yaml");
        std::fs::write(&p, b"name: \xff\xfe\0\0").unwrap();
        let err = Dialect::from_file(&p).unwrap_err().to_string();
        assert!(err.contains("not valid UTF-8"), "{err}");
    }
}

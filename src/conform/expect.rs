//! Known failures (`--expect-fail`): rules a team knows its implementation still breaks.
//!
//! Their scenarios still run; a failure of a listed rule is reported as expected (it does not
//! fail the gate), and a listed rule whose scenarios now pass is reported loudly so the list
//! shrinks as the implementation improves.

use std::collections::BTreeMap;
use std::path::Path;

use crate::fsio::{self, FileError, FileKind};
use crate::rule::{RuleId, UnknownRule};
use crate::yaml::{self, YamlError};

/// Largest `--expect-fail` file: one line per rule of the catalog, with room for reasons.
pub const MAX_EXPECT_FAIL_FILE: u64 = 256 * 1024;

/// How an `--expect-fail` file is read: its limit, and its name in errors.
pub const EXPECT_FAIL_FILE: FileKind = FileKind {
    what: "expect-fail",
    limit: MAX_EXPECT_FAIL_FILE,
};

/// The rules expected to fail, each with an optional reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpectFail {
    rules: BTreeMap<RuleId, Option<String>>,
}

/// A bad `--expect-fail` value.
#[derive(Debug, thiserror::Error)]
pub enum ExpectFailError {
    /// An ID that is not in the catalog.
    #[error("--expect-fail: {0}")]
    Rule(#[from] UnknownRule),
    /// The YAML file could not be read: missing, not a regular file, or over
    /// [`MAX_EXPECT_FAIL_FILE`].
    #[error(transparent)]
    File(#[from] FileError),
    /// The YAML file is not a map of rule IDs to reasons (or a list of IDs).
    #[error("{0} (expected `RULE-ID: reason` lines or a list of rule IDs)")]
    Yaml(#[from] YamlError),
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum File {
    Map(BTreeMap<RuleId, Option<String>>),
    List(Vec<RuleId>),
}

impl ExpectFail {
    /// Nothing expected to fail.
    pub fn none() -> ExpectFail {
        ExpectFail::default()
    }

    /// Parses `RULE,RULE` or, when it ends in `.yaml`/`.yml` or names something that exists,
    /// that file (a FIFO or a device is then refused, not read as rule IDs).
    pub fn parse(arg: &str) -> Result<ExpectFail, ExpectFailError> {
        let looks_like_file = arg.ends_with(".yaml") || arg.ends_with(".yml");
        if looks_like_file || Path::new(arg).exists() {
            return ExpectFail::from_file(Path::new(arg));
        }
        let mut rules = BTreeMap::new();
        for id in arg.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            rules.insert(id.parse()?, None);
        }
        Ok(ExpectFail { rules })
    }

    /// Reads a YAML file: `S-NOTIF-WINDOW: "reason"` lines, or a list of IDs.
    pub fn from_file(path: &Path) -> Result<ExpectFail, ExpectFailError> {
        let name = path.display().to_string();
        let bytes = fsio::read_bounded(path, EXPECT_FAIL_FILE)?;
        let text = yaml::decode(bytes, &name, "an expect-fail")?;
        ExpectFail::from_yaml_str(&text, &name)
    }

    /// Parses the YAML of an expect-fail file; `origin` names it in errors.
    pub fn from_yaml_str(text: &str, origin: &str) -> Result<ExpectFail, ExpectFailError> {
        let file: File = yaml::from_str(text, origin)?;
        let rules = match file {
            File::Map(m) => m,
            File::List(l) => l.into_iter().map(|r| (r, None)).collect(),
        };
        Ok(ExpectFail { rules })
    }

    /// Whether no rule is listed.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The listed rules among `rules`.
    pub fn listed(&self, rules: &[RuleId]) -> Vec<RuleId> {
        rules
            .iter()
            .copied()
            .filter(|r| self.rules.contains_key(r))
            .collect()
    }

    /// The reason given for `rule`, if any.
    pub fn reason(&self, rule: RuleId) -> Option<String> {
        self.rules.get(&rule).cloned().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_and_yaml_forms() {
        let e = ExpectFail::parse("S-NOTIF-WINDOW, s-err").unwrap();
        assert_eq!(
            e.listed(&[RuleId::SErr, RuleId::SPromise, RuleId::SNotifWindow]),
            vec![RuleId::SErr, RuleId::SNotifWindow]
        );
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("known.yaml");
        std::fs::write(&p, "S-PROMISE: \"ads are fetched lazily\"\n").unwrap();
        let e = ExpectFail::parse(p.to_str().unwrap()).unwrap();
        assert_eq!(
            e.reason(RuleId::SPromise).as_deref(),
            Some("ads are fetched lazily")
        );
        std::fs::write(&p, "- S-NOPE\n").unwrap();
        let err = ExpectFail::parse(p.to_str().unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("known.yaml"), "{err}");
    }

    #[test]
    fn unknown_id_suggests() {
        let err = ExpectFail::parse("S-NOTIF-WINDOWS")
            .unwrap_err()
            .to_string();
        assert!(err.contains("did you mean `S-NOTIF-WINDOW`"), "{err}");
    }
}

//! Line terminators: `S-FRAMING` and `C-FRAMING`.
//!
//! Judged only where terminators were observed (live traffic); transcripts record
//! `Terminator::Unknown`. A peer that frames wrongly does so on every line, so each rule is
//! reported once per conversation. The other half of `S-FRAMING`, accepting a bare LF, is
//! judged in `requests`: a request that ended with LF and got no reply.

use super::{Checker, Terminator};
use crate::dialect::LineEnding;
use crate::rule::RuleId;

/// Which framing rules were reported: one misconfigured peer is one finding.
#[derive(Debug, Default)]
pub(super) struct Framing {
    client_reported: bool,
    server_reported: bool,
}

impl Framing {
    /// True the first time the client is found framing wrongly.
    fn first_client(&mut self) -> bool {
        !std::mem::replace(&mut self.client_reported, true)
    }

    /// True the first time the server is found framing wrongly.
    fn first_server(&mut self) -> bool {
        !std::mem::replace(&mut self.server_reported, true)
    }
}

impl Checker {
    pub(super) fn client_terminator(&mut self, terminator: Terminator, line: Option<usize>) {
        if terminator == Terminator::Missing && self.framing.first_client() {
            self.report(
                RuleId::CFraming,
                line,
                "the client's last line has no terminator (the stream ended mid-line)".into(),
            );
        }
    }

    pub(super) fn server_terminator(&mut self, terminator: Terminator, line: Option<usize>) {
        let want = self.dialect.line_ending;
        let wrong = match terminator {
            Terminator::Lf => want != LineEnding::Lf,
            Terminator::CrLf => want != LineEnding::Crlf,
            Terminator::Missing => true,
            Terminator::Unknown => false,
        };
        if wrong && self.framing.first_server() {
            let want = match want {
                LineEnding::Crlf => "CRLF",
                LineEnding::Lf => "LF",
            };
            let got = match terminator {
                Terminator::Lf => "a bare LF",
                Terminator::CrLf => "CRLF",
                _ => "no terminator (the stream ended mid-line)",
            };
            let msg = format!(
                "the server ended a line with {got}; dialect `{}` sends {want}",
                self.dialect.name
            );
            self.report(RuleId::SFraming, line, msg);
        }
    }
}

#[cfg(test)]
mod framing_tests {
    use super::Framing;

    #[test]
    fn each_party_is_reported_once_independently() {
        let mut f = Framing::default();
        assert!(f.first_client());
        assert!(!f.first_client());
        assert!(f.first_server());
        assert!(!f.first_server());
    }
}

#[cfg(test)]
mod tests {
    use crate::checker::testkit::rules;
    use crate::rule::RuleId::*;

    #[test]
    fn server_line_endings() {
        assert_eq!(rules("C~ random?\nS= 1\nC= random?\nS= 2"), vec![]);
        // One finding for a server that always sends LF.
        assert_eq!(
            rules("C: random?\nS~ 1\nC: random?\nS~ 2"),
            vec![(SFraming, 2)]
        );
        assert_eq!(rules("C: random?\nS. 1"), vec![(SFraming, 2)]);
        // Not judged when not recorded.
        assert_eq!(rules("C: random?\nS: 1"), vec![]);
    }

    #[test]
    fn a_server_that_ignores_bare_lf() {
        assert_eq!(rules("C~ random?\n! quiet 1s"), vec![(SFraming, 2)]);
        assert_eq!(rules("C= random?\n! quiet 1s"), vec![(SReplyOne, 2)]);
    }

    #[test]
    fn client_line_endings() {
        assert_eq!(rules("C. random?"), vec![(CFraming, 1)]);
        assert_eq!(rules("C~ random?\nS= 1"), vec![]);
    }
}

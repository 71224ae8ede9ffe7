//! How the checker is configured for a transcript, whoever streams its entries.

use std::time::Duration;

use super::{Checker, Options};
use crate::dialect::Dialect;

impl Checker {
    /// A checker configured for a transcript, for callers that stream entries themselves
    /// (`notifspec check` on huge files) and must judge exactly like [`check_transcript`](crate::transcript::check_transcript):
    /// `items_known` says the transcript has at least one `! publish` directive.
    pub fn for_transcript(dialect: Dialect, items_known: bool) -> Checker {
        Checker::with_options(dialect, transcript_options(items_known))
    }
}

/// The options a transcript implies: publishes known iff it has publish directives; any
/// quiet period long enough to judge liveness.
pub(crate) fn transcript_options(items_known: bool) -> Options {
    Options {
        items_known,
        liveness_bound: Duration::ZERO,
    }
}

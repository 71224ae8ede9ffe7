//! Transcripts: conforming ones replayed live, negative ones judged by the checker.

use super::{Step, StepDef};

pub(crate) static STEPS: &[StepDef] = &[
    StepDef {
        pattern: "the transcript {string} replays against the server",
        build: |c| Ok(Step::Replay(c.text(0))),
    },
    StepDef {
        pattern: "the checker flags {string} with exactly its expected rules",
        build: |c| Ok(Step::Flagged(c.text(0))),
    },
];

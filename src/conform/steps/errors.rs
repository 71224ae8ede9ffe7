//! Bad input: unknown and out-of-state commands, oversized and malformed lines, disconnects.

use super::{Expect, Step, StepDef};

pub(crate) static STEPS: &[StepDef] = &[
    StepDef {
        pattern: "client {word} receives an error",
        build: |c| Ok(Step::Receive(c.text(0), Expect::Error, None)),
    },
    StepDef {
        pattern: "client {word} sends a line longer than the limit",
        build: |c| Ok(Step::SendOversized(c.text(0))),
    },
    StepDef {
        pattern: "client {word} sends a line that is not UTF-8",
        build: |c| Ok(Step::SendInvalidUtf8(c.text(0))),
    },
    StepDef {
        pattern: "client {word} disconnects in the middle of a line",
        build: |c| Ok(Step::DisconnectMidLine(c.text(0))),
    },
    StepDef {
        pattern: "the server closes the connection of client {word}",
        build: |c| Ok(Step::ClosedByServer(c.text(0))),
    },
    StepDef {
        pattern: "the server has dealt with the line of client {word}",
        build: |c| Ok(Step::DealtWith(c.text(0))),
    },
];

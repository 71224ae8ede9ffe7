//! Entering and leaving notification mode, and the notifications themselves.

use super::{Expect, Step, StepDef};
use crate::dialect::ItemKind;

fn kind(word: &str) -> Result<Option<ItemKind>, String> {
    word.parse().map(Some)
}

pub(crate) static STEPS: &[StepDef] = &[
    StepDef {
        pattern: "client {word} is in notification mode",
        build: |c| Ok(Step::InMode(c.text(0))),
    },
    StepDef {
        pattern: "client {word} receives a notification",
        build: |c| Ok(Step::Receive(c.text(0), Expect::Notification(None), None)),
    },
    StepDef {
        pattern: "within {duration} client {word} receives a notification",
        build: |c| {
            Ok(Step::Receive(
                c.text(1),
                Expect::Notification(None),
                Some(c.duration(0)),
            ))
        },
    },
    StepDef {
        pattern: "within {duration} client {word} receives a {word} notification",
        build: |c| {
            Ok(Step::Receive(
                c.text(1),
                Expect::Notification(kind(&c.text(2))?),
                Some(c.duration(0)),
            ))
        },
    },
    StepDef {
        pattern: "client {word} receives \"OK\", possibly after one notification",
        build: |c| Ok(Step::StopOkAfterCrossing(c.text(0))),
    },
];

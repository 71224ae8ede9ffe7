//! Making items available through the control port.

use super::{Item, Step, StepDef};

pub(crate) static STEPS: &[StepDef] = &[
    StepDef {
        pattern: "a random number is published",
        build: |_| Ok(Step::Publish(Item::Random(None))),
    },
    StepDef {
        pattern: "the random number {int} is published",
        build: |c| Ok(Step::Publish(Item::Random(Some(c.int(0))))),
    },
    StepDef {
        pattern: "an ad {string} is published",
        build: |c| {
            let text = c.text(0);
            if text.is_empty() {
                return Err("an ad cannot be empty: an empty line means `no ad`".into());
            }
            Ok(Step::Publish(Item::Classified(text)))
        },
    },
];

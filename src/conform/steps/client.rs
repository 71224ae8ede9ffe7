//! Client conformance: notifspec plays the server and judges the client under test.

use super::{Step, StepDef};

pub(crate) static STEPS: &[StepDef] = &[
    StepDef {
        pattern: "the client under test is connected",
        build: |_| Ok(Step::ClientConnects),
    },
    StepDef {
        pattern: "the server serves the client until it enters notification mode",
        build: |_| Ok(Step::ServeUntilMode),
    },
    StepDef {
        pattern: "the server sends {string}",
        build: |c| Ok(Step::ServerSends(c.text(0))),
    },
    StepDef {
        pattern: "within {duration} the client answers the notification",
        build: |c| Ok(Step::ClientAnswers(c.duration(0))),
    },
    StepDef {
        pattern: "a notification crosses the client's stop_notif",
        build: |_| Ok(Step::CrossTheStop),
    },
    StepDef {
        pattern: "the server plays along for {duration}",
        build: |c| Ok(Step::PlayAlong(c.duration(0))),
    },
];

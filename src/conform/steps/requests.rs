//! Connecting, sending requests and checking replies.

use super::{Expect, Step, StepDef, expect_of};

pub(crate) static STEPS: &[StepDef] = &[
    StepDef {
        pattern: "a server",
        build: |_| Ok(Step::Server),
    },
    StepDef {
        pattern: "a server in dialect {string}",
        build: |c| Ok(Step::Dialect(c.text(0))),
    },
    StepDef {
        pattern: "client {word} is connected",
        build: |c| Ok(Step::Connect(c.text(0))),
    },
    StepDef {
        pattern: "client {word} has read everything",
        build: |c| Ok(Step::CatchUp(c.text(0))),
    },
    StepDef {
        pattern: "client {word} sends {string}",
        build: |c| {
            Ok(Step::Send {
                peer: c.text(0),
                line: c.text(1),
                crlf: None,
            })
        },
    },
    StepDef {
        pattern: "client {word} sends {string} ended by LF",
        build: |c| {
            Ok(Step::Send {
                peer: c.text(0),
                line: c.text(1),
                crlf: Some(false),
            })
        },
    },
    StepDef {
        pattern: "client {word} sends {string} ended by CRLF",
        build: |c| {
            Ok(Step::Send {
                peer: c.text(0),
                line: c.text(1),
                crlf: Some(true),
            })
        },
    },
    StepDef {
        pattern: "client {word} sends {string} and {string} at once",
        build: |c| Ok(Step::SendPipelined(c.text(0), vec![c.text(1), c.text(2)])),
    },
    StepDef {
        pattern: "client {word} receives {string}",
        build: |c| Ok(Step::Receive(c.text(0), expect_of(c, 1), None)),
    },
    StepDef {
        pattern: "within {duration} client {word} receives {string}",
        build: |c| {
            Ok(Step::Receive(
                c.text(1),
                expect_of(c, 2),
                Some(c.duration(0)),
            ))
        },
    },
    StepDef {
        pattern: "client {word} receives an integer",
        build: |c| Ok(Step::Receive(c.text(0), Expect::Integer, None)),
    },
    StepDef {
        pattern: "client {word} receives an empty line",
        build: |c| Ok(Step::Receive(c.text(0), Expect::Empty, None)),
    },
    StepDef {
        pattern: "client {word} receives an empty line or an ad it has read",
        build: |c| Ok(Step::Receive(c.text(0), Expect::NoneUnread, None)),
    },
    StepDef {
        pattern: "client {word} reads {string} and {string}, in either order",
        build: |c| Ok(Step::ReadAds(c.text(0), vec![c.text(1), c.text(2)])),
    },
    StepDef {
        pattern: "client {word} answers every notification for {duration}",
        build: |c| Ok(Step::AnswerAll(c.text(0), c.duration(1))),
    },
    StepDef {
        pattern: "client {word} receives an ad",
        build: |c| Ok(Step::Receive(c.text(0), Expect::Ad, None)),
    },
    StepDef {
        pattern: "client {word} receives nothing for {duration}",
        build: |c| Ok(Step::Nothing(c.text(0), c.duration(1))),
    },
    StepDef {
        pattern: "client {word} is still usable",
        build: |c| Ok(Step::StillUsable(c.text(0))),
    },
    StepDef {
        pattern: "client {word} closes the connection",
        build: |c| Ok(Step::Close(c.text(0))),
    },
    StepDef {
        pattern: "{int} other clients each send {string}",
        build: |c| Ok(Step::Crowd(c.int(0), c.text(1))),
    },
    StepDef {
        pattern: "each of them receives an integer",
        build: |_| Ok(Step::CrowdReceives(Expect::Integer)),
    },
];

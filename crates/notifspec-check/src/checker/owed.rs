//! The vocabulary the rule families share: the mode a conversation is in, and what the
//! server owes the client for each line it sent. Plain data, below `mode`, `requests`,
//! `window` and `availability`, so that each family's file depends on these words and not
//! on another family's file (the mode family queues what it expects; the reply family
//! judges against it).

use super::classify::ClientClass;

/// Where the conversation stands, as both parties should see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// Requests and replies (also while the enter command awaits its acknowledgement).
    Normal,
    /// Between the mode acknowledgement and the client's stop line.
    Notifying,
    /// The client sent stop_notif; the server's OK has not arrived.
    Stopping,
}

/// What the server owes the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expect {
    /// A decimal integer.
    Random,
    /// An ad or an empty line.
    Classified,
    /// The mode acknowledgement.
    Ack,
    /// The OK that completes the enter command.
    StopOk,
    /// An error line. `optional`: the server's reaction is not judged (error line or
    /// nothing), because a race may make the line legal from the server's point of view.
    Error {
        /// Whether silence is acceptable too.
        optional: bool,
    },
}

/// One client line waiting for its reply.
#[derive(Debug, Clone, Copy)]
pub(super) struct Pending {
    /// What is owed.
    pub(super) expect: Expect,
    /// What the client sent.
    pub(super) class: ClientClass,
    /// The mode the client was in when it sent the line (for messages).
    pub(super) mode: Mode,
    /// Its transcript line.
    pub(super) line: Option<usize>,
    /// It ended with a bare LF (a silent server may not accept LF: `S-FRAMING`).
    pub(super) lf: bool,
    /// It was pipelined (sent while an earlier reply was owed): the server reads it only
    /// after answering everything before it, so what it calls for is decided then, against
    /// the state the server is in by that time (see `mode::resolve_pipelined`). Until then
    /// `expect` is provisional.
    pub(super) pipelined: bool,
}

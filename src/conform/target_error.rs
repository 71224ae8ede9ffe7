//! Trouble reaching or driving a target, in its own module so the target and the embedded
//! references it starts can both return it without depending on each other.

/// Trouble reaching or driving the implementation under test (a JUnit `<error>`, exit 2
/// when it happens before any scenario could run), as opposed to a rule it broke.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The server did not accept a connection.
    #[error("cannot connect to {addr}: {reason}")]
    Connect {
        /// Where.
        addr: String,
        /// What went wrong (refused, timed out after …).
        reason: String,
    },
    /// The control port refused or did not answer a publish.
    #[error("control port {addr}: {reason}")]
    Control {
        /// Where.
        addr: String,
        /// What went wrong.
        reason: String,
    },
    /// The publish command (`--publish-cmd`) failed, timed out or could not start.
    #[error("publish command `{cmd}`: {reason}")]
    Publish {
        /// The command as run (placeholders substituted).
        cmd: String,
        /// What went wrong (exit status and stderr, or the timeout).
        reason: String,
    },
    /// A step needs a control port and the run has none.
    #[error("no control port: pass --control ADDR (or NOTIFSPEC_CONTROL) to publish items")]
    NoControl,
    /// The embedded reference server could not start.
    #[error("the reference server could not start: {0}")]
    Reference(String),
    /// The client command could not be started, or never connected.
    #[error("client under test `{cmd}`: {reason}")]
    Client {
        /// The command as run.
        cmd: String,
        /// What went wrong.
        reason: String,
    },
}

//! A client for a server's control port, so replay can make items appear on demand (the
//! `! publish` directives, and the item an expected notification announces).

use std::time::Duration;

use crate::control_client::{ControlClient, ControlError};
use crate::dialect::ItemKind;
use crate::net::ServerHandle;
use crate::publish_cmd::PublishCmd;
use crate::transcript::Directive;

/// Why a publish did not happen. Replay reports it as the run's error (the target could not
/// be driven), so the messages name the control port or the line that failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The control port could not be reached.
    #[error("control port {addr}: {source}")]
    Connect {
        /// The control address.
        addr: String,
        /// What went wrong.
        source: ControlError,
    },
    /// A control line was not confirmed with `OK`.
    #[error("{}", exchange_message(line, source))]
    Exchange {
        /// The control line sent.
        line: String,
        /// What went wrong.
        source: ControlError,
    },
    /// The directive does not publish anything.
    #[error("{0:?} is not a publish directive")]
    NotPublish(Directive),
    /// `! publish random N` with an `N` that is not a number.
    #[error("`{0}` is not a number to publish")]
    NotANumber(String),
    /// The embedded server or a hook refused the item.
    #[error("{0}")]
    Refused(String),
    /// A publish was needed and the run has no way to publish.
    #[error("no control port")]
    NoControlPort,
    /// The publish command (`--publish-cmd`) failed, timed out or could not start.
    #[error(transparent)]
    Command(#[from] crate::publish_cmd::PublishCmdError),
}

/// How a failed exchange reads: the control line, then what happened to it.
fn exchange_message(line: &str, e: &ControlError) -> String {
    match e {
        ControlError::Send(e) => format!("sending `{line}`: {e}"),
        ControlError::Refused(reply) => format!("`{line}` was answered `{reply}`"),
        ControlError::TooLong { .. } => format!("`{line}`: reply too long"),
        ControlError::SendTimeout(t) | ControlError::NoReply(t) => {
            format!("`{line}`: no reply within {t:?}")
        }
        other => format!("`{line}`: {other}"),
    }
}

/// One connection to a control port, kept for the whole replay.
#[derive(Debug)]
pub struct Control {
    client: ControlClient,
}

impl Control {
    /// Connects within `timeout`.
    pub async fn connect(addr: &str, timeout: Duration) -> Result<Control, PublishError> {
        let client = ControlClient::connect(addr, timeout)
            .await
            .map_err(|source| PublishError::Connect {
                addr: addr.to_string(),
                source,
            })?;
        Ok(Control { client })
    }

    /// Publishes what `directive` says and waits for the `OK`.
    pub async fn publish(&mut self, directive: &Directive) -> Result<(), PublishError> {
        let line =
            control_line(directive).ok_or_else(|| PublishError::NotPublish(directive.clone()))?;
        self.client
            .request(&line)
            .await
            .map_err(|source| PublishError::Exchange { line, source })
    }
}

/// The control-port line for a publish directive.
pub fn control_line(directive: &Directive) -> Option<String> {
    match directive {
        Directive::PublishRandom(None) => Some("publish random".into()),
        Directive::PublishRandom(Some(n)) => Some(format!("publish random {n}")),
        Directive::PublishClassified(text) => Some(format!("publish classified {text}")),
        _ => None,
    }
}

/// An in-process way to publish, for embedders and tests that run their own server.
pub type PublishHook<'a> = Box<dyn FnMut(&Directive) -> Result<(), String> + Send + 'a>;

/// How replay makes items appear: through a control port, by calling an embedded reference
/// server directly, through a hook, or by running the user's publish command.
pub enum Publisher<'a> {
    /// A control-port connection.
    Port(Control),
    /// An in-process reference server.
    Embedded(&'a ServerHandle),
    /// Anything else that can make items appear.
    Hook(PublishHook<'a>),
    /// A command the user gave (`--publish-cmd`), each run bounded by the duration.
    Command(&'a PublishCmd, Duration),
}

impl std::fmt::Debug for Publisher<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Publisher::Port(c) => f.debug_tuple("Port").field(c).finish(),
            Publisher::Embedded(h) => f.debug_tuple("Embedded").field(h).finish(),
            Publisher::Hook(_) => f.write_str("Hook"),
            Publisher::Command(c, _) => f.debug_tuple("Command").field(c).finish(),
        }
    }
}

impl Publisher<'_> {
    /// Publishes what `directive` says.
    pub async fn publish(&mut self, directive: &Directive) -> Result<(), PublishError> {
        match self {
            Publisher::Port(c) => c.publish(directive).await,
            Publisher::Hook(hook) => hook(directive).map_err(PublishError::Refused),
            Publisher::Command(cmd, wait) => {
                let (kind, text) = match directive {
                    Directive::PublishRandom(n) => (ItemKind::Random, n.as_deref().unwrap_or("")),
                    Directive::PublishClassified(text) => (ItemKind::Classified, text.as_str()),
                    other => return Err(PublishError::NotPublish(other.clone())),
                };
                Ok(cmd.run(kind, text, *wait).await?)
            }
            Publisher::Embedded(h) => match directive {
                Directive::PublishRandom(None) => {
                    h.publish_random(None);
                    Ok(())
                }
                Directive::PublishRandom(Some(n)) => {
                    let n = n.parse().map_err(|_| PublishError::NotANumber(n.clone()))?;
                    h.publish_random(Some(n));
                    Ok(())
                }
                Directive::PublishClassified(text) => h
                    .publish_classified(text)
                    .map_err(|e| PublishError::Refused(e.to_string())),
                other => Err(PublishError::NotPublish(other.clone())),
            },
        }
    }
}

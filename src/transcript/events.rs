//! Turning transcript entries into checker events, so the offline checker sees a recorded
//! conversation exactly as it would see live traffic.

use super::parse::LineKind;
use super::{Directive, Entry, EntryKind, Message};
use crate::checker::{Event, EventKind, Party, Terminator};
use crate::dialect::ItemKind;

impl Entry {
    /// The checker event this entry stands for; `None` for `[...]` (the recording stops).
    /// A message with placeholders is judged through [`Message::sample`].
    pub fn to_event(&self) -> Option<Event> {
        let kind = match &self.kind {
            EntryKind::Client(m) => line_event(Party::Client, message_text(m)),
            EntryKind::Server(m) => line_event(Party::Server, message_text(m)),
            EntryKind::Directive(d) => directive_event(d),
            EntryKind::Unrecorded => return None,
        };
        Some(event(self.line, kind))
    }
}

fn message_text(m: &Message) -> String {
    match m.literal() {
        Some(s) => s.to_string(),
        None => m.sample(),
    }
}

fn line_event(from: Party, text: String) -> EventKind {
    EventKind::Line {
        from,
        text,
        terminator: Terminator::Unknown,
    }
}

fn event(line: usize, kind: EventKind) -> Event {
    Event {
        at: None,
        source_line: Some(line),
        kind,
    }
}

fn directive_event(d: &Directive) -> EventKind {
    match d {
        Directive::PublishRandom(_) => EventKind::Published {
            kind: ItemKind::Random,
        },
        Directive::PublishClassified(_) => EventKind::Published {
            kind: ItemKind::Classified,
        },
        Directive::Close => EventKind::Closed { by: Party::Client },
        Directive::ExpectClose => EventKind::Closed { by: Party::Server },
        Directive::Quiet(duration) => EventKind::Quiet {
            duration: *duration,
        },
    }
}

/// The event for a borrowed entry (the streaming path): plain messages are copied once, with
/// no intermediate [`Message`].
pub(crate) fn line_kind_event(line: usize, kind: &LineKind<'_>) -> Option<Event> {
    let kind = match kind {
        LineKind::Client(m, true) => line_event(Party::Client, m.to_string()),
        LineKind::Server(m, true) => line_event(Party::Server, m.to_string()),
        LineKind::Client(m, false) => line_event(Party::Client, pattern_text(m)),
        LineKind::Server(m, false) => line_event(Party::Server, pattern_text(m)),
        LineKind::Directive(d) => directive_event(d),
        LineKind::Unrecorded => return None,
    };
    Some(event(line, kind))
}

fn pattern_text(raw: &str) -> String {
    Message::parse(raw)
        .map(|m| message_text(&m))
        .unwrap_or_else(|_| raw.to_string())
}

impl<R: std::io::BufRead> super::Reader<R> {
    /// The next checker event, `Ok(None)` at the end of the file. `[...]` produces no event;
    /// [`is_complete`](super::Reader::is_complete) then tells whether hanging requests count.
    pub fn next_event(&mut self) -> Result<Option<Event>, super::ParseError> {
        loop {
            let Some((line, kind)) = self.next_kind()? else {
                return Ok(None);
            };
            if let Some(e) = line_kind_event(line, &kind) {
                return Ok(Some(e));
            }
        }
    }
}

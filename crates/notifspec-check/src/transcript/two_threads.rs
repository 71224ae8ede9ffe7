//! The streaming check on two threads: one reads, validates, splits and classifies the
//! recording, the other judges it. On a 2-core machine the check of a long file then takes
//! about the longer of the two halves instead of their sum (issue 14).
//!
//! The reader's thread hands over batches of compact records: a fixed line (the usual
//! `C: OK`, `S: notif: random`, …) is only its number in the checker's own table of fixed
//! lines, any other entry carries its message copied into the batch's text. Batches are
//! recycled (four in all), so memory stays bounded whatever the file's size and nothing is
//! allocated per line. The checker sees exactly the entries, in the same order, that
//! [`Reader::feed`](super::Reader::feed) hands it on one thread.

use std::io::Read;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use super::parse::{LineKind, Visit};
use super::{Directive, ParseError, Reader};
use crate::checker::{Checker, Classifier, Violation};

/// Records per batch: large enough that handing a batch over costs nothing per line, small
/// enough that a batch stays in the cache between the two threads.
const BATCH: usize = 4096;

/// Message bytes per batch before it is handed over (a batch may exceed it by one line).
const BATCH_TEXT: usize = 128 * 1024;

/// Batches in all: one being filled, one being judged, two waiting (at most ~1 MB in all;
/// more or larger batches measured no different).
const BATCHES: usize = 4;

/// One transcript entry, as the reader's thread hands it over: 24 bytes, so that a batch
/// crosses from one core's cache to the other's in few lines.
#[derive(Clone, Copy)]
struct Record {
    /// The entry's line number.
    line: usize,
    /// A `C:` line (else `S:`), for [`What::Fixed`] and [`What::Message`].
    client: bool,
    what: What,
    /// [`What::Fixed`]: the line's number in the checker's table of fixed lines.
    index: u8,
    /// [`What::Message`]: the message is `text[start..end]` of the batch; [`What::Directive`]:
    /// the directive is `directives[start]`.
    start: u32,
    end: u32,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum What {
    /// One of the dialect's fixed lines.
    Fixed,
    /// A `C:`/`S:` line with a plain message (no placeholder).
    Message,
    /// A `C:`/`S:` line whose message has placeholders.
    Pattern,
    Directive,
    Unrecorded,
}

/// Records and what they point into. Everything is reused from batch to batch.
#[derive(Default)]
struct Batch {
    records: Vec<Record>,
    text: String,
    directives: Vec<Directive>,
}

impl Batch {
    fn with_capacity() -> Batch {
        Batch {
            records: Vec::with_capacity(BATCH),
            text: String::with_capacity(BATCH_TEXT),
            directives: Vec::new(),
        }
    }
}

/// The reader's side: a [`Visit`] that classifies fixed lines with the checker's table and
/// records every entry.
struct Recorder {
    table: Classifier,
    batch: Batch,
    full: SyncSender<Batch>,
    empty: Receiver<Batch>,
}

impl Recorder {
    #[inline]
    fn push(&mut self, record: Record) {
        self.batch.records.push(record);
        if self.batch.records.len() >= BATCH || self.batch.text.len() >= BATCH_TEXT {
            self.hand_over();
        }
    }

    /// Sends the batch to the checker's thread and takes an empty one, waiting for it when
    /// all are in use (the checker is behind).
    fn hand_over(&mut self) {
        if self.batch.records.is_empty() {
            return;
        }
        // The checker's thread gone (it panicked): the rest is read for nothing, with a
        // fresh batch, and the panic is passed on when the threads are joined.
        let next = self.empty.recv().unwrap_or_default();
        let full = std::mem::replace(&mut self.batch, next);
        let _ = self.full.send(full);
    }
}

impl Visit for Recorder {
    #[inline]
    fn whole_line(&mut self, client: bool, rest: &str, line: usize) -> Option<usize> {
        let (len, index) = self.table.leading_index(client, rest.as_bytes())?;
        self.push(Record {
            line,
            client,
            what: What::Fixed,
            index,
            start: 0,
            end: 0,
        });
        Some(len)
    }

    fn entry(&mut self, line: usize, kind: LineKind<'_>) {
        let mut record = Record {
            line,
            client: false,
            what: What::Unrecorded,
            index: 0,
            start: 0,
            end: 0,
        };
        match kind {
            LineKind::Client(m, plain) | LineKind::Server(m, plain) => {
                record.client = matches!(kind, LineKind::Client(..));
                record.what = if plain { What::Message } else { What::Pattern };
                // A batch holds at most BATCH_TEXT bytes and one line of at most
                // MAX_LINE_LEN: far below 4 GiB.
                record.start = self.batch.text.len() as u32;
                self.batch.text.push_str(m);
                record.end = self.batch.text.len() as u32;
            }
            LineKind::Directive(directive) => {
                record.what = What::Directive;
                record.start = self.batch.directives.len() as u32;
                self.batch.directives.push(directive);
            }
            LineKind::Unrecorded => {}
        }
        self.push(record);
    }
}

impl<R: Read + Send> Reader<R> {
    /// [`feed`](Reader::feed) on two threads: this one judges while another reads,
    /// validates, splits and classifies. The same entries reach `checker` in the same order,
    /// so the violations and the error (if any) are exactly those of `feed`. A small input
    /// (all of it in the first read) is fed on this thread alone: a thread costs more than
    /// such a file.
    pub fn feed_on_two_threads(
        &mut self,
        checker: &mut Checker,
        found: impl FnMut(Violation),
    ) -> Result<(), ParseError> {
        if !self.reads_past_first_block() {
            return self.feed(checker, found);
        }
        let table = checker.line_table();
        let (full_tx, full_rx) = sync_channel::<Batch>(BATCHES);
        let (empty_tx, empty_rx) = sync_channel::<Batch>(BATCHES);
        for _ in 1..BATCHES {
            let _ = empty_tx.send(Batch::with_capacity());
        }
        let reader_table = table.clone();
        std::thread::scope(|s| {
            let reading = s.spawn(move || {
                let mut recorder = Recorder {
                    table: reader_table,
                    batch: Batch::with_capacity(),
                    full: full_tx,
                    empty: empty_rx,
                };
                let read = self.visit(&mut recorder);
                recorder.hand_over();
                read
            });
            let mut feeding = super::events::Feeding::new(checker, found);
            for mut batch in full_rx {
                let mut directives = batch.directives.drain(..);
                for r in &batch.records {
                    match r.what {
                        What::Fixed => {
                            if let Some((text, known)) = table.fixed(r.client, r.index) {
                                feeding.fixed(known, text, r.line);
                            }
                        }
                        What::Message | What::Pattern => {
                            let m = batch
                                .text
                                .get(r.start as usize..r.end as usize)
                                .unwrap_or_default();
                            let plain = r.what == What::Message;
                            let kind = if r.client {
                                LineKind::Client(m, plain)
                            } else {
                                LineKind::Server(m, plain)
                            };
                            feeding.entry(r.line, kind);
                        }
                        What::Directive => {
                            // Recorded in order: the next one is this record's.
                            if let Some(directive) = directives.next() {
                                feeding.entry(r.line, LineKind::Directive(directive));
                            }
                        }
                        What::Unrecorded => feeding.entry(r.line, LineKind::Unrecorded),
                    }
                }
                drop(directives);
                batch.records.clear();
                batch.text.clear();
                // The reader finished (or failed) and needs no more batches: fine.
                let _ = empty_tx.send(batch);
            }
            match reading.join() {
                Ok(read) => read,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }
}

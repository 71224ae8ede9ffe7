//! Sans-IO line framing shared by the reference peers, the proxy, replay and the simulator.
//!
//! Receivers accept `\n` and `\r\n`; a lone `\r` is part of the line. The length limit is
//! enforced *while* reading: an oversized line is reported as soon as the limit is passed,
//! its remaining bytes are discarded up to the next `\n`, and memory never grows past the
//! limit whatever the peer sends. The codec implements tokio-util's `Decoder`/`Encoder`, but
//! `decode` is a plain function of a buffer, so fuzzers and the simulator call it directly.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::dialect::LineEnding;

/// How a received line was terminated. The checker's framing rules need to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// `\n` alone.
    Lf,
    /// `\r\n`.
    CrLf,
    /// The stream ended before a terminator: an incomplete last line.
    Eof,
}

/// One received line, without its terminator, as bytes (it may not be UTF-8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawLine {
    /// The line's content.
    pub bytes: Bytes,
    /// How it ended.
    pub ending: Ending,
}

impl RawLine {
    /// The line as UTF-8, if it is.
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.bytes).ok()
    }

    /// The line as text with invalid bytes replaced, for reports and transcripts.
    pub fn lossy(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// What the decoder yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A complete line within the limit.
    Line(RawLine),
    /// A line passed the limit; its bytes are being discarded up to the next `\n`.
    /// Reported once per oversized line, as soon as the limit is passed.
    TooLong {
        /// The limit that was exceeded.
        limit: usize,
    },
}

/// Line codec with a length limit enforced while reading.
#[derive(Debug, Clone)]
pub struct LineCodec {
    max_line: usize,
    send_ending: LineEnding,
    /// Bytes of `buf` already scanned for `\n` (avoids rescanning on each read).
    scanned: usize,
    /// Inside an oversized line: drop bytes until the next `\n`.
    discarding: bool,
}

impl LineCodec {
    /// A codec that accepts lines of up to `max_line` bytes (terminator excluded) and
    /// terminates what it sends with `send_ending`.
    pub fn new(max_line: usize, send_ending: LineEnding) -> Self {
        LineCodec {
            max_line,
            send_ending,
            scanned: 0,
            discarding: false,
        }
    }

    /// The receive limit.
    pub fn max_line(&self) -> usize {
        self.max_line
    }
}

/// Where the next complete line lies in a read buffer, found without splitting it off: the
/// connection loop hands `&buf[..len]` to its session and then advances the buffer by
/// `consumed`, so a received line costs no allocation and no reference count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// A complete line within the limit: `buf[..len]`, followed by its terminator.
    Line {
        /// Content bytes (terminator excluded).
        len: usize,
        /// How it ended.
        ending: Ending,
        /// Bytes to advance past once the line is used (content and terminator).
        consumed: usize,
    },
    /// A line passed the limit (reported once, as [`Frame::TooLong`]).
    TooLong {
        /// The limit that was exceeded.
        limit: usize,
    },
}

impl LineCodec {
    /// Like [`Decoder::decode`], but leaves a found line in `buf` (see [`Scan`]); the caller
    /// must advance `buf` by `consumed` before scanning again. Discarded bytes of an
    /// oversized line are dropped from `buf` here, so it stays within the limit.
    pub fn scan(&mut self, buf: &mut BytesMut) -> Option<Scan> {
        loop {
            if self.discarding {
                match memchr(b'\n', buf) {
                    Some(i) => {
                        buf.advance(i + 1);
                        self.discarding = false;
                        self.scanned = 0;
                        continue;
                    }
                    None => {
                        buf.clear();
                        return None;
                    }
                }
            }
            // A line of max_line bytes may be followed by "\r\n": look that far, no further.
            let window = buf.len().min(self.max_line + 2);
            if let Some(off) = memchr(b'\n', &buf[self.scanned..window]) {
                let nl = self.scanned + off;
                self.scanned = 0;
                let (len, ending) = if nl > 0 && buf[nl - 1] == b'\r' {
                    (nl - 1, Ending::CrLf)
                } else {
                    (nl, Ending::Lf)
                };
                if len > self.max_line {
                    buf.advance(nl + 1);
                    return Some(Scan::TooLong {
                        limit: self.max_line,
                    });
                }
                return Some(Scan::Line {
                    len,
                    ending,
                    consumed: nl + 1,
                });
            }
            self.scanned = window;
            // More than max_line bytes with no terminator, and not a line of exactly
            // max_line bytes waiting for the `\n` after its `\r`.
            let over = buf.len() > self.max_line + 1
                || (buf.len() == self.max_line + 1 && buf[self.max_line] != b'\r');
            if over {
                self.discarding = true;
                self.scanned = 0;
                return Some(Scan::TooLong {
                    limit: self.max_line,
                });
            }
            return None;
        }
    }

    /// Like [`Decoder::decode_eof`], in the manner of [`LineCodec::scan`]: once the stream
    /// has ended, an incomplete last line is a line ([`Ending::Eof`]).
    pub fn scan_eof(&mut self, buf: &mut BytesMut) -> Option<Scan> {
        if let Some(found) = self.scan(buf) {
            return Some(found);
        }
        if self.discarding || buf.is_empty() {
            buf.clear();
            self.discarding = false;
            self.scanned = 0;
            return None;
        }
        self.scanned = 0;
        // A line of max_line bytes plus a `\r` waits for its `\n`; if the stream ends
        // instead, that `\r` is content and the line is one byte over the limit.
        if buf.len() > self.max_line {
            buf.clear();
            return Some(Scan::TooLong {
                limit: self.max_line,
            });
        }
        Some(Scan::Line {
            len: buf.len(),
            ending: Ending::Eof,
            consumed: buf.len(),
        })
    }

    /// Appends `line` and the dialect's terminator to `dst`.
    pub fn encode_into(&self, line: &[u8], dst: &mut impl BufMut) {
        dst.put_slice(line);
        dst.put_slice(self.send_ending.as_bytes());
    }
}

/// Turns a scanned line into an owned frame (the `Decoder` path: framed streams, fuzzers).
fn split_frame(found: Scan, buf: &mut BytesMut) -> Frame {
    match found {
        Scan::TooLong { limit } => Frame::TooLong { limit },
        Scan::Line {
            len,
            ending,
            consumed,
        } => {
            let mut line = buf.split_to(consumed);
            line.truncate(len);
            Frame::Line(RawLine {
                bytes: line.freeze(),
                ending,
            })
        }
    }
}

impl Decoder for LineCodec {
    type Item = Frame;
    type Error = std::io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, std::io::Error> {
        Ok(self.scan(buf).map(|found| split_frame(found, buf)))
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, std::io::Error> {
        Ok(self.scan_eof(buf).map(|found| split_frame(found, buf)))
    }
}

impl<T: AsRef<str>> Encoder<T> for LineCodec {
    type Error = std::io::Error;

    fn encode(&mut self, line: T, dst: &mut BytesMut) -> Result<(), std::io::Error> {
        let line = line.as_ref();
        let end = self.send_ending.as_bytes();
        dst.reserve(line.len() + end.len());
        dst.put_slice(line.as_bytes());
        dst.put_slice(end);
        Ok(())
    }
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|b| *b == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(codec: &mut LineCodec, input: &[u8]) -> Vec<Frame> {
        let mut buf = BytesMut::new();
        let mut out = vec![];
        // Feed one byte at a time: the hardest case for incremental scanning.
        for b in input {
            buf.put_u8(*b);
            while let Some(f) = codec.decode(&mut buf).unwrap() {
                out.push(f);
            }
            assert!(
                buf.len() <= codec.max_line() + 2,
                "buffer grew past the limit"
            );
        }
        while let Some(f) = codec.decode_eof(&mut buf).unwrap() {
            out.push(f);
        }
        out
    }

    fn line(s: &str, ending: Ending) -> Frame {
        Frame::Line(RawLine {
            bytes: Bytes::copy_from_slice(s.as_bytes()),
            ending,
        })
    }

    #[test]
    fn lf_crlf_lone_cr_and_eof() {
        let mut c = LineCodec::new(16, LineEnding::Crlf);
        let got = decode_all(&mut c, b"a\nb\r\nc\rd\n\ntail");
        assert_eq!(
            got,
            vec![
                line("a", Ending::Lf),
                line("b", Ending::CrLf),
                line("c\rd", Ending::Lf),
                line("", Ending::Lf),
                line("tail", Ending::Eof),
            ]
        );
    }

    #[test]
    fn limit_is_inclusive_and_oversized_lines_are_skipped() {
        let mut c = LineCodec::new(4, LineEnding::Lf);
        let got = decode_all(&mut c, b"abcd\r\nabcde\nok\nabcdefghijklmnop");
        assert_eq!(
            got,
            vec![
                line("abcd", Ending::CrLf),
                Frame::TooLong { limit: 4 },
                line("ok", Ending::Lf),
                Frame::TooLong { limit: 4 },
            ]
        );
    }

    #[test]
    fn huge_input_without_newline_stays_bounded() {
        let mut c = LineCodec::new(1024, LineEnding::Lf);
        let mut buf = BytesMut::new();
        let chunk = vec![b'x'; 64 * 1024];
        let mut frames = 0;
        for _ in 0..200 {
            buf.extend_from_slice(&chunk);
            while let Some(f) = c.decode(&mut buf).unwrap() {
                assert_eq!(f, Frame::TooLong { limit: 1024 });
                frames += 1;
            }
            assert!(buf.len() <= 1026);
        }
        assert_eq!(frames, 1);
        buf.extend_from_slice(b"\nrandom?\n");
        assert_eq!(
            c.decode(&mut buf).unwrap(),
            Some(line("random?", Ending::Lf))
        );
    }

    #[test]
    fn encoder_uses_dialect_ending() {
        let mut c = LineCodec::new(8, LineEnding::Crlf);
        let mut dst = BytesMut::new();
        c.encode("OK", &mut dst).unwrap();
        assert_eq!(&dst[..], b"OK\r\n");
    }
}

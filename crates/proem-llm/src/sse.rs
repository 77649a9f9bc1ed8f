//! The upstream's event stream, cut into frames where it lies: a frame's `event` and `data` are
//! borrowed from the buffered body, so a relayed token costs no allocation here. (A general SSE
//! crate builds owned strings for every field of every frame; at a thousand streams that was a
//! few percent of the server's CPU.)
//!
//! What is read follows the WHATWG "event stream interpretation": lines end at LF, CRLF or CR; a
//! blank line ends a frame; `event` names it (`message` when absent); `data` lines are joined
//! with LF; a single space after the colon is dropped; comments, `id`, `retry` and unknown
//! fields are ignored; a frame without data is not dispatched, nor is an unfinished one at the
//! end of the body; a leading byte-order mark is skipped.

use std::borrow::Cow;

use bytes::{Buf, BytesMut};

/// The most a single frame may buffer before it is refused: far above any frame a provider
/// sends (a Responses-API `response.completed` carries the whole output, and a turn's output
/// is capped at 2 MB), so only a body that never ends its frame gets here.
pub(crate) const FRAME_CAP_BYTES: usize = 16 * 1024 * 1024;

/// One frame, borrowed from the parser's buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct FrameRef<'a> {
    pub event: &'a str,
    /// Borrowed for a frame of one `data` line (every provider's case); owned when several
    /// lines were joined.
    pub data: Cow<'a, str>,
}

/// Why the stream cannot be read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SseError {
    Utf8,
    TooLarge,
}

/// Body bytes in, frames out.
#[derive(Default)]
pub(crate) struct Parser {
    buf: BytesMut,
    /// Bytes of `buf` already consumed by the frames handed out; dropped on the next push.
    consumed: usize,
    /// Whether the start of the stream (and a possible byte-order mark) is behind us.
    started: bool,
}

impl Parser {
    /// Appends a body chunk.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), SseError> {
        self.buf.advance(self.consumed);
        self.consumed = 0;
        self.buf.extend_from_slice(chunk);
        if !self.started && self.buf.len() >= 3 {
            self.started = true;
            if self.buf.starts_with(b"\xEF\xBB\xBF") {
                self.buf.advance(3);
            }
        }
        if self.buf.len() > FRAME_CAP_BYTES {
            return Err(SseError::TooLarge);
        }
        Ok(())
    }

    /// The next complete frame in the buffer, if there is one.
    pub fn next_frame(&mut self) -> Result<Option<FrameRef<'_>>, SseError> {
        loop {
            let rest = &self.buf[self.consumed..];
            let Some((frame, used)) = scan(rest) else {
                return Ok(None);
            };
            let start = self.consumed;
            self.consumed += used;
            if frame.data_lines == 0 {
                continue;
            }
            return decode(&self.buf[start..start + used], &frame).map(Some);
        }
    }
}

/// Where a frame's fields lie within it (offsets from the frame's start).
#[derive(Default)]
struct Layout {
    event: Option<(usize, usize)>,
    /// The first `data` line's value, and how many there were.
    data: (usize, usize),
    data_lines: usize,
}

/// Finds the first complete frame at the start of `bytes`: its layout and its length including
/// the blank line. `None` when the blank line has not arrived yet.
fn scan(bytes: &[u8]) -> Option<(Layout, usize)> {
    let mut layout = Layout::default();
    let mut at = 0;
    loop {
        let (line, next) = line_at(bytes, at)?;
        if line.0 == line.1 {
            return Some((layout, next));
        }
        let text = &bytes[line.0..line.1];
        let (name, value) = match memchr::memchr(b':', text) {
            Some(0) => {
                at = next;
                continue;
            }
            Some(colon) => {
                let skip = usize::from(text.get(colon + 1) == Some(&b' '));
                (&text[..colon], (line.0 + colon + 1 + skip, line.1))
            }
            None => (text, (line.1, line.1)),
        };
        match name {
            b"event" => layout.event = Some(value),
            b"data" => {
                if layout.data_lines == 0 {
                    layout.data = value;
                }
                layout.data_lines += 1;
            }
            _ => {}
        }
        at = next;
    }
}

/// The line starting at `at`: its content's range and where the next line starts. `None` when
/// its end has not arrived (a CR at the very end may yet be followed by an LF).
fn line_at(bytes: &[u8], at: usize) -> Option<((usize, usize), usize)> {
    let rest = &bytes[at..];
    let end = memchr::memchr2(b'\n', b'\r', rest)?;
    let next = match rest[end] {
        b'\r' => match rest.get(end + 1) {
            Some(b'\n') => end + 2,
            Some(_) => end + 1,
            None => return None,
        },
        _ => end + 1,
    };
    Some(((at, at + end), at + next))
}

fn decode<'a>(frame: &'a [u8], layout: &Layout) -> Result<FrameRef<'a>, SseError> {
    let text = |(from, to): (usize, usize)| {
        std::str::from_utf8(&frame[from..to]).map_err(|_| SseError::Utf8)
    };
    let event = match layout.event {
        Some(range) if range.0 < range.1 => text(range)?,
        _ => "message",
    };
    let data = if layout.data_lines == 1 {
        Cow::Borrowed(text(layout.data)?)
    } else {
        Cow::Owned(joined_data(frame)?)
    };
    Ok(FrameRef { event, data })
}

/// Every `data` line of a frame, joined with LF: the rare frame of several lines.
fn joined_data(frame: &[u8]) -> Result<String, SseError> {
    let mut values: Vec<&[u8]> = Vec::new();
    let mut at = 0;
    while let Some(((from, to), next)) = line_at(frame, at) {
        let line = &frame[from..to];
        if line == b"data" {
            values.push(b"");
        } else if let Some(value) = line.strip_prefix(b"data:") {
            values.push(value.strip_prefix(b" ").unwrap_or(value));
        }
        at = next;
    }
    String::from_utf8(values.join(&b'\n')).map_err(|_| SseError::Utf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every frame of `chunks` pushed in order, as (event, data) pairs.
    fn frames(chunks: &[&[u8]]) -> Vec<(String, String)> {
        let mut parser = Parser::default();
        let mut out = Vec::new();
        for chunk in chunks {
            parser.push(chunk).unwrap();
            while let Some(frame) = parser.next_frame().unwrap() {
                out.push((frame.event.to_owned(), frame.data.into_owned()));
            }
        }
        out
    }

    fn pair(event: &str, data: &str) -> (String, String) {
        (event.to_owned(), data.to_owned())
    }

    #[test]
    fn a_frame_of_one_data_line_is_borrowed_from_the_buffer() {
        let mut parser = Parser::default();
        parser
            .push(b"event: response.output_text.delta\ndata: {\"delta\":\"Hi\"}\n\n")
            .unwrap();
        let frame = parser.next_frame().unwrap().unwrap();
        assert_eq!(frame.event, "response.output_text.delta");
        assert!(matches!(frame.data, Cow::Borrowed("{\"delta\":\"Hi\"}")));
        assert_eq!(parser.next_frame().unwrap(), None);
    }

    #[test]
    fn a_frame_without_an_event_line_is_a_message() {
        assert_eq!(frames(&[b"data: [DONE]\n\n"]), [pair("message", "[DONE]")]);
    }

    #[test]
    fn frames_split_anywhere_across_chunks_come_out_whole() {
        let body = b"event: a\ndata: 1\n\nevent: b\r\ndata: 2\r\n\r\ndata: 3\r\rdata:4\n\n";
        let whole = frames(&[body]);
        assert_eq!(
            whole,
            [
                pair("a", "1"),
                pair("b", "2"),
                pair("message", "3"),
                pair("message", "4")
            ]
        );
        for cut in 1..body.len() {
            assert_eq!(frames(&[&body[..cut], &body[cut..]]), whole, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = body.chunks(1).collect();
        assert_eq!(frames(&bytes), whole);
    }

    #[test]
    fn data_lines_are_joined_with_line_feeds() {
        assert_eq!(
            frames(&[b"data: one\ndata\ndata:  three\n\n"]),
            [pair("message", "one\n\n three")]
        );
    }

    #[test]
    fn comments_other_fields_and_frames_without_data_are_skipped() {
        let body =
            b": keep-alive\n\nid: 7\nretry: 10\nevent: ping\n\nevent: x\nfoo: bar\ndata: y\n\n";
        assert_eq!(frames(&[body]), [pair("x", "y")]);
    }

    #[test]
    fn an_unfinished_frame_is_held_until_its_blank_line() {
        let mut parser = Parser::default();
        parser.push(b"data: partial").unwrap();
        assert_eq!(parser.next_frame().unwrap(), None);
        parser.push(b"\n").unwrap();
        assert_eq!(parser.next_frame().unwrap(), None);
        parser.push(b"\n").unwrap();
        assert_eq!(parser.next_frame().unwrap().unwrap().data, "partial");
    }

    #[test]
    fn a_leading_byte_order_mark_is_skipped() {
        assert_eq!(
            frames(&[b"\xEF\xBB", b"\xBFdata: x\n\n"]),
            [pair("message", "x")]
        );
    }

    #[test]
    fn invalid_utf8_in_a_frame_is_an_error() {
        let mut parser = Parser::default();
        parser.push(b"data: \xFF\xFE\n\n").unwrap();
        assert_eq!(parser.next_frame(), Err(SseError::Utf8));
    }

    #[test]
    fn a_frame_past_the_cap_is_refused() {
        let mut parser = Parser::default();
        parser.push(b"data: ").unwrap();
        let chunk = vec![b'x'; 1024 * 1024];
        let mut result = Ok(());
        for _ in 0..=FRAME_CAP_BYTES / chunk.len() {
            result = parser.push(&chunk);
        }
        assert_eq!(result, Err(SseError::TooLarge));
    }
}

//! The common Chat Completions chunk, read without serde: a content delta such as
//! `{"id":"…","object":"chat.completion.chunk","created":…,"model":"…","choices":[{"index":0,
//! "delta":{"content":"…"},"finish_reason":null}]}`. serde_json spent about 4,000 instructions
//! on each such 150-byte chunk, a fifth of Proem's work per relayed token.
//!
//! It only answers when its answer is the one serde's decode would give: any chunk it is not
//! sure of (an escape, a control character, usage, an error, a duplicate field, a value of an
//! unexpected type, deep nesting, anything malformed) is `None`, and the decoder reads it with
//! serde as before. A differential test in `openai_chat.rs` holds the two to the same answers.

use std::borrow::Cow;

/// What the decoder needs of a chunk (its usage aside, which only serde reads).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ChunkView<'a> {
    pub id: Option<Cow<'a, str>>,
    /// The first choice's `delta.content`.
    pub content: Option<Cow<'a, str>>,
    /// The first choice's delta carries reasoning text (`reasoning_content` or `reasoning`).
    pub reasoning: bool,
    /// The first choice has a `finish_reason`.
    pub finished: bool,
}

/// Nesting deeper than this is left to serde (whose own limit is 128).
const MAX_DEPTH: usize = 32;

/// The chunk read by hand, or `None` when serde should read it.
pub(crate) fn scan(data: &str) -> Option<ChunkView<'_>> {
    let bytes = data.as_bytes();
    let mut cursor = Cursor {
        text: data,
        bytes,
        at: 0,
    };
    let mut view = ChunkView::default();
    let mut seen = Seen::default();
    cursor.object(|cursor, key| {
        match key {
            "id" => {
                seen.first(Field::Id)?;
                view.id = cursor.optional_string()?.map(Cow::Borrowed);
            }
            "choices" => {
                seen.first(Field::Choices)?;
                if !cursor.null() {
                    choices(cursor, &mut view)?;
                }
            }
            // Usage and errors are rare and read by serde.
            "usage" | "error" => {
                if !cursor.null() {
                    return None;
                }
                seen.first(if key == "usage" {
                    Field::Usage
                } else {
                    Field::Error
                })?;
            }
            _ => cursor.skip_value(0)?,
        }
        Some(())
    })?;
    cursor.whitespace();
    (cursor.at == bytes.len()).then_some(view)
}

/// `choices`: the first element read, the others skipped.
fn choices<'a>(cursor: &mut Cursor<'a>, view: &mut ChunkView<'a>) -> Option<()> {
    let mut first = true;
    cursor.array(|cursor| {
        if !first {
            return cursor.skip_value(1);
        }
        first = false;
        let mut seen = Seen::default();
        cursor.object(|cursor, key| {
            match key {
                "delta" => {
                    seen.first(Field::Delta)?;
                    if !cursor.null() {
                        delta(cursor, view)?;
                    }
                }
                "finish_reason" => {
                    seen.first(Field::FinishReason)?;
                    view.finished = !cursor.null();
                    if view.finished {
                        cursor.skip_value(2)?;
                    }
                }
                _ => cursor.skip_value(2)?,
            }
            Some(())
        })
    })
}

/// The first choice's `delta`.
fn delta<'a>(cursor: &mut Cursor<'a>, view: &mut ChunkView<'a>) -> Option<()> {
    let mut seen = Seen::default();
    cursor.object(|cursor, key| {
        match key {
            "content" => {
                seen.first(Field::Content)?;
                view.content = cursor.optional_string()?.map(Cow::Borrowed);
            }
            "reasoning_content" | "reasoning" => {
                seen.first(if key == "reasoning" {
                    Field::Reasoning
                } else {
                    Field::ReasoningContent
                })?;
                if !cursor.null() {
                    view.reasoning = true;
                    cursor.skip_value(3)?;
                }
            }
            _ => cursor.skip_value(3)?,
        }
        Some(())
    })
}

/// The fields serde's decode reads; it refuses a chunk that repeats one.
#[derive(Clone, Copy)]
enum Field {
    Id,
    Choices,
    Usage,
    Error,
    Delta,
    FinishReason,
    Content,
    ReasoningContent,
    Reasoning,
}

#[derive(Default)]
struct Seen(u16);

impl Seen {
    /// `None` (leave it to serde) when the field was seen before in the same object.
    fn first(&mut self, field: Field) -> Option<()> {
        let bit = 1 << field as u16;
        if self.0 & bit != 0 {
            return None;
        }
        self.0 |= bit;
        Some(())
    }
}

/// A position in a chunk. Outside strings only spaces are whitespace here: a chunk on one SSE
/// `data` line has no line breaks, and one with tabs or breaks between tokens goes to serde.
struct Cursor<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn whitespace(&mut self) {
        while self.bytes.get(self.at) == Some(&b' ') {
            self.at += 1;
        }
    }

    /// Consumes `byte` (after whitespace) if it is next.
    fn eat(&mut self, byte: u8) -> bool {
        self.whitespace();
        if self.bytes.get(self.at) == Some(&byte) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    /// Consumes `null` if it is next.
    fn null(&mut self) -> bool {
        self.whitespace();
        if self.bytes[self.at..].starts_with(b"null") {
            self.at += 4;
            true
        } else {
            false
        }
    }

    /// A string (which holds no escapes here) without its quotes.
    fn string(&mut self) -> Option<&'a str> {
        if !self.eat(b'"') {
            return None;
        }
        let start = self.at;
        // Keys and tokens are short: a plain loop beats a vectorized search's set-up. An escape
        // or a raw control character (not allowed in a JSON string) is serde's to judge.
        let len = self.bytes[start..]
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        if self.bytes[start + len] != b'"' {
            return None;
        }
        self.at = start + len + 1;
        // Cut at ASCII quotes, so on character boundaries: no UTF-8 check needed.
        self.text.get(start..start + len)
    }

    fn optional_string(&mut self) -> Option<Option<&'a str>> {
        if self.null() {
            return Some(None);
        }
        self.string().map(Some)
    }

    /// An object, handing each key to `field`, which must consume the value.
    fn object(&mut self, mut field: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        if !self.eat(b'{') {
            return None;
        }
        if self.eat(b'}') {
            return Some(());
        }
        loop {
            let key = self.string()?;
            if !self.eat(b':') {
                return None;
            }
            field(self, key)?;
            if self.eat(b',') {
                continue;
            }
            return self.eat(b'}').then_some(());
        }
    }

    /// An array, `element` consuming each element.
    fn array(&mut self, mut element: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        if !self.eat(b'[') {
            return None;
        }
        if self.eat(b']') {
            return Some(());
        }
        loop {
            element(self)?;
            if self.eat(b',') {
                continue;
            }
            return self.eat(b']').then_some(());
        }
    }

    /// Any JSON value, checked as strictly as serde would, and not kept.
    fn skip_value(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.whitespace();
        match *self.bytes.get(self.at)? {
            b'"' => self.string().map(drop),
            b'{' => self.object(|cursor, _| cursor.skip_value(depth + 1)),
            b'[' => self.array(|cursor| cursor.skip_value(depth + 1)),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number(),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.bytes[self.at..]
            .starts_with(word)
            .then(|| self.at += word.len())
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> Option<()> {
        let digits = |cursor: &mut Self| {
            let start = cursor.at;
            while cursor.bytes.get(cursor.at).is_some_and(u8::is_ascii_digit) {
                cursor.at += 1;
            }
            cursor.at > start
        };
        if self.bytes.get(self.at) == Some(&b'-') {
            self.at += 1;
        }
        match self.bytes.get(self.at) {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => {
                digits(self);
            }
            _ => return None,
        }
        if self.bytes.get(self.at) == Some(&b'.') {
            self.at += 1;
            if !digits(self) {
                return None;
            }
        }
        if matches!(self.bytes.get(self.at), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.bytes.get(self.at), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if !digits(self) {
                return None;
            }
        }
        Some(())
    }
}

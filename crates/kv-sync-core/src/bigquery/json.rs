//! A pull reader over JSON text, for the one document that is too big to
//! parse generically: a result page, which is almost all rows.
//!
//! Driving serde's visitor machinery for every `{"v":"…"}` cell cost more
//! than everything else done with a row. This reader walks the bytes the
//! caller expects, hands out string contents borrowed from the text when
//! they have no escapes, and falls back to serde_json for the rare parts
//! (escaped strings, values it is told to skip or to parse as a type), so
//! there is only one JSON grammar to trust.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, IgnoredAny};

/// Text that is not the JSON the caller expected, with where it went wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub offset: usize,
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.message, self.offset)
    }
}

impl std::error::Error for SyntaxError {}

pub(crate) struct Reader<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Reader { text, pos: 0 }
    }

    #[inline]
    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    pub(crate) fn error(&self, message: impl Into<String>) -> SyntaxError {
        SyntaxError {
            offset: self.pos,
            message: message.into(),
        }
    }

    #[inline]
    pub(crate) fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.bytes().get(self.pos) {
            self.pos += 1;
        }
    }

    /// The next significant byte, not consumed.
    #[inline]
    pub(crate) fn peek(&mut self) -> Option<u8> {
        self.skip_whitespace();
        self.bytes().get(self.pos).copied()
    }

    /// Consumes `byte` if it is next.
    #[inline]
    pub(crate) fn eat(&mut self, byte: u8) -> bool {
        let next = self.peek() == Some(byte);
        self.pos += usize::from(next);
        next
    }

    #[inline]
    pub(crate) fn expect(&mut self, byte: u8) -> Result<(), SyntaxError> {
        if self.eat(byte) {
            Ok(())
        } else {
            Err(self.error(format!("expected `{}`", byte as char)))
        }
    }

    /// Consumes `null` if it is next.
    #[inline]
    pub(crate) fn eat_null(&mut self) -> bool {
        self.skip_whitespace();
        self.eat_literal(b"null")
    }

    /// Where the reader stands, as a byte offset into the text.
    pub(crate) fn offset(&self) -> usize {
        self.pos
    }

    /// The text from `start` (an earlier `offset`) to where the reader stands.
    pub(crate) fn text_since(&self, start: usize) -> &'a str {
        &self.text[start..self.pos]
    }

    /// Nothing but whitespace is left.
    pub(crate) fn end(&mut self) -> Result<(), SyntaxError> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.error("trailing characters")),
        }
    }

    /// Reads a string's contents: borrowed from the text unless it has
    /// escapes to undo. A borrowed string therefore holds no quote,
    /// backslash or control character.
    #[inline]
    pub(crate) fn string(&mut self) -> Result<Cow<'a, str>, SyntaxError> {
        self.expect(b'"')?;
        let start = self.pos;
        // Cells are short: a plain loop beats a vectorised search here.
        let rest = &self.bytes()[start..];
        match rest
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        {
            Some(len) if rest[len] == b'"' => {
                self.pos = start + len + 1;
                Ok(Cow::Borrowed(&self.text[start..start + len]))
            }
            Some(len) if rest[len] == b'\\' => {
                self.pos = start - 1;
                self.parse::<String>().map(Cow::Owned)
            }
            Some(len) => {
                self.pos = start + len;
                Err(self.error("control character in a string"))
            }
            None => Err(self.error("unterminated string")),
        }
    }

    /// Consumes `literal` if the text continues with exactly it: a fast
    /// path for fixed shapes such as a cell's `{"v":`.
    #[inline]
    pub(crate) fn eat_literal(&mut self, literal: &[u8]) -> bool {
        let next = self.bytes()[self.pos..].starts_with(literal);
        if next {
            self.pos += literal.len();
        }
        next
    }

    /// Reads `"name":` of an object member.
    #[inline]
    pub(crate) fn member_name(&mut self) -> Result<Cow<'a, str>, SyntaxError> {
        let name = self.string()?;
        self.expect(b':')?;
        Ok(name)
    }

    /// After a member or element: `true` if another follows (a `,` was
    /// read), `false` if `close` ended the container.
    #[inline]
    pub(crate) fn next_in(&mut self, close: u8) -> Result<bool, SyntaxError> {
        if self.eat(b',') {
            return Ok(true);
        }
        self.expect(close)?;
        Ok(false)
    }

    /// Reads `[…]`, calling `element` with the reader at each element.
    #[inline]
    pub(crate) fn list(
        &mut self,
        mut element: impl FnMut(&mut Self) -> Result<(), SyntaxError>,
    ) -> Result<(), SyntaxError> {
        self.expect(b'[')?;
        if self.eat(b']') {
            return Ok(());
        }
        loop {
            element(self)?;
            if !self.next_in(b']')? {
                return Ok(());
            }
        }
    }

    /// Reads `{…}`, calling `member` with each member's name and the reader
    /// at its value, which `member` must read or `skip`.
    #[inline]
    pub(crate) fn object(
        &mut self,
        mut member: impl FnMut(&mut Self, &str) -> Result<(), SyntaxError>,
    ) -> Result<(), SyntaxError> {
        self.expect(b'{')?;
        if self.eat(b'}') {
            return Ok(());
        }
        loop {
            let name = self.member_name()?;
            member(self, &name)?;
            if !self.next_in(b'}')? {
                return Ok(());
            }
        }
    }

    /// Reads the next value as `T` with serde_json, and moves past it.
    pub(crate) fn parse<T: Deserialize<'a>>(&mut self) -> Result<T, SyntaxError> {
        self.skip_whitespace();
        let mut stream = serde_json::Deserializer::from_str(&self.text[self.pos..]).into_iter();
        match stream.next() {
            Some(Ok(value)) => {
                self.pos += stream.byte_offset();
                Ok(value)
            }
            Some(Err(e)) => Err(SyntaxError {
                offset: self.pos + stream.byte_offset(),
                message: e.to_string(),
            }),
            None => Err(self.error("expected a value")),
        }
    }

    /// Moves past the next value, whatever it is, and returns its text.
    pub(crate) fn skip(&mut self) -> Result<&'a str, SyntaxError> {
        self.skip_whitespace();
        let start = self.pos;
        self.parse::<IgnoredAny>()?;
        Ok(&self.text[start..self.pos])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_borrowed_unless_escaped() {
        let mut r = Reader::new(r#" "plain" , "a\"b\u00e9" "#);
        assert!(matches!(r.string().unwrap(), Cow::Borrowed("plain")));
        assert!(r.next_in(b']').unwrap());
        assert_eq!(r.string().unwrap(), "a\"bé");
        r.end().unwrap();
        assert!(Reader::new("\"tab\there\"").string().is_err());
        assert!(Reader::new("\"open").string().is_err());
    }

    #[test]
    fn values_can_be_skipped_or_parsed_in_place() {
        let mut r = Reader::new(r#"{"a":[1,{"b":null}],"n":-2.5e3}"#);
        r.expect(b'{').unwrap();
        assert_eq!(r.member_name().unwrap(), "a");
        assert_eq!(r.skip().unwrap(), r#"[1,{"b":null}]"#);
        assert!(r.next_in(b'}').unwrap());
        assert_eq!(r.member_name().unwrap(), "n");
        assert_eq!(r.parse::<f64>().unwrap(), -2500.0);
        assert!(!r.next_in(b'}').unwrap());
        r.end().unwrap();
        let e = Reader::new("[1 2]").skip().unwrap_err();
        assert!(e.to_string().contains("expected"), "{e}");
    }
}

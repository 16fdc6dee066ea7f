//! Short quotes of text that came from elsewhere (warehouse cells, error
//! bodies, KV's messages). Quarantine reasons and run errors end up in
//! `/status`, logs and alerts: they may name a problem, never carry a
//! person's data in bulk, so every quote is cut to a few hundred bytes.

/// How much of a foreign message a run error or reason quotes.
pub const QUOTE_BYTES: usize = 300;

/// `text` cut to at most `max_bytes` (on a character boundary), with `…`
/// when something was cut.
pub fn excerpt(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text.to_string();
    }
    format!("{}…", &text[..text.floor_char_boundary(max_bytes)])
}

/// The first line of an error message from JavaScript, quoted: the stack
/// trace after it names files of the build and helps nobody reading
/// `/status`.
pub fn first_line(message: &str) -> String {
    excerpt(message.lines().next().unwrap_or("").trim(), QUOTE_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_are_short_and_cut_on_character_boundaries() {
        assert_eq!(excerpt("short", 10), "short");
        assert_eq!(excerpt("héllo", 2), "h…");
        assert_eq!(
            excerpt(&"x".repeat(1_000), QUOTE_BYTES).len(),
            QUOTE_BYTES + '…'.len_utf8()
        );
        let js = "TypeError: \".\" is not allowed as a key name\n    at KvNamespace.put (file:///build/index.js:1:2)";
        assert_eq!(
            first_line(js),
            "TypeError: \".\" is not allowed as a key name"
        );
    }
}

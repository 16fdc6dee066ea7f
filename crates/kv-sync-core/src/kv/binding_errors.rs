//! What an error thrown by the KV binding means for the row.
//!
//! KV reports errors as text (a JavaScript error, with a stack trace after
//! its first line that names files of the build: only the first line is
//! kept). A key or value the binding refuses (`TypeError: "." is not allowed
//! as a key name`, a key too long, a value too large) is refused for good:
//! that row is quarantined with KV's words and the rows around it go on.
//! 429 and "too many" mean slow down; anything else is treated as
//! transient, so the batch is retried, never dropped.

use crate::engine::error::SinkError;
use crate::engine::excerpt::first_line;

const REFUSALS: &[&str] = &[
    "not allowed",
    "invalid",
    "400",
    "too large",
    "too long",
    "exceeds",
    "typeerror",
];

pub(crate) fn classify(message: &str) -> SinkError {
    let message = first_line(message);
    let lower = message.to_lowercase();
    if lower.contains("429") || lower.contains("too many") {
        SinkError::RateLimited(message)
    } else if REFUSALS.iter().any(|r| lower.contains(r)) {
        SinkError::Rejected(message)
    } else {
        SinkError::Unavailable(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_keys_are_permanent_and_quoted_without_the_stack() {
        let thrown = "TypeError: \".\" is not allowed as a key name\n    at KvNamespace.put (file:///work/build/index.js:12:34)";
        assert_eq!(
            classify(thrown),
            SinkError::Rejected("TypeError: \".\" is not allowed as a key name".into())
        );
        assert!(matches!(
            classify(
                "KV PUT failed: 414 UTF-8 encoded length of 600 exceeds key length limit of 512"
            ),
            SinkError::Rejected(_)
        ));
        assert!(matches!(
            classify("KV PUT failed: 429 Too Many Requests"),
            SinkError::RateLimited(_)
        ));
        assert!(matches!(
            classify("Network connection lost."),
            SinkError::Unavailable(_)
        ));
    }
}

//! Pub/Sub's wrapped push format: `{"message": {"data": "<base64>",
//! "attributes": {…}, "messageId": "…", "publishTime": "…"},
//! "subscription": "…"}`. Only `message.data` is needed; the message id
//! names the delivery in the logs.

use base64::Engine as _;
use serde::Deserialize;

/// The most a push body may be: Pub/Sub's own limit for one message.
pub const MAX_PUSH_BYTES: usize = 10 * 1024 * 1024;

/// One delivery, unwrapped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushMessage {
    /// The message's payload: one row of the source query as JSON.
    pub data: Vec<u8>,
    pub message_id: Option<String>,
}

/// Why a body is not Pub/Sub's envelope (answered `400`: Pub/Sub retries
/// it until it dead-letters, and the subscription's configuration is what
/// must change).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvelopeError(pub String);

impl std::fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Deserialize)]
struct Envelope {
    message: Option<Message>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Message {
    data: Option<String>,
    message_id: Option<String>,
}

impl PushMessage {
    /// Unwraps a push body.
    pub fn read(body: &str) -> Result<Self, EnvelopeError> {
        let refuse = |why: &str| {
            EnvelopeError(format!(
                "not a Pub/Sub push envelope: {why}; push subscriptions must use the wrapped format \
                 (not --push-no-wrapper)"
            ))
        };
        let envelope: Envelope = serde_json::from_str(body)
            .map_err(|e| refuse(&format!("the body is not JSON of that shape ({e})")))?;
        let message = envelope
            .message
            .ok_or_else(|| refuse("it has no `message`"))?;
        let data = message
            .data
            .ok_or_else(|| refuse("its message has no `data`"))?;
        let data = base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .map_err(|e| refuse(&format!("`message.data` is not base64 ({e})")))?;
        Ok(PushMessage {
            data,
            message_id: message.message_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_is_unwrapped_and_a_broken_envelope_says_what_is_missing() {
        let body = r#"{"message":{"data":"eyJrZXkiOiJrMSJ9","messageId":"42","publishTime":"2026-03-06T12:34:56Z","attributes":{}},"subscription":"projects/p/subscriptions/s"}"#;
        let message = PushMessage::read(body).unwrap();
        assert_eq!(message.data, br#"{"key":"k1"}"#);
        assert_eq!(message.message_id.as_deref(), Some("42"));
        for (body, says) in [
            ("not json", "not JSON"),
            (r#"{"subscription":"s"}"#, "no `message`"),
            (r#"{"message":{"messageId":"1"}}"#, "no `data`"),
            (r#"{"message":{"data":"%%%"}}"#, "not base64"),
            (r#"{"message":{"data":7}}"#, "not JSON of that shape"),
        ] {
            let e = PushMessage::read(body).unwrap_err().to_string();
            assert!(e.contains(says), "{body}: {e}");
        }
    }
}

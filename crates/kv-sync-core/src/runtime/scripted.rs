//! A runtime for host tests: a paused clock that only sleeping moves,
//! scripted HTTP answers, and a record of every request and log line.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use super::{HttpRequest, HttpResponse, Method, RsaKey, Runtime, TransportError};
use crate::engine::time::Micros;

/// A request as the test runtime received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    pub at: Micros,
}

/// Answers a request from what it carries, when no answer is queued.
pub type Responder = Box<dyn Fn(&Sent) -> HttpResponse>;

#[derive(Default)]
pub struct ScriptedRuntime {
    /// Shared, so a service double can spend time answering.
    pub clock: Rc<Cell<Micros>>,
    /// How far the clock moves each time it is read, so invocation budgets
    /// run out as they would in real time (0: it moves only by sleeping).
    pub tick: Cell<Micros>,
    pub answers: RefCell<VecDeque<Result<HttpResponse, TransportError>>>,
    pub responder: RefCell<Option<Responder>>,
    pub sent: RefCell<Vec<Sent>>,
    pub logs: RefCell<Vec<serde_json::Value>>,
    pub slept: RefCell<Vec<Micros>>,
}

impl ScriptedRuntime {
    /// Queues an answer with this status and body.
    pub fn answer(&self, status: u16, body: &str) {
        self.answer_with(status, None, body);
    }

    pub fn answer_with(&self, status: u16, retry_after: Option<&str>, body: &str) {
        self.answers.borrow_mut().push_back(Ok(HttpResponse {
            status,
            retry_after: retry_after.map(str::to_owned),
            body: body.to_owned(),
            ..HttpResponse::default()
        }));
    }

    /// Queues a request that gets no answer at all.
    pub fn drop_connection(&self) {
        self.answers
            .borrow_mut()
            .push_back(Err(TransportError("connection refused".into())));
    }
}

impl Runtime for ScriptedRuntime {
    fn now(&self) -> Micros {
        let now = self.clock.get();
        self.clock.set(now + self.tick.get());
        now
    }

    fn log<T: serde::Serialize>(&self, event: &T) {
        let line = serde_json::to_value(event).expect("log lines are JSON");
        self.logs.borrow_mut().push(line);
    }

    async fn sleep(&self, duration: Micros) {
        self.slept.borrow_mut().push(duration);
        self.clock.set(self.clock.get() + duration);
    }

    async fn send(&self, request: HttpRequest<'_>) -> Result<HttpResponse, TransportError> {
        let sent = Sent {
            method: request.method,
            url: request.url.to_owned(),
            headers: request
                .headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: request.body.map(str::to_owned),
            at: self.clock.get(),
        };
        let queued = self.answers.borrow_mut().pop_front();
        let answer = queued.unwrap_or_else(|| match self.responder.borrow().as_ref() {
            Some(respond) => Ok(respond(&sent)),
            None => panic!(
                "no answer scripted for {:?} {}",
                request.method, request.url
            ),
        });
        self.sent.borrow_mut().push(sent);
        answer
    }

    type Held = String;

    fn hold(&self, text: &str) -> String {
        text.to_owned()
    }

    fn hold_as_json(&self, text: &str) -> String {
        serde_json::to_string(text).expect("a string always serialises")
    }

    fn join(&self, open: &str, pieces: &[&String], separator: &str, close: &str) -> String {
        let inner: Vec<&str> = pieces.iter().map(|p| p.as_str()).collect();
        format!("{open}{}{close}", inner.join(separator))
    }

    async fn send_held(
        &self,
        request: HttpRequest<'_>,
        body: &String,
    ) -> Result<HttpResponse, TransportError> {
        self.send(HttpRequest {
            body: Some(body),
            ..request
        })
        .await
    }

    fn random(&self) -> f64 {
        0.5
    }

    /// Not RSA: the last 8 bytes of `data`, reversed (tests sign tokens
    /// for `verify_rs256` the same way).
    async fn sign_rs256(&self, _pkcs8_der: &[u8], data: &[u8]) -> Result<Vec<u8>, String> {
        Ok(data.iter().rev().take(8).copied().collect())
    }

    /// Accepts what `sign_rs256` made, under any key but one whose
    /// exponent is not base64url.
    async fn verify_rs256(
        &self,
        key: &RsaKey,
        data: &[u8],
        signature: &[u8],
    ) -> Result<bool, String> {
        if key.e.contains(['+', '/', '=']) {
            return Err(format!("unusable key exponent {:?}", key.e));
        }
        Ok(self.sign_rs256(&[], data).await? == signature)
    }
}

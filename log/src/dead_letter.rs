//! Dead letters: a record a consumer refused (it does not decode, the views
//! refuse it, a vendor never took it), copied to a dead-letter topic with the
//! reason in headers. Every consumer writes them through
//! [`crate::EventAppender::dead_letter`]; the header names each one uses are
//! documented with it (docs/commands.md, docs/faults.md, docs/push.md).

use rdkafka::message::{BorrowedHeaders, Header, Headers, OwnedHeaders};
use rdkafka::producer::FutureRecord;

/// Header naming why the record was refused, in words (every dead-letter topic).
pub const REASON: &str = "missive.dlq.reason";

/// One record for a dead-letter topic.
pub struct DeadLetter<'a> {
    pub topic: &'a str,
    pub key: Option<&'a [u8]>,
    pub payload: &'a [u8],
    /// The refused record's own headers, kept ahead of ours.
    pub kept: Option<&'a BorrowedHeaders>,
    /// Why and where from: `(name, value)`.
    pub headers: Vec<(&'a str, &'a str)>,
}

impl<'a> DeadLetter<'a> {
    /// A letter for `topic` holding `payload`, with no headers yet.
    pub fn new(topic: &'a str, payload: &'a [u8]) -> Self {
        Self {
            topic,
            key: None,
            payload,
            kept: None,
            headers: Vec::new(),
        }
    }

    pub fn key(mut self, key: Option<&'a [u8]>) -> Self {
        self.key = key;
        self
    }

    pub fn keep(mut self, original: Option<&'a BorrowedHeaders>) -> Self {
        self.kept = original;
        self
    }

    pub fn header(mut self, name: &'a str, value: &'a str) -> Self {
        self.headers.push((name, value));
        self
    }

    pub(crate) fn record(&self) -> FutureRecord<'a, [u8], [u8]> {
        let mut hs = OwnedHeaders::new();
        if let Some(original) = self.kept {
            for h in original.iter() {
                hs = hs.insert(Header {
                    key: h.key,
                    value: h.value,
                });
            }
        }
        for (key, value) in &self.headers {
            hs = hs.insert(Header {
                key,
                value: Some(value.as_bytes()),
            });
        }
        let mut record = FutureRecord::to(self.topic)
            .payload(self.payload)
            .headers(hs);
        if let Some(key) = self.key {
            record = record.key(key);
        }
        record
    }
}

//! `C2C.CallbackBeforeSendMsg`: asked on the send path, before the message
//! is appended. The app server allows (`ErrorCode` 0, optionally with a new
//! `MsgBody` / `CloudCustomData`), refuses (1, or its own code in
//! 120001..=130000), or silently drops (2). No valid answer within the
//! deadline: `callbacks.before_send_fail_open` decides.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use missive_core::msgbody::{self, Sender};
use missive_core::Config;
use missive_schemas::Element;

use crate::request::{Answer, CallError, CallbackClient};

pub const COMMAND: &str = "C2C.CallbackBeforeSendMsg";

/// The message as the app server is shown it.
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    pub from: &'a str,
    pub to: &'a str,
    pub msg_seq: u32,
    pub msg_random: u32,
    /// Unix seconds.
    pub msg_time: i64,
    pub msg_key: &'a str,
    pub body: &'a [Element],
    pub cloud_custom_data: &'a str,
    /// Tencent's `OptPlatform`: `RESTAPI` for the REST API and the commands topic.
    pub platform: &'a str,
    /// Tencent's `ClientIP`: the sender's address where missive knows it
    /// (a WebSocket session's peer), empty otherwise.
    pub client_ip: &'a str,
    /// The sender's limit on MsgBody and CloudCustomData together (bytes of
    /// JSON): a rewrite past it is no valid answer, or the app server could
    /// store what no sender may.
    pub max_body_bytes: usize,
}

/// What to do with the message.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Send as is.
    Allow,
    /// Send with the app server's body and/or CloudCustomData.
    Rewrite {
        body: Option<Vec<Element>>,
        cloud_custom_data: Option<String>,
    },
    /// Tell the sender it was sent; the recipient never gets it.
    Drop,
    /// Refuse: `code` is the app server's own (120001..=130000) or `None`
    /// for Tencent's 20006.
    Refuse { code: Option<u32>, info: String },
    /// No valid answer; let it through (fail-open). The reason is recorded.
    FailedOpen(String),
    /// No valid answer; refuse it (fail-closed).
    FailedClosed(String),
}

/// The before-send check: off unless a URL is set and the command is switched on.
#[derive(Clone)]
pub struct BeforeSend {
    client: Option<CallbackClient>,
    fail_open: bool,
}

impl BeforeSend {
    pub fn from_config(config: &Config) -> Self {
        let cb = &config.callbacks;
        let client = if cb.before_send_msg {
            CallbackClient::new(config, Duration::from_millis(cb.before_send_timeout_ms))
        } else {
            None
        };
        Self {
            client,
            fail_open: cb.before_send_fail_open,
        }
    }

    pub fn enabled(&self) -> bool {
        self.client.is_some()
    }

    /// Asks the app server (once: a retry would hold the sender past the deadline).
    pub async fn check(&self, m: &Outgoing<'_>) -> Verdict {
        let Some(client) = &self.client else {
            return Verdict::Allow;
        };
        let started = Instant::now();
        let answer = client
            .post(COMMAND, m.client_ip, m.platform, &request_body(m), None)
            .await;
        let verdict = match answer {
            Ok(a) => interpret(&a, m).unwrap_or_else(|e| self.failed(e)),
            Err(e) => self.failed(e),
        };
        let outcome = match &verdict {
            Verdict::Allow => "allow",
            Verdict::Rewrite { .. } => "rewrite",
            Verdict::Drop => "drop",
            Verdict::Refuse { .. } => "refuse",
            Verdict::FailedOpen(_) => "failed_open",
            Verdict::FailedClosed(_) => "failed_closed",
        };
        metrics::histogram!("missive_callbacks_before_send_seconds", "outcome" => outcome)
            .record(started.elapsed().as_secs_f64());
        let result = if matches!(verdict, Verdict::FailedOpen(_) | Verdict::FailedClosed(_)) {
            metrics::counter!("missive_callbacks_failed_total", "command" => COMMAND).increment(1);
            "failed"
        } else {
            "sent"
        };
        metrics::counter!("missive_callbacks_sent_total", "command" => COMMAND, "result" => result)
            .increment(1);
        verdict
    }

    fn failed(&self, e: CallError) -> Verdict {
        tracing::warn!(error = %e, fail_open = self.fail_open, "before-send callback failed");
        if self.fail_open {
            Verdict::FailedOpen(e.to_string())
        } else {
            Verdict::FailedClosed(e.to_string())
        }
    }
}

/// Tencent's request body.
pub fn request_body(m: &Outgoing<'_>) -> Value {
    json!({
        "CallbackCommand": COMMAND,
        "From_Account": m.from,
        "To_Account": m.to,
        "MsgSeq": m.msg_seq,
        "MsgRandom": m.msg_random,
        "MsgTime": m.msg_time,
        "MsgKey": m.msg_key,
        "OnlineOnlyFlag": 0,
        "MsgBody": msgbody::render(m.body),
        "CloudCustomData": m.cloud_custom_data,
    })
}

/// Reads the app server's verdict; an answer that does not follow Tencent's
/// rules (unknown code, a rewritten body that is not a valid MsgBody) is an error.
fn interpret(a: &Answer, m: &Outgoing<'_>) -> Result<Verdict, CallError> {
    match a.error_code {
        0 => {}
        1 => {
            return Ok(Verdict::Refuse {
                code: None,
                info: a.error_info.clone(),
            })
        }
        2 => return Ok(Verdict::Drop),
        c @ 120_001..=130_000 => {
            return Ok(Verdict::Refuse {
                code: Some(c as u32),
                info: a.error_info.clone(),
            })
        }
        other => {
            return Err(CallError::BadAnswer(format!(
                "ErrorCode {other} is none of 0 (allow), 1 (refuse), 2 (drop), 120001..=130000"
            )))
        }
    }
    if a.action_status != "OK" {
        return Err(CallError::BadAnswer(format!(
            "ErrorCode 0 with ActionStatus {:?}",
            a.action_status
        )));
    }
    let body = match a.json.get("MsgBody") {
        None | Some(Value::Null) => None,
        Some(v) => {
            // The app server is trusted like the administrator (it may turn a
            // message into a system notice), but its body must be valid.
            let parsed = msgbody::parse(v, Sender::Admin)
                .map_err(|e| CallError::BadAnswer(format!("MsgBody: {}", e.info)))?;
            (parsed.as_slice() != m.body).then_some(parsed)
        }
    };
    let cloud_custom_data = match a.json.get("CloudCustomData") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.contains('\0') => {
            return Err(CallError::BadAnswer("CloudCustomData holds U+0000".into()))
        }
        Some(Value::String(s)) => (s != m.cloud_custom_data).then(|| s.clone()),
        Some(_) => {
            return Err(CallError::BadAnswer(
                "CloudCustomData is not a string".into(),
            ))
        }
    };
    if body.is_some() || cloud_custom_data.is_some() {
        let size = msgbody::render(body.as_deref().unwrap_or(m.body))
            .to_string()
            .len()
            + cloud_custom_data
                .as_deref()
                .unwrap_or(m.cloud_custom_data)
                .len();
        if size > m.max_body_bytes {
            return Err(CallError::BadAnswer(format!(
                "the rewritten message is {size} bytes; at most {} are allowed",
                m.max_body_bytes
            )));
        }
    }
    Ok(if body.is_none() && cloud_custom_data.is_none() {
        Verdict::Allow
    } else {
        Verdict::Rewrite {
            body,
            cloud_custom_data,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use missive_schemas::TextElem;

    fn answer(v: Value) -> Answer {
        let json = v.as_object().unwrap().clone();
        Answer {
            action_status: json["ActionStatus"].as_str().unwrap_or("").into(),
            error_code: json["ErrorCode"].as_i64().unwrap(),
            error_info: json["ErrorInfo"].as_str().unwrap_or("").into(),
            json,
        }
    }

    #[test]
    fn answers_map_to_tencents_verdicts() {
        let body = vec![Element::Text(TextElem { text: "hi".into() })];
        let m = Outgoing {
            from: "a",
            to: "b",
            msg_seq: 1,
            msg_random: 2,
            msg_time: 3,
            msg_key: "k",
            body: &body,
            cloud_custom_data: "",
            platform: "RESTAPI",
            client_ip: "",
            max_body_bytes: 100,
        };
        let ok = |code: i64| json!({"ActionStatus": "OK", "ErrorCode": code, "ErrorInfo": "why"});
        assert_eq!(interpret(&answer(ok(0)), &m).unwrap(), Verdict::Allow);
        assert_eq!(interpret(&answer(ok(2)), &m).unwrap(), Verdict::Drop);
        assert_eq!(
            interpret(&answer(ok(1)), &m).unwrap(),
            Verdict::Refuse {
                code: None,
                info: "why".into()
            }
        );
        assert_eq!(
            interpret(&answer(ok(120_005)), &m).unwrap(),
            Verdict::Refuse {
                code: Some(120_005),
                info: "why".into()
            }
        );
        assert!(interpret(&answer(ok(3)), &m).is_err());
        // The same body back is no rewrite; a different one is.
        let same = json!({"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "",
            "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi"}}]});
        assert_eq!(interpret(&answer(same), &m).unwrap(), Verdict::Allow);
        let new = json!({"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "",
            "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "**"}}],
            "CloudCustomData": "x"});
        assert_eq!(
            interpret(&answer(new), &m).unwrap(),
            Verdict::Rewrite {
                body: Some(vec![Element::Text(TextElem { text: "**".into() })]),
                cloud_custom_data: Some("x".into())
            }
        );
        let bad = json!({"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "",
            "MsgBody": [{"MsgType": "TIMNopeElem", "MsgContent": {}}]});
        assert!(interpret(&answer(bad), &m).is_err());
        // A rewrite is held to the sender's size limit (100 bytes here), the
        // body and CloudCustomData together.
        let long = "x".repeat(60);
        let big_body = json!({"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "",
            "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": long}}]});
        let e = interpret(&answer(big_body), &m).unwrap_err().to_string();
        assert!(e.contains("is 112 bytes; at most 100"), "{e}");
        let big_data = json!({"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "",
            "CloudCustomData": long});
        let e = interpret(&answer(big_data), &m).unwrap_err().to_string();
        assert!(e.contains("at most 100"), "{e}");
        let fits = json!({"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "",
            "CloudCustomData": "x".repeat(40)});
        assert!(interpret(&answer(fits), &m).is_ok());
    }
}

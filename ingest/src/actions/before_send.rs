//! The send path's one call to the app server: `C2C.CallbackBeforeSendMsg`
//! (docs/callbacks.md). What it answered is returned for the event, so
//! projector, delivery and replays act on the recorded verdict and never
//! call the app server again.

use missive_callbacks::{BeforeSend, Outgoing, Verdict};
use missive_core::{ApiError, ErrorCode};
use missive_schemas::{BeforeSendCallback, BeforeSendOutcome, Channel, Decision, ImportMode};

use super::send::SendRequest;
use super::Actor;

/// Asks the app server about `req` when the callback applies, applies a
/// rewrite to `req`, and returns the verdict to record, or the refusal.
///
/// As in Tencent IM it applies to one-to-one sends by users and by
/// `sendmsg`, not to imports nor to batch sends, nor when the sender set
/// `ForbidBeforeSendMsgCallback`; a message already dropped because of a
/// block is not shown to the app server.
pub async fn consult(
    before_send: &BeforeSend,
    actor: &Actor,
    req: &mut SendRequest,
    decision: Decision,
    msg_key: &str,
    msg_seq: u32,
    sent_at_ms: i64,
) -> Result<Option<BeforeSendCallback>, ApiError> {
    if !before_send.enabled()
        || req.batch
        || req.import_mode != ImportMode::None
        || req.forbid_before_send_callback
        || decision != Decision::Deliver
    {
        return Ok(None);
    }
    let platform = match actor.channel {
        Channel::Rest | Channel::Commands => "RESTAPI",
        Channel::Websocket | Channel::System => "Unknown",
    };
    let verdict = before_send
        .check(&Outgoing {
            from: &req.from,
            to: &req.to,
            msg_seq,
            msg_random: req.msg_random,
            msg_time: sent_at_ms / 1000,
            msg_key,
            body: &req.body,
            cloud_custom_data: &req.cloud_custom_data,
            platform,
            client_ip: req.client_ip.as_deref().unwrap_or_default(),
            max_body_bytes: super::send::MAX_BODY_BYTES,
        })
        .await;
    let recorded = |outcome, detail: String| Ok(Some(BeforeSendCallback { outcome, detail }));
    match verdict {
        Verdict::Allow => recorded(BeforeSendOutcome::Allowed, String::new()),
        Verdict::Drop => recorded(BeforeSendOutcome::Dropped, String::new()),
        Verdict::FailedOpen(why) => recorded(BeforeSendOutcome::FailedOpen, why),
        Verdict::Rewrite {
            body,
            cloud_custom_data,
        } => {
            if let Some(body) = body {
                req.body = body;
            }
            if let Some(data) = cloud_custom_data {
                req.cloud_custom_data = data;
            }
            recorded(BeforeSendOutcome::Rewritten, String::new())
        }
        // The app server's own code and reason reach the sender as they
        // are (Tencent passes 120001..=130000 through); 1 is Tencent's 20006.
        Verdict::Refuse {
            code: Some(code),
            info,
        } => Err(ApiError::app_server_refusal(code, info)),
        Verdict::Refuse { code: None, info } => Err(ApiError::new(
            ErrorCode::CallbackRefused,
            format!("the app server refused the message: {info}"),
        )),
        Verdict::FailedClosed(why) => Err(ApiError::new(
            ErrorCode::CallbackRefused,
            format!(
                "the app server's before-send callback gave no valid answer ({why}); \
                 callbacks.before_send_fail_open is off, so the message is refused"
            ),
        )),
    }
}

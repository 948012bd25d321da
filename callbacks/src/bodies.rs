//! The after-callbacks' JSON bodies, built from the event that reports the
//! change, in Tencent's format. Every body also carries `EventTime` (ms, when
//! the change was accepted) and `EventId` (the event's UUID: the same on
//! every retry, for the app server to de-duplicate on).

use serde_json::{json, Value};

use missive_core::config::CallbacksConfig;
use missive_core::msgbody;
use missive_schemas::{
    BeforeSendOutcome, Channel, Decision, Element, Envelope, Event, ImportMode, SessionAction,
    SystemSource,
};

pub const AFTER_SEND_MSG: &str = "C2C.CallbackAfterSendMsg";
pub const AFTER_MSG_WITHDRAW: &str = "C2C.CallbackAfterMsgWithDraw";
pub const AFTER_MSG_REPORT: &str = "C2C.CallbackAfterMsgReport";
pub const FRIEND_ADD: &str = "Sns.CallbackFriendAdd";
pub const FRIEND_DELETE: &str = "Sns.CallbackFriendDelete";
pub const BLACK_LIST_ADD: &str = "Sns.CallbackBlackListAdd";
pub const BLACK_LIST_DELETE: &str = "Sns.CallbackBlackListDelete";
pub const STATE_CHANGE: &str = "State.StateChange";

/// One after-callback to make.
#[derive(Debug, Clone, PartialEq)]
pub struct AfterCallback {
    pub command: &'static str,
    /// Tencent's `OptPlatform`.
    pub platform: &'static str,
    /// Tencent's `ClientIP`: the end user's address where the event records
    /// it (WebSocket sends and sessions), empty otherwise.
    pub client_ip: String,
    /// Whose unread count fills `UnreadMsgNum`: (user, peer), the messages
    /// from peer that user has not read, read from the views by the worker
    /// when it makes the call.
    pub unread_of: Option<(String, String)>,
    pub body: Value,
}

/// Tencent's `OptPlatform` for a platform a WebSocket client declared at
/// login: one of Tencent's names (matched ignoring case), else `Unknown`.
fn declared_platform(declared: &str) -> &'static str {
    const TENCENT: &[&str] = &[
        "iOS", "Android", "Web", "Windows", "Mac", "iPad", "Linux", "Unknown",
    ];
    TENCENT
        .iter()
        .find(|p| p.eq_ignore_ascii_case(declared))
        .copied()
        .unwrap_or("Unknown")
}

/// Tencent's `OptPlatform` for the channel a change came through.
fn platform(env: &Envelope) -> &'static str {
    match env.origin.channel {
        Channel::Rest | Channel::Commands => "RESTAPI",
        Channel::Websocket | Channel::System => "Unknown",
    }
}

/// The callback this event calls for under `switches`, if any.
pub fn after_callback(env: &Envelope, switches: &CallbacksConfig) -> Option<AfterCallback> {
    let admin = if env.origin.admin {
        env.origin.actor.as_str()
    } else {
        ""
    };
    let mut opt_platform = platform(env);
    let mut client_ip = None;
    let mut unread_of = None;
    let (command, mut body) = match &env.event {
        Event::MessageSent(m) if switches.after_send_msg => {
            // Imports are history, not sends; a message the sender asked to
            // keep quiet, or the app server dropped, is not reported, nor
            // missive's own notices (a friendship's "you are now friends").
            if m.import_mode != ImportMode::None
                || m.body
                    .iter()
                    .any(|e| matches!(e, Element::System(s) if s.source == SystemSource::Builtin))
                || m.forbid_after_send_callback
                || m.before_send_callback
                    .as_ref()
                    .is_some_and(|c| c.outcome == BeforeSendOutcome::Dropped)
            {
                return None;
            }
            client_ip = m.client_ip.clone();
            unread_of = Some((m.to_account.clone(), m.from_account.clone()));
            let (result, info) = match m.decision {
                Decision::Deliver => (0, "send msg succeed"),
                Decision::DropBlocked => (20007, "the recipient blocks the sender"),
            };
            (
                AFTER_SEND_MSG,
                json!({
                    "From_Account": m.from_account,
                    "To_Account": m.to_account,
                    "MsgSeq": m.msg_seq,
                    "MsgRandom": m.msg_random,
                    "MsgTime": m.sent_at / 1000,
                    "MsgKey": m.msg_key,
                    "OnlineOnlyFlag": 0,
                    "SendMsgResult": result,
                    "ErrorInfo": info,
                    "UnreadMsgNum": 0,
                    "MsgBody": msgbody::render(&m.body),
                    "CloudCustomData": m.cloud_custom_data,
                }),
            )
        }
        Event::MessageRecalled(r) if switches.after_msg_withdraw => (
            {
                unread_of = Some((r.to_account.clone(), r.from_account.clone()));
                AFTER_MSG_WITHDRAW
            },
            json!({
                "From_Account": r.from_account,
                "To_Account": r.to_account,
                "MsgKey": r.msg_key,
                "UnreadMsgNum": 0,
            }),
        ),
        Event::ConversationRead(r) if switches.after_msg_report => (
            {
                unread_of = Some((r.reader.clone(), r.peer.clone()));
                AFTER_MSG_REPORT
            },
            json!({
                "Report_Account": r.reader,
                "Peer_Account": r.peer,
                "LastReadTime": r.read_time / 1000,
                "UnreadMsgNum": 0,
            }),
        ),
        Event::FriendAdded(f) if switches.friend_add => {
            let mut pairs = vec![json!({"From_Account": f.user_id, "To_Account": f.friend_id,
                "Initiator_Account": f.user_id})];
            if f.both {
                pairs.push(json!({"From_Account": f.friend_id, "To_Account": f.user_id,
                    "Initiator_Account": f.user_id}));
            }
            (
                FRIEND_ADD,
                json!({"PairList": pairs,
                    "ClientCmd": if f.imported { "friend_import" } else { "friend_add" },
                    "Admin_Account": admin, "ForceFlag": 1}),
            )
        }
        Event::FriendDeleted(f) if switches.friend_delete => {
            let mut pairs = vec![json!({"From_Account": f.user_id, "To_Account": f.friend_id})];
            if f.both {
                pairs.push(json!({"From_Account": f.friend_id, "To_Account": f.user_id}));
            }
            (
                FRIEND_DELETE,
                json!({"PairList": pairs, "ClientCmd": "friend_delete", "Admin_Account": admin}),
            )
        }
        Event::BlockAdded(b) if switches.black_list_add => (
            BLACK_LIST_ADD,
            json!({"PairList": [{"From_Account": b.user_id, "To_Account": b.blocked_id}],
                "ClientCmd": "black_list_add", "Admin_Account": admin}),
        ),
        Event::BlockRemoved(b) if switches.black_list_delete => (
            BLACK_LIST_DELETE,
            json!({"PairList": [{"From_Account": b.user_id, "To_Account": b.blocked_id}],
                "ClientCmd": "black_list_delete", "Admin_Account": admin}),
        ),
        Event::SessionChanged(c) if switches.state_change => {
            // Tencent's Action and Reason. An administrator's kick has no
            // documented Reason; missive reports it as a Logout, "Kicked".
            let (action, reason) = match c.action {
                SessionAction::Login => ("Login", "Register"),
                SessionAction::Logout => ("Logout", "Unregister"),
                SessionAction::Disconnect => ("Disconnect", "LinkClose"),
                SessionAction::Kicked => ("Logout", "Kicked"),
            };
            opt_platform = declared_platform(&c.platform);
            client_ip = c.client_ip.clone();
            (
                STATE_CHANGE,
                json!({"Info": {"Action": action, "To_Account": c.user_id, "Reason": reason}}),
            )
        }
        _ => return None,
    };
    let obj = body.as_object_mut().expect("bodies are objects");
    obj.insert("CallbackCommand".into(), command.into());
    obj.insert("EventTime".into(), env.occurred_at.into());
    obj.insert("EventId".into(), env.event_id.to_string().into());
    Some(AfterCallback {
        command,
        platform: opt_platform,
        client_ip: client_ip.unwrap_or_default(),
        unread_of,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use missive_schemas::samples;

    fn all_on() -> CallbacksConfig {
        CallbacksConfig {
            url: "http://127.0.0.1:9/".into(),
            after_send_msg: true,
            after_msg_withdraw: true,
            after_msg_report: true,
            friend_add: true,
            friend_delete: true,
            black_list_add: true,
            black_list_delete: true,
            state_change: true,
            ..CallbacksConfig::default()
        }
    }

    #[test]
    fn each_event_kind_gets_its_tencent_command_and_switches_turn_them_off() {
        let mut commands = Vec::new();
        for (_, env) in samples::golden() {
            if let Some(cb) = after_callback(&env, &all_on()) {
                assert_eq!(cb.body["CallbackCommand"], cb.command);
                assert_eq!(cb.body["EventId"], env.event_id.to_string());
                assert_eq!(cb.body["EventTime"], env.occurred_at);
                commands.push(cb.command);
            }
            assert_eq!(after_callback(&env, &CallbacksConfig::default()), None);
        }
        for c in [
            AFTER_SEND_MSG,
            AFTER_MSG_WITHDRAW,
            AFTER_MSG_REPORT,
            FRIEND_ADD,
            FRIEND_DELETE,
            BLACK_LIST_ADD,
            BLACK_LIST_DELETE,
            STATE_CHANGE,
        ] {
            assert!(commands.contains(&c), "no sample calls {c}");
        }
    }

    #[test]
    fn an_imported_friend_is_reported_as_friend_import() {
        let clients: Vec<String> = samples::golden()
            .into_iter()
            .filter(|(_, env)| matches!(env.event, Event::FriendAdded(_)))
            .map(|(_, env)| {
                let cb = after_callback(&env, &all_on()).unwrap();
                cb.body["ClientCmd"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(clients, ["friend_add", "friend_import"]);
    }

    #[test]
    fn a_message_sent_reports_tencents_fields_and_respects_forbid_and_drop() {
        let env = samples::text_message();
        let cb = after_callback(&env, &all_on()).unwrap();
        assert_eq!(cb.body["From_Account"], "alice");
        assert_eq!(cb.body["To_Account"], "bob");
        assert_eq!(cb.body["SendMsgResult"], 0);
        assert_eq!(cb.body["MsgBody"][0]["MsgType"], "TIMTextElem");
        assert_eq!(cb.platform, "RESTAPI");
        let mut quiet = env.clone();
        if let Event::MessageSent(m) = &mut quiet.event {
            m.forbid_after_send_callback = true;
        }
        assert_eq!(after_callback(&quiet, &all_on()), None);
        let mut dropped = env;
        if let Event::MessageSent(m) = &mut dropped.event {
            m.before_send_callback = Some(missive_schemas::BeforeSendCallback {
                outcome: BeforeSendOutcome::Dropped,
                detail: String::new(),
            });
        }
        assert_eq!(after_callback(&dropped, &all_on()), None);
    }
}

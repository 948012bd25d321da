//! A message's Tencent fields (`MsgBody`, `CloudCustomData`, `MsgRandom`,
//! `MsgSeq`, `SyncOtherMachine`, `MsgLifeTime`, `OfflinePushInfo`,
//! `IsNeedReadReceipt`, `ForbidCallbackControl`, `SendMsgControl`), shared by sendmsg,
//! batchsendmsg, importmsg, modify_c2c_msg, a device's `send` frame and the commands topic.

use serde_json::Value;

use missive_core::msgbody::{self, Sender};
use missive_core::{storable, ApiError, ErrorCode, UserId};
use missive_schemas::{Element, ImportMode, OfflinePushInfo, SyncOtherMachine};

use super::fields::Body;
use crate::actions::send::{SendControl, SendRequest, MAX_BODY_BYTES, MAX_LIFETIME_SECONDS};

/// Everything of a send but its two parties.
#[derive(Debug, Clone)]
pub struct MessageFields {
    pub msg_random: u32,
    pub msg_seq: Option<u32>,
    pub content: Content,
    pub sync_other_machine: SyncOtherMachine,
    pub lifetime_seconds: i32,
    pub need_read_receipt: bool,
    /// `ForbidCallbackControl`: `ForbidBeforeSendMsgCallback`.
    pub forbid_before_send_callback: bool,
    /// `ForbidCallbackControl`: `ForbidAfterSendMsgCallback`.
    pub forbid_after_send_callback: bool,
    /// `SendMsgControl`.
    pub control: SendControl,
}

/// What a message says: its elements, CloudCustomData and push text.
#[derive(Debug, Clone)]
pub struct Content {
    pub body: Vec<Element>,
    pub cloud_custom_data: String,
    pub offline_push: Option<OfflinePushInfo>,
}

impl MessageFields {
    /// The send of these fields from `from` to `to`.
    pub fn request(self, from: UserId, to: UserId) -> SendRequest {
        SendRequest {
            msg_seq: self.msg_seq,
            cloud_custom_data: self.content.cloud_custom_data,
            sync_other_machine: self.sync_other_machine,
            lifetime_seconds: self.lifetime_seconds,
            offline_push: self.content.offline_push,
            need_read_receipt: self.need_read_receipt,
            forbid_before_send_callback: self.forbid_before_send_callback,
            forbid_after_send_callback: self.forbid_after_send_callback,
            control: self.control,
            import_mode: ImportMode::None,
            ..SendRequest::new(from, to, self.msg_random, self.content.body)
        }
    }
}

/// `From_Account`, or `default` (the administrator) when absent.
pub fn sender<'a>(body: &Body<'a>, default: &'a str) -> Result<&'a str, ApiError> {
    match body.get("From_Account") {
        None => Ok(default),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(ApiError::new(
            ErrorCode::FromAccountInvalid,
            "From_Account must be a string",
        )),
    }
}

/// The two parties of a send, checked after its other fields (a body that
/// is wrong in several ways is refused for its first field in this order).
pub fn parties(from: &str, to: &str) -> Result<(UserId, UserId), ApiError> {
    Ok((
        UserId::parse(from, "From_Account", ErrorCode::FromAccountInvalid)?,
        UserId::parse(to, "To_Account", ErrorCode::ToAccountInvalid)?,
    ))
}

/// The fields every send shares. `sender` says who may use which element
/// types (system notices: admins only).
pub fn parse_message(body: &Body<'_>, sender: Sender) -> Result<MessageFields, ApiError> {
    let sync_other_machine =
        match body.opt_i64("SyncOtherMachine", ErrorCode::SyncOtherMachineInvalid)? {
            None | Some(1) => SyncOtherMachine::Sync,
            Some(2) => SyncOtherMachine::NoSync,
            Some(v) => {
                return Err(ApiError::new(
                    ErrorCode::SyncOtherMachineInvalid,
                    format!("SyncOtherMachine is {v}; it must be 1 or 2"),
                ))
            }
        };
    let lifetime = body
        .opt_i64("MsgLifeTime", ErrorCode::MsgLifeTimeType)?
        .unwrap_or(i64::from(MAX_LIFETIME_SECONDS));
    let lifetime_seconds = i32::try_from(lifetime).map_err(|_| {
        ApiError::new(
            ErrorCode::MsgLifeTimeRange,
            format!(
                "MsgLifeTime is {lifetime}; it must be between 0 and {MAX_LIFETIME_SECONDS} seconds"
            ),
        )
    })?;
    let msg_seq = body.opt_u32("MsgSeq", ErrorCode::MsgSeqInvalid)?;
    let msg_random = body.u32("MsgRandom", ErrorCode::MsgRandomInvalid)?;
    let raw_body = body
        .get("MsgBody")
        .ok_or_else(|| ApiError::new(ErrorCode::MsgBodyFormat, "MsgBody is missing"))?;
    let cloud_custom_data = body
        .opt_string("CloudCustomData", ErrorCode::MsgBodyFormat)?
        .unwrap_or_default();
    let content = parse_content(
        raw_body,
        cloud_custom_data,
        body.get("OfflinePushInfo"),
        sender,
    )?;
    let need_read_receipt = match body.opt_i64("IsNeedReadReceipt", ErrorCode::InvalidRequest)? {
        None | Some(0) => false,
        Some(1) => true,
        Some(v) => {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!("IsNeedReadReceipt is {v}; it must be 0 or 1"),
            ))
        }
    };
    let (forbid_before_send_callback, forbid_after_send_callback) =
        parse_forbid_callback_control(body)?;
    let control = parse_send_msg_control(body)?;
    Ok(MessageFields {
        msg_random,
        msg_seq,
        content,
        sync_other_machine,
        lifetime_seconds,
        need_read_receipt,
        forbid_before_send_callback,
        forbid_after_send_callback,
        control,
    })
}

/// `ForbidCallbackControl`: which of this message's callbacks not to make,
/// as (before-send, after-send).
fn parse_forbid_callback_control(body: &Body<'_>) -> Result<(bool, bool), ApiError> {
    let Some(v) = body.get("ForbidCallbackControl") else {
        return Ok((false, false));
    };
    let bad = |what: String| ApiError::new(ErrorCode::InvalidRequest, what);
    let Value::Array(items) = v else {
        return Err(bad(
            "ForbidCallbackControl must be an array of strings".into()
        ));
    };
    let (mut before, mut after) = (false, false);
    for item in items {
        match item.as_str() {
            Some("ForbidBeforeSendMsgCallback") => before = true,
            Some("ForbidAfterSendMsgCallback") => after = true,
            _ => {
                return Err(bad(format!(
                    "ForbidCallbackControl holds {item}; it may hold \
                     \"ForbidBeforeSendMsgCallback\" and \"ForbidAfterSendMsgCallback\""
                )))
            }
        }
    }
    Ok((before, after))
}

/// `SendMsgControl`: the message's send options (absent: none). Anything
/// but an array of the documented strings is refused, naming the bad item.
fn parse_send_msg_control(body: &Body<'_>) -> Result<SendControl, ApiError> {
    let mut control = SendControl::default();
    let items = match body.get("SendMsgControl") {
        None => return Ok(control),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                "SendMsgControl must be an array of strings",
            ))
        }
    };
    for (i, item) in items.iter().enumerate() {
        match item.as_str() {
            Some("NoUnread") => control.no_unread = true,
            Some("NoLastMsg") => control.no_last_msg = true,
            Some("WithMuteNotifications") => control.with_mute_notifications = true,
            _ => {
                return Err(ApiError::new(
                    ErrorCode::InvalidRequest,
                    format!(
                        "SendMsgControl[{i}] is {item}; it must be NoUnread, NoLastMsg or WithMuteNotifications"
                    ),
                ))
            }
        }
    }
    Ok(control)
}

/// A message's content: the `MsgBody` elements, the CloudCustomData and the
/// `OfflinePushInfo`, with the 12 KB body limit.
pub fn parse_content(
    msg_body: &Value,
    cloud_custom_data: &str,
    offline_push: Option<&Value>,
    sender: Sender,
) -> Result<Content, ApiError> {
    storable::check_field(
        "CloudCustomData",
        cloud_custom_data,
        ErrorCode::MsgBodyFormat,
    )?;
    check_body_size(msg_body, cloud_custom_data)?;
    let body = msgbody::parse(msg_body, sender)?;
    let offline_push = offline_push.map(parse_offline_push).transpose()?;
    Ok(Content {
        body,
        cloud_custom_data: cloud_custom_data.to_owned(),
        offline_push,
    })
}

/// Tencent's `OfflinePushInfo` (PushFlag, Title, Desc, Ext, AndroidInfo, ApnsInfo).
pub fn parse_offline_push(v: &Value) -> Result<OfflinePushInfo, ApiError> {
    let code = ErrorCode::OfflinePushInfoFormat;
    let map = v
        .as_object()
        .ok_or_else(|| ApiError::new(code, "OfflinePushInfo must be an object"))?;
    let b = Body::at(map, "OfflinePushInfo");
    let push_flag = b.opt_i64("PushFlag", code)?.unwrap_or(0);
    if !(0..=1).contains(&push_flag) {
        return Err(ApiError::new(
            code,
            format!("OfflinePushInfo.PushFlag is {push_flag}; it must be 0 or 1"),
        ));
    }
    let sub = |name: &str| -> Result<Option<Body<'_>>, ApiError> {
        match b.get(name) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(Body::at(m, b.field(name)))),
            Some(_) => Err(ApiError::new(
                code,
                format!("{} must be an object", b.field(name)),
            )),
        }
    };
    let android = sub("AndroidInfo")?;
    let apns = sub("ApnsInfo")?;
    let s = |m: &Option<Body<'_>>, name: &str| -> Result<String, ApiError> {
        match m {
            None => Ok(String::new()),
            Some(m) => Ok(m.opt_string(name, code)?.unwrap_or_default().to_owned()),
        }
    };
    let badge_mode = match &apns {
        None => 0,
        Some(m) => m.opt_i64("BadgeMode", code)?.unwrap_or(0),
    };
    if !(0..=1).contains(&badge_mode) {
        return Err(ApiError::new(
            code,
            format!("OfflinePushInfo.ApnsInfo.BadgeMode is {badge_mode}; it must be 0 or 1"),
        ));
    }
    Ok(OfflinePushInfo {
        push_flag: push_flag as i32,
        title: b.opt_string("Title", code)?.unwrap_or_default().to_owned(),
        desc: b.opt_string("Desc", code)?.unwrap_or_default().to_owned(),
        ext: b.opt_string("Ext", code)?.unwrap_or_default().to_owned(),
        android_sound: s(&android, "Sound")?,
        apns_sound: s(&apns, "Sound")?,
        apns_badge_mode: badge_mode as i32,
        apns_title: s(&apns, "Title")?,
        apns_sub_title: s(&apns, "SubTitle")?,
        apns_image: s(&apns, "Image")?,
    })
}

/// The 12 KB limit on a message body (serialized MsgBody plus CloudCustomData).
pub fn check_body_size(msg_body: &Value, cloud_custom_data: &str) -> Result<(), ApiError> {
    let size =
        serde_json::to_vec(msg_body).map_or(usize::MAX, |v| v.len()) + cloud_custom_data.len();
    if size > MAX_BODY_BYTES {
        return Err(ApiError::new(
            ErrorCode::BodyTooLarge,
            format!("the message body is {size} bytes; at most {MAX_BODY_BYTES} are allowed"),
        ));
    }
    Ok(())
}

/// A list of user ids in `field`: 1 to `max`, each checked with `code`.
pub fn user_list(
    body: &Body<'_>,
    field: &str,
    max: usize,
    code: ErrorCode,
) -> Result<Vec<UserId>, ApiError> {
    let items = match body.get(field) {
        Some(Value::Array(a)) => a,
        Some(_) => {
            return Err(ApiError::new(
                code,
                format!("{field} must be an array of user ids"),
            ))
        }
        None => return Err(ApiError::new(code, format!("{field} is missing"))),
    };
    if items.is_empty() || items.len() > max {
        return Err(ApiError::new(
            code,
            format!("{field} must hold 1 to {max} user ids"),
        ));
    }
    items
        .iter()
        .map(|v| {
            let id = v
                .as_str()
                .ok_or_else(|| ApiError::new(code, format!("{field} items must be strings")))?;
            UserId::parse(id, field, code)
        })
        .collect()
}

/// A `missive_msg/read_receipt` body: `Report_Account` read the messages
/// `MsgKeyList` that `Peer_Account` sent them (`admin_set_msg_read`'s
/// account fields).
#[derive(Debug, Clone)]
pub struct ReadReceiptReport {
    pub reader: UserId,
    pub peer: UserId,
    pub msg_keys: Vec<String>,
}

pub fn parse_read_receipt(body: &Body<'_>) -> Result<ReadReceiptReport, ApiError> {
    let reader = body.string(&["Report_Account"], ErrorCode::FromAccountInvalid)?;
    let reader = UserId::parse(reader, "Report_Account", ErrorCode::FromAccountInvalid)?;
    let peer = body.string(&["Peer_Account"], ErrorCode::ToAccountInvalid)?;
    let peer = UserId::parse(peer, "Peer_Account", ErrorCode::ToAccountInvalid)?;
    let msg_keys = match body.get("MsgKeyList") {
        Some(Value::Array(keys)) => keys
            .iter()
            .map(|k| k.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>(),
        _ => None,
    }
    .ok_or_else(|| {
        ApiError::new(
            ErrorCode::MsgKeyInvalid,
            "MsgKeyList must be an array of MsgKey strings",
        )
    })?;
    Ok(ReadReceiptReport {
        reader,
        peer,
        msg_keys,
    })
}

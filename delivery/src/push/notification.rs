//! What a notification says, decided once per message from the event alone
//! (and the recipient's unread count for the badge), whatever the vendor.

use missive_schemas::{Element, ImportMode, MessageSent};

/// Longest title and body sent to any vendor; vendors with tighter limits cut further.
const MAX_TITLE_CHARS: usize = 64;
const MAX_BODY_CHARS: usize = 240;

/// Why a message gets no offline push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Dropped because the recipient blocks the sender.
    NotDelivered,
    /// Imported history (`SyncFromOldSystem` 2) is never pushed.
    HistoryImport,
    /// `MsgLifeTime` 0: online only (Tencent pushes nothing offline either).
    OnlineOnly,
    /// `OfflinePushInfo.PushFlag` 1.
    Suppressed,
    /// A message to oneself.
    SelfSend,
    /// Older than `push.max_age_seconds`, or past its lifetime.
    Stale,
}

impl Skip {
    pub fn label(self) -> &'static str {
        match self {
            Skip::NotDelivered => "not_delivered",
            Skip::HistoryImport => "history_import",
            Skip::OnlineOnly => "online_only",
            Skip::Suppressed => "suppressed",
            Skip::SelfSend => "self_send",
            Skip::Stale => "stale",
        }
    }
}

/// Whether `m` is pushed at all (before looking at presence and tokens).
pub fn eligible(m: &MessageSent, now_ms: i64, max_age_ms: i64) -> Result<(), Skip> {
    if !m.reaches_recipient() {
        return Err(Skip::NotDelivered);
    }
    if m.import_mode == ImportMode::History {
        return Err(Skip::HistoryImport);
    }
    if m.lifetime_seconds <= 0 {
        return Err(Skip::OnlineOnly);
    }
    if m.offline_push.as_ref().is_some_and(|p| p.push_flag == 1) {
        return Err(Skip::Suppressed);
    }
    if m.from_account == m.to_account {
        return Err(Skip::SelfSend);
    }
    let expires = m.sent_at + i64::from(m.lifetime_seconds) * 1000;
    if now_ms - m.sent_at > max_age_ms || now_ms >= expires {
        return Err(Skip::Stale);
    }
    Ok(())
}

/// A notification about one message, in vendor-neutral terms.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub conversation_id: String,
    pub msg_key: String,
    pub from: String,
    pub to: String,
    /// `OfflinePushInfo.Title`, else the sender's nickname, else their id.
    pub title: String,
    /// `OfflinePushInfo.Desc`, else the message's text or a placeholder of its type.
    pub body: String,
    /// `OfflinePushInfo.Ext`, passed through untouched (Tencent's `ext`).
    pub ext: String,
    /// `ApnsInfo.Title` overrides `title` on iOS.
    pub apns_title: String,
    pub apns_subtitle: String,
    pub apns_image: String,
    /// `ApnsInfo.Sound`; `default` when empty.
    pub apns_sound: String,
    /// The badge (the recipient's unread count); `None` when `BadgeMode` is 1.
    pub badge: Option<i64>,
    /// `AndroidInfo.Sound`; the vendor's default when empty.
    pub android_sound: String,
    pub sent_at_ms: i64,
    /// `sent_at + MsgLifeTime`: vendors drop it if the device stays away longer.
    pub expires_at_ms: i64,
}

impl Notification {
    pub fn from_message(m: &MessageSent) -> Self {
        let info = m.offline_push.clone().unwrap_or_default();
        let title = if !info.title.is_empty() {
            info.title.clone()
        } else if !m.sender_profile.nickname.is_empty() {
            m.sender_profile.nickname.clone()
        } else {
            m.from_account.clone()
        };
        let body = if !info.desc.is_empty() {
            info.desc.clone()
        } else {
            default_body(&m.body)
        };
        Self {
            conversation_id: m.conversation_id.clone(),
            msg_key: m.msg_key.clone(),
            from: m.from_account.clone(),
            to: m.to_account.clone(),
            title: cut(&title, MAX_TITLE_CHARS),
            body: cut(&body, MAX_BODY_CHARS),
            ext: info.ext,
            apns_title: cut(&info.apns_title, MAX_TITLE_CHARS),
            apns_subtitle: cut(&info.apns_sub_title, MAX_TITLE_CHARS),
            apns_image: info.apns_image,
            apns_sound: info.apns_sound,
            // Filled by the worker from the unread count when BadgeMode is 0.
            badge: None,
            android_sound: info.android_sound,
            sent_at_ms: m.sent_at,
            expires_at_ms: m.sent_at + i64::from(m.lifetime_seconds) * 1000,
        }
    }

    /// Whether the badge counts this message (`ApnsInfo.BadgeMode` 0, the default).
    pub fn counts_badge(m: &MessageSent) -> bool {
        m.offline_push
            .as_ref()
            .is_none_or(|p| p.apns_badge_mode == 0)
    }

    /// The string-to-string data every Android vendor carries to the app, so
    /// a tap can open the conversation.
    pub fn data(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut d = serde_json::Map::new();
        d.insert("msg_key".into(), self.msg_key.clone().into());
        d.insert("conversation".into(), self.conversation_id.clone().into());
        d.insert("from".into(), self.from.clone().into());
        if !self.ext.is_empty() {
            d.insert("ext".into(), self.ext.clone().into());
        }
        d
    }

    /// A stable id of this notification to `token`, for vendors' request ids
    /// (the same after a restart, so a vendor-side dedupe can work too).
    pub fn request_id(&self, token: &str) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::new()
            .chain_update(self.conversation_id.as_bytes())
            .chain_update([0])
            .chain_update(self.msg_key.as_bytes())
            .chain_update([0])
            .chain_update(token.as_bytes())
            .finalize();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .hyphenated()
            .to_string()
    }
}

/// The text of the message, or a placeholder naming its kind.
fn default_body(body: &[Element]) -> String {
    let parts: Vec<String> = body
        .iter()
        .map(|e| match e {
            Element::Text(t) => t.text.clone(),
            Element::Face(_) => "[Emoji]".into(),
            Element::Location(l) if !l.desc.is_empty() => format!("[Location] {}", l.desc),
            Element::Location(_) => "[Location]".into(),
            Element::Image(_) => "[Image]".into(),
            Element::Sound(_) => "[Voice]".into(),
            Element::File(f) => format!("[File] {}", f.file_name),
            Element::VideoFile(_) => "[Video]".into(),
            Element::Custom(c) if !c.desc.is_empty() => c.desc.clone(),
            Element::Custom(_) => "[Message]".into(),
            Element::System(s) if !s.text.is_empty() => s.text.clone(),
            Element::System(_) => "[Notification]".into(),
        })
        .filter(|s| !s.is_empty())
        .collect();
    if parts.is_empty() {
        "[Message]".into()
    } else {
        parts.join(" ")
    }
}

/// At most `max` characters, with an ellipsis when cut.
pub(crate) fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => {
            let mut out = s[..s.char_indices().nth(max - 1).map_or(at, |(i, _)| i)].to_owned();
            out.push('…');
            out
        }
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use missive_schemas::{Decision, ImageElem, OfflinePushInfo};

    fn message() -> MessageSent {
        MessageSent {
            msg_random: 2,
            ..missive_schemas::samples::text("1_2_abc", "alice", "bob", "hi bob", 1_000_000)
        }
    }

    #[test]
    fn defaults_name_the_sender_and_show_the_text() {
        let mut m = message();
        let n = Notification::from_message(&m);
        assert_eq!((n.title.as_str(), n.body.as_str()), ("alice", "hi bob"));
        m.sender_profile.nickname = "Alice".into();
        m.body = vec![Element::Image(ImageElem {
            uuid: String::new(),
            image_format: 1,
            images: vec![],
        })];
        let n = Notification::from_message(&m);
        assert_eq!((n.title.as_str(), n.body.as_str()), ("Alice", "[Image]"));
    }

    #[test]
    fn offline_push_info_overrides_the_defaults() {
        let mut m = message();
        m.offline_push = Some(OfflinePushInfo {
            title: "T".into(),
            desc: "D".into(),
            ext: "{\"k\":1}".into(),
            apns_badge_mode: 1,
            ..Default::default()
        });
        let n = Notification::from_message(&m);
        assert_eq!((n.title.as_str(), n.body.as_str()), ("T", "D"));
        assert_eq!(n.ext, "{\"k\":1}");
        assert!(!Notification::counts_badge(&m));
    }

    #[test]
    fn what_is_not_pushed() {
        let now = 1_000_500;
        let day = 86_400_000;
        assert_eq!(eligible(&message(), now, day), Ok(()));
        let mut m = message();
        m.decision = Decision::DropBlocked;
        assert_eq!(eligible(&m, now, day), Err(Skip::NotDelivered));
        let mut m = message();
        m.import_mode = ImportMode::History;
        assert_eq!(eligible(&m, now, day), Err(Skip::HistoryImport));
        let mut m = message();
        m.lifetime_seconds = 0;
        assert_eq!(eligible(&m, now, day), Err(Skip::OnlineOnly));
        let mut m = message();
        m.offline_push = Some(OfflinePushInfo {
            push_flag: 1,
            ..Default::default()
        });
        assert_eq!(eligible(&m, now, day), Err(Skip::Suppressed));
        let mut m = message();
        m.to_account = "alice".into();
        assert_eq!(eligible(&m, now, day), Err(Skip::SelfSend));
        assert_eq!(eligible(&message(), now + 2 * day, day), Err(Skip::Stale));
    }

    #[test]
    fn request_ids_are_stable_uuids() {
        let n = Notification::from_message(&message());
        let a = n.request_id("tok");
        assert_eq!(a, n.request_id("tok"));
        assert_ne!(a, n.request_id("other"));
        assert!(uuid::Uuid::parse_str(&a).is_ok());
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis() {
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abc", 4), "abc");
    }
}

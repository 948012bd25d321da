//! The `MsgKey` rule (see docs/idempotency.md).
//!
//! `MsgKey = "{MsgSeq}_{MsgRandom}_{h}"`, where `h` is the first 12 hex digits
//! of SHA-256 over the sdkappid, sender, recipient, MsgSeq and MsgRandom.
//! Nothing else (no clock, no instance) enters it, so a retried send gets
//! the same key on any ingest instance, and the views keep the message once.
//! The shape mirrors Tencent's `<MsgSeq>_<MsgRandom>_<MsgTime>` keys.
//!
//! A client that sends no `MsgSeq` gets one derived from the other fields
//! and the message's content, and the content enters `h` as well: its
//! retries (same content) keep their key, while a different message that
//! repeats the `MsgRandom` (backends that copied Tencent's sample constant)
//! gets a key of its own instead of being taken for a retry.

use sha2::{Digest, Sha256};

/// SHA-256 of a message's content (its `MsgBody` as stored, and its
/// CloudCustomData): what tells two sends without `MsgSeq` apart.
pub type ContentDigest = [u8; 32];

fn digest(
    sdkappid: u64,
    from: &str,
    to: &str,
    msg_seq: Option<u32>,
    msg_random: u32,
    content: Option<&ContentDigest>,
) -> [u8; 32] {
    let mut h = Sha256::new();
    // Length-prefixed fields: no two different inputs hash the same bytes.
    // The content is a sixth field only when given, so keys of sends with
    // a MsgSeq (and command fields) hash exactly the bytes they always did.
    let seq = msg_seq.map(|s| s.to_string()).unwrap_or_default();
    let random = msg_random.to_string();
    let sdkappid = sdkappid.to_string();
    let mut parts = vec![
        sdkappid.as_bytes(),
        from.as_bytes(),
        to.as_bytes(),
        seq.as_bytes(),
        random.as_bytes(),
    ];
    if let Some(c) = content {
        parts.push(c);
    }
    for part in parts {
        h.update((part.len() as u32).to_be_bytes());
        h.update(part);
    }
    h.finalize().into()
}

/// The digest of a message's content: the serialized `MsgBody` (as
/// rendered from the parsed elements, so key order and absent optional
/// fields do not matter) and the CloudCustomData.
pub fn content_digest(msg_body_json: &[u8], cloud_custom_data: &str) -> ContentDigest {
    let mut h = Sha256::new();
    for part in [msg_body_json, cloud_custom_data.as_bytes()] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.finalize().into()
}

/// The content digest of a send that is a retry only within the Unix
/// `second` it arrived in (Tencent's REST rule for sends without `MsgSeq`):
/// the same content in another second is another message.
pub fn within_second(content: &ContentDigest, second: i64) -> ContentDigest {
    let mut h = Sha256::new();
    h.update(content);
    h.update(second.to_be_bytes());
    h.finalize().into()
}

/// A send's identity as the log records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Derived {
    /// The client's MsgSeq, or the one derived when it gave none.
    pub msg_seq: u32,
    pub msg_key: String,
}

/// The MsgSeq and MsgKey of a send from `from` to `to` (a batch send:
/// [`BATCH_RECIPIENT`]). With the client's `msg_seq`, the content plays no
/// part (a retry is whatever repeats MsgRandom and MsgSeq); without it, the
/// content decides, so only a true retry repeats a key.
pub fn derive(
    sdkappid: u64,
    from: &str,
    to: &str,
    msg_seq: Option<u32>,
    msg_random: u32,
    content: &ContentDigest,
) -> Derived {
    match msg_seq {
        Some(seq) => Derived {
            msg_seq: seq,
            msg_key: msg_key(sdkappid, from, to, seq, msg_random),
        },
        None => {
            let d = digest(sdkappid, from, to, None, msg_random, Some(content));
            let seq = u32::from_be_bytes([d[0], d[1], d[2], d[3]]);
            let h = digest(sdkappid, from, to, Some(seq), msg_random, Some(content));
            Derived {
                msg_seq: seq,
                msg_key: format_key(seq, msg_random, &h),
            }
        }
    }
}

/// Stands for "every recipient" in a batch key (`batchsendmsg`): the key is
/// the same for every recipient, as Tencent's is, so one MsgKey recalls the
/// message in each conversation. Keys are unique per conversation, so
/// sharing one across conversations is safe. No user id can contain `*`.
pub const BATCH_RECIPIENT: &str = "*";

/// The `(MsgSeq, MsgRandom)` of a command from the commands topic, derived
/// from its idempotency key alone: a command re-sent with the same key gets
/// the same pair, hence the same MsgKey, and the views keep one message.
/// 64 bits of SHA-256 make two different keys of one sender and recipient
/// collide with probability about n²/2⁶⁵.
pub fn command_fields(sdkappid: u64, command_id: &str) -> (u32, u32) {
    let d = digest(sdkappid, "missive.commands", command_id, None, 0, None);
    (
        u32::from_be_bytes([d[0], d[1], d[2], d[3]]),
        u32::from_be_bytes([d[4], d[5], d[6], d[7]]),
    )
}

/// The key of a send that carries the client's `msg_seq`.
pub fn msg_key(sdkappid: u64, from: &str, to: &str, msg_seq: u32, msg_random: u32) -> String {
    let d = digest(sdkappid, from, to, Some(msg_seq), msg_random, None);
    format_key(msg_seq, msg_random, &d)
}

fn format_key(msg_seq: u32, msg_random: u32, d: &[u8; 32]) -> String {
    let hex: String = d[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("{msg_seq}_{msg_random}_{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_inputs_same_key_and_any_change_changes_it() {
        let k = msg_key(1400000000, "alice", "bob", 7, 42);
        assert_eq!(k, msg_key(1400000000, "alice", "bob", 7, 42));
        assert!(k.starts_with("7_42_"), "{k}");
        assert!(k.len() <= 50);
        for other in [
            msg_key(1400000001, "alice", "bob", 7, 42),
            msg_key(1400000000, "bob", "alice", 7, 42),
            msg_key(1400000000, "alice", "bob", 8, 42),
            msg_key(1400000000, "alice", "bob", 7, 43),
            // Field boundaries matter: "ab"+"c" is not "a"+"bc".
            msg_key(1400000000, "alic", "ebob", 7, 42),
        ] {
            assert_ne!(k, other);
        }
    }

    #[test]
    fn keys_with_a_msg_seq_are_those_of_before() {
        // Golden: the content digest must not change keys of sends that
        // carry a MsgSeq (SDK sends, commands), which are already on logs.
        assert_eq!(
            msg_key(1400000000, "alice", "bob", 7, 42),
            "7_42_4ec05a47eb2a"
        );
        let content = content_digest(b"[]", "");
        let d = derive(1400000000, "alice", "bob", Some(7), 42, &content);
        assert_eq!(d.msg_key, msg_key(1400000000, "alice", "bob", 7, 42));
        assert_eq!(d.msg_seq, 7);
        // A retry that changed its content is still a retry: MsgSeq says so.
        let other = content_digest(b"[1]", "");
        assert_eq!(derive(1400000000, "alice", "bob", Some(7), 42, &other), d);
    }

    #[test]
    fn a_batch_key_is_the_same_for_every_recipient() {
        let c = content_digest(b"[]", "");
        let k = derive(1, "admin", BATCH_RECIPIENT, Some(7), 42, &c).msg_key;
        assert_ne!(
            k,
            derive(1, "admin", BATCH_RECIPIENT, Some(7), 43, &c).msg_key
        );
        assert_ne!(k, msg_key(1, "admin", "bob", 7, 42));
        // Without MsgSeq too: the recipient is not part of a batch key.
        let a = derive(1, "admin", BATCH_RECIPIENT, None, 42, &c);
        assert_eq!(a, derive(1, "admin", BATCH_RECIPIENT, None, 42, &c));
    }

    #[test]
    fn command_fields_depend_on_the_key_only() {
        let a = command_fields(1, "order-42-shipped");
        assert_eq!(a, command_fields(1, "order-42-shipped"));
        assert_ne!(a, command_fields(1, "order-43-shipped"));
        assert_ne!(a, command_fields(2, "order-42-shipped"));
    }

    #[test]
    fn without_msg_seq_the_content_tells_a_retry_from_a_new_message() {
        let hello = content_digest(
            br#"[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hello"}}]"#,
            "",
        );
        let bye = content_digest(
            br#"[{"MsgType":"TIMTextElem","MsgContent":{"Text":"bye"}}]"#,
            "",
        );
        let a = derive(1, "alice", "bob", None, 42, &hello);
        // A retry: same sender, recipient, MsgRandom and content.
        assert_eq!(a, derive(1, "alice", "bob", None, 42, &hello));
        assert!(
            a.msg_key.starts_with(&format!("{}_42_", a.msg_seq)),
            "{}",
            a.msg_key
        );
        // A different message repeating MsgRandom is a new message.
        let b = derive(1, "alice", "bob", None, 42, &bye);
        assert_ne!(a.msg_key, b.msg_key);
        assert_ne!(a.msg_seq, b.msg_seq);
        // CloudCustomData is content too, and so is every other input.
        assert_ne!(
            a,
            derive(
                1,
                "alice",
                "bob",
                None,
                42,
                &content_digest(
                    br#"[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hello"}}]"#,
                    "x"
                )
            )
        );
        assert_ne!(a, derive(1, "alice", "bob", None, 43, &hello));
        assert_ne!(a, derive(1, "alice", "carol", None, 42, &hello));
        // Field boundaries matter in the content too.
        assert_ne!(content_digest(b"ab", "c"), content_digest(b"a", "bc"));
    }
}

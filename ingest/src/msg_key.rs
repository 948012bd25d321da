//! The `MsgKey` rule (see docs/idempotency.md).
//!
//! `MsgKey = "{MsgSeq}_{MsgRandom}_{h}"`, where `h` is the first 12 hex digits
//! of SHA-256 over the sdkappid, sender, recipient, MsgSeq and MsgRandom.
//! Nothing else (no clock, no instance) enters it, so a retried send gets
//! the same key on any ingest instance, and the views keep the message once.
//! The shape mirrors Tencent's `<MsgSeq>_<MsgRandom>_<MsgTime>` keys.
//!
//! A client that sends no `MsgSeq` gets one derived from the other fields,
//! so its retries stay idempotent too; two different messages then collide
//! only if they repeat the same 32-bit `MsgRandom` in the same conversation.

use sha2::{Digest, Sha256};

fn digest(sdkappid: u64, from: &str, to: &str, msg_seq: Option<u32>, msg_random: u32) -> [u8; 32] {
    let mut h = Sha256::new();
    // Length-prefixed fields: no two different inputs hash the same bytes.
    for part in [
        sdkappid.to_string().as_bytes(),
        from.as_bytes(),
        to.as_bytes(),
        msg_seq
            .map(|s| s.to_string())
            .unwrap_or_default()
            .as_bytes(),
        msg_random.to_string().as_bytes(),
    ] {
        h.update((part.len() as u32).to_be_bytes());
        h.update(part);
    }
    h.finalize().into()
}

/// The MsgSeq a send is recorded with: the client's, or one derived from the
/// send's identity when the client gave none.
pub fn effective_msg_seq(
    sdkappid: u64,
    from: &str,
    to: &str,
    msg_seq: Option<u32>,
    msg_random: u32,
) -> u32 {
    msg_seq.unwrap_or_else(|| {
        let d = digest(sdkappid, from, to, None, msg_random);
        u32::from_be_bytes([d[0], d[1], d[2], d[3]])
    })
}

/// The key of a batch send (`batchsendmsg`): the same for every recipient, as
/// Tencent's is, so one MsgKey recalls the message in each conversation. Keys
/// are unique per conversation, so sharing one across conversations is safe.
pub fn batch_msg_key(sdkappid: u64, from: &str, msg_seq: u32, msg_random: u32) -> String {
    msg_key(sdkappid, from, BATCH_RECIPIENT, msg_seq, msg_random)
}

/// Stands for "every recipient" in a batch key; no user id can contain `*`.
pub const BATCH_RECIPIENT: &str = "*";

/// The `(MsgSeq, MsgRandom)` of a command from the commands topic, derived
/// from its idempotency key alone: a command re-sent with the same key gets
/// the same pair, hence the same MsgKey, and the views keep one message.
/// 64 bits of SHA-256 make two different keys of one sender and recipient
/// collide with probability about n²/2⁶⁵.
pub fn command_fields(sdkappid: u64, command_id: &str) -> (u32, u32) {
    let d = digest(sdkappid, "missive.commands", command_id, None, 0);
    (
        u32::from_be_bytes([d[0], d[1], d[2], d[3]]),
        u32::from_be_bytes([d[4], d[5], d[6], d[7]]),
    )
}

pub fn msg_key(sdkappid: u64, from: &str, to: &str, msg_seq: u32, msg_random: u32) -> String {
    let d = digest(sdkappid, from, to, Some(msg_seq), msg_random);
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
    fn a_batch_key_ignores_the_recipient_but_not_the_rest() {
        let k = batch_msg_key(1, "admin", 7, 42);
        assert_eq!(k, batch_msg_key(1, "admin", 7, 42));
        assert_ne!(k, batch_msg_key(1, "admin", 7, 43));
        assert_ne!(k, msg_key(1, "admin", "bob", 7, 42));
    }

    #[test]
    fn command_fields_depend_on_the_key_only() {
        let a = command_fields(1, "order-42-shipped");
        assert_eq!(a, command_fields(1, "order-42-shipped"));
        assert_ne!(a, command_fields(1, "order-43-shipped"));
        assert_ne!(a, command_fields(2, "order-42-shipped"));
    }

    #[test]
    fn a_missing_msg_seq_is_derived_stably() {
        let a = effective_msg_seq(1, "alice", "bob", None, 42);
        assert_eq!(a, effective_msg_seq(1, "alice", "bob", None, 42));
        assert_ne!(a, effective_msg_seq(1, "alice", "bob", None, 43));
        assert_eq!(effective_msg_seq(1, "alice", "bob", Some(9), 42), 9);
    }
}

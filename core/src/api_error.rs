//! The one place every error a client can see is mapped to Tencent IM's
//! `ErrorCode` / `ErrorInfo` and to an HTTP status. `docs/errors.md` lists them.
//!
//! Tencent answers HTTP 200 for every business error and puts the verdict in
//! `ActionStatus`/`ErrorCode`; missive does the same so ported backends keep
//! working. Only failures of missive's own infrastructure (broker or
//! PostgreSQL unavailable, timeouts) use 503, so load balancers and retry
//! middleware treat them as retryable.

use serde::Serialize;

/// Tencent-compatible error codes that missive returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[repr(u32)]
pub enum ErrorCode {
    /// The HTTP request (URL, query parameters, method) does not parse.
    HttpParse = 60002,
    /// JSON body of a non-message API does not parse.
    JsonParse = 60003,
    /// The sdkappid in the URL is not this app's.
    InvalidSdkAppId = 60006,
    /// No such API.
    NoSuchApi = 60009,
    /// The identifier in the URL is not the app administrator.
    AdminRequired = 60010,
    /// The sdkappid query parameter is missing.
    SdkAppIdMissing = 60012,
    /// The app called this REST API more often than its per-second limit.
    ApiRateLimited = 60007,
    /// One user sent more often than the per-user limit.
    UserRateLimited = 60018,
    UserSigExpired = 70001,
    UserSigEmpty = 70002,
    UserSigInvalid = 70003,
    UserSigInvalidFields = 70005,
    UserSigMismatchKey = 70009,
    UserSigMismatchIdentifier = 70013,
    UserSigMismatchSdkAppId = 70014,
    /// Invalid request packet.
    InvalidRequest = 20001,
    /// sendmsg: `From_Account` or `To_Account` was never imported, or was deleted.
    AccountUnknown = 20003,
    /// The app server's before-send callback refused the message.
    CallbackRefused = 20006,
    /// The sender is muted for one-to-one messages (setnospeaking).
    SenderMuted = 20012,
    /// The sender is on the recipient's blocklist.
    Blocked = 20007,
    /// Friends-only chat and the two are not friends.
    NotFriends = 20009,
    /// The recipient's friend list lacks the sender.
    SenderNotFriendOfRecipient = 20010,
    /// The sender's friend list lacks the recipient.
    RecipientNotFriendOfSender = 20011,
    /// The message to recall does not exist.
    MessageNotFound = 20022,
    /// The message was already recalled.
    AlreadyRecalled = 20023,
    /// Relationship API: bad parameters, already friends, not friends, already blocked, not blocked.
    SnsInvalidRequest = 30001,
    /// Relationship API: the account does not exist.
    SnsAccountNotFound = 30003,
    /// friend_add: the administrator forbade the user to send friend requests (AdminForbid_Type_SendOut).
    SnsAddForbidden = 30009,
    /// Cannot add as a friend: the user is in your blocklist.
    SnsInYourBlocklist = 30515,
    /// friend_add: the target refuses every friend request (AllowType_Type_DenyAny).
    SnsTargetDeniesRequests = 30516,
    /// Cannot add as a friend: you are in the user's blocklist.
    SnsInTheirBlocklist = 30525,
    /// friend_add: the target confirms requests (AllowType_Type_NeedConfirm); the request waits for their answer.
    SnsRequestPending = 30539,
    /// Friend delete: no friend relationship with that account.
    SnsNotFriends = 31704,
    /// Profile API: bad parameters.
    ProfileInvalidRequest = 40001,
    /// Profile API: the account does not exist.
    ProfileAccountNotFound = 40003,
    /// Profile API: no such profile tag.
    ProfileTagUnknown = 40009,
    /// Profile API: a field value is longer than 500 bytes.
    ProfileValueTooLong = 40601,
    /// Profile API: a standard field's value is not one it allows.
    ProfileValueInvalid = 40605,
    /// Profile API: a standard field's value is of the wrong type.
    ProfileValueType = 40610,
    /// Account API: invalid parameters.
    AccountInvalidParameters = 70402,
    /// Account API: the account does not exist (never imported, or deleted).
    AccountNotFound = 70107,
    /// The JSON body of a message API does not parse.
    MsgJsonParse = 90001,
    /// `MsgBody` does not meet the message format.
    MsgBodyFormat = 90002,
    /// `To_Account` missing, not a string, or invalid.
    ToAccountInvalid = 90003,
    /// `MsgSeq` invalid.
    MsgSeqInvalid = 90004,
    /// `MsgRandom` missing or not an integer.
    MsgRandomInvalid = 90005,
    /// importmsg: `MsgTimeStamp` missing, not an integer, or in the future.
    MsgTimeStampInvalid = 90006,
    /// `MsgBody` is not an array.
    MsgBodyNotArray = 90007,
    /// `From_Account` missing or invalid.
    FromAccountInvalid = 90008,
    /// The API needs the app administrator.
    MsgAdminRequired = 90009,
    /// An element does not meet the message format (unknown `MsgType`, wrong field type, out of range).
    ElementFormat = 90010,
    /// More than 500 recipients.
    TooManyRecipients = 90011,
    /// `MsgLifeTime` out of range (0..=604800).
    MsgLifeTimeRange = 90026,
    /// importmsg: `SyncFromOldSystem` missing or not 1, 2 or 5.
    ImportModeInvalid = 90030,
    /// `SyncOtherMachine` invalid.
    SyncOtherMachineInvalid = 90031,
    /// `OfflinePushInfo` does not meet the format.
    OfflinePushInfoFormat = 90043,
    /// `MsgLifeTime` is not an integer.
    MsgLifeTimeType = 90044,
    /// `MsgKey` missing or malformed (recall, edit).
    MsgKeyInvalid = 90054,
    /// Push token API: `From_Account` or `DeviceId` missing or malformed.
    PushInvalidParameters = 96001,
    /// Push token API: `Platform` is not one of apns, fcm, huawei, xiaomi, oppo, vivo, meizu.
    PushPlatformInvalid = 96002,
    /// Push token API: `Token` missing, empty, too long or malformed for its platform.
    PushTokenInvalid = 96003,
    /// Push token API: the token is not registered to `From_Account` (delete).
    PushTokenNotRegistered = 96004,
    /// Message service unavailable (broker or PostgreSQL); retry with the same MsgRandom/MsgSeq.
    ServiceUnavailable = 91000,
    /// The message body is larger than allowed.
    BodyTooLarge = 93000,
}

impl ErrorCode {
    /// Every code missive can return (docs/errors.md lists them all).
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::HttpParse,
        ErrorCode::JsonParse,
        ErrorCode::InvalidSdkAppId,
        ErrorCode::NoSuchApi,
        ErrorCode::AdminRequired,
        ErrorCode::SdkAppIdMissing,
        ErrorCode::ApiRateLimited,
        ErrorCode::UserRateLimited,
        ErrorCode::UserSigExpired,
        ErrorCode::UserSigEmpty,
        ErrorCode::UserSigInvalid,
        ErrorCode::UserSigInvalidFields,
        ErrorCode::UserSigMismatchKey,
        ErrorCode::UserSigMismatchIdentifier,
        ErrorCode::UserSigMismatchSdkAppId,
        ErrorCode::InvalidRequest,
        ErrorCode::AccountUnknown,
        ErrorCode::CallbackRefused,
        ErrorCode::SenderMuted,
        ErrorCode::Blocked,
        ErrorCode::NotFriends,
        ErrorCode::SenderNotFriendOfRecipient,
        ErrorCode::RecipientNotFriendOfSender,
        ErrorCode::MessageNotFound,
        ErrorCode::AlreadyRecalled,
        ErrorCode::SnsInvalidRequest,
        ErrorCode::SnsAccountNotFound,
        ErrorCode::SnsAddForbidden,
        ErrorCode::SnsInYourBlocklist,
        ErrorCode::SnsTargetDeniesRequests,
        ErrorCode::SnsInTheirBlocklist,
        ErrorCode::SnsRequestPending,
        ErrorCode::SnsNotFriends,
        ErrorCode::ProfileInvalidRequest,
        ErrorCode::ProfileAccountNotFound,
        ErrorCode::ProfileTagUnknown,
        ErrorCode::ProfileValueTooLong,
        ErrorCode::ProfileValueInvalid,
        ErrorCode::ProfileValueType,
        ErrorCode::AccountInvalidParameters,
        ErrorCode::AccountNotFound,
        ErrorCode::MsgJsonParse,
        ErrorCode::MsgBodyFormat,
        ErrorCode::ToAccountInvalid,
        ErrorCode::MsgSeqInvalid,
        ErrorCode::MsgRandomInvalid,
        ErrorCode::MsgTimeStampInvalid,
        ErrorCode::MsgBodyNotArray,
        ErrorCode::FromAccountInvalid,
        ErrorCode::MsgAdminRequired,
        ErrorCode::ElementFormat,
        ErrorCode::TooManyRecipients,
        ErrorCode::MsgLifeTimeRange,
        ErrorCode::ImportModeInvalid,
        ErrorCode::SyncOtherMachineInvalid,
        ErrorCode::OfflinePushInfoFormat,
        ErrorCode::MsgLifeTimeType,
        ErrorCode::MsgKeyInvalid,
        ErrorCode::PushInvalidParameters,
        ErrorCode::PushPlatformInvalid,
        ErrorCode::PushTokenInvalid,
        ErrorCode::PushTokenNotRegistered,
        ErrorCode::ServiceUnavailable,
        ErrorCode::BodyTooLarge,
    ];

    pub fn code(self) -> u32 {
        self as u32
    }

    /// The code with this number, if missive has it.
    pub fn from_code(code: u32) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.code() == code)
    }

    /// The HTTP status that goes with this code.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::ServiceUnavailable => 503,
            ErrorCode::ApiRateLimited | ErrorCode::UserRateLimited => 429,
            _ => 200,
        }
    }

    /// Whether the same request may succeed if retried unchanged.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            ErrorCode::ServiceUnavailable | ErrorCode::ApiRateLimited | ErrorCode::UserRateLimited
        )
    }
}

/// An error as a client sees it: a code and a precise, human-readable reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code:?} ({}): {info}", self.client_code())]
pub struct ApiError {
    pub code: ErrorCode,
    pub info: String,
    /// The app server's own code (Tencent: 120001..=130000) when its
    /// before-send callback refused the message: the client sees it instead
    /// of `code` (which stays `CallbackRefused`, 20006, for missive's own
    /// decisions and metrics).
    pub app_code: Option<u32>,
}

/// The codes an app server may pass through to the sender by refusing a
/// message in its before-send callback (Tencent passes them through as is).
pub const APP_SERVER_CODES: std::ops::RangeInclusive<u32> = 120_001..=130_000;

impl ApiError {
    pub fn new(code: ErrorCode, info: impl Into<String>) -> Self {
        Self {
            code,
            info: info.into(),
            app_code: None,
        }
    }

    /// The app server refused with its own `code` (in [`APP_SERVER_CODES`])
    /// and `info`: the sender gets both as they are, as Tencent does.
    pub fn app_server_refusal(code: u32, info: impl Into<String>) -> Self {
        debug_assert!(APP_SERVER_CODES.contains(&code));
        Self {
            code: ErrorCode::CallbackRefused,
            info: info.into(),
            app_code: Some(code),
        }
    }

    /// The `ErrorCode` the client sees: the app server's own code when it
    /// chose one, missive's otherwise.
    pub fn client_code(&self) -> u32 {
        self.app_code.unwrap_or_else(|| self.code.code())
    }

    /// PostgreSQL could not answer: a retryable 91000. The cause is logged,
    /// never returned (it may name hosts or SQL).
    pub fn db_unavailable(e: impl std::fmt::Display) -> Self {
        tracing::warn!(error = %e, "PostgreSQL unavailable");
        Self::new(
            ErrorCode::ServiceUnavailable,
            "the views are unavailable; retry (retries are idempotent)",
        )
    }
}

impl From<crate::usersig::UserSigError> for ApiError {
    fn from(e: crate::usersig::UserSigError) -> Self {
        use crate::usersig::UserSigError as E;
        let code = match &e {
            E::Expired { .. } => ErrorCode::UserSigExpired,
            E::Empty => ErrorCode::UserSigEmpty,
            E::SignatureMismatch => ErrorCode::UserSigMismatchKey,
            E::IdentifierMismatch => ErrorCode::UserSigMismatchIdentifier,
            E::SdkAppIdMismatch => ErrorCode::UserSigMismatchSdkAppId,
            E::UnsupportedVersion
            | E::MissingField(_)
            | E::InvalidField(_)
            | E::IssuedInFuture { .. } => ErrorCode::UserSigInvalidFields,
            _ => ErrorCode::UserSigInvalid,
        };
        debug_assert_eq!(code.code(), e.tencent_code());
        ApiError::new(code, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_errors_md_lists_every_code_with_its_http_status() {
        let doc = include_str!("../../docs/errors.md");
        for code in ErrorCode::ALL {
            let row = format!("| {} | {} |", code.code(), code.http_status());
            assert!(
                doc.contains(&row),
                "docs/errors.md lacks the row `{row}` for {code:?}"
            );
        }
        let mut codes: Vec<u32> = ErrorCode::ALL.iter().map(|c| c.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), ErrorCode::ALL.len(), "a code is listed twice");
    }

    #[test]
    fn every_usersig_failure_maps_to_tencents_code() {
        use crate::usersig::UserSigVerifier;
        let v = UserSigVerifier::new(1400000000, "k".to_owned().into());
        let other_key = UserSigVerifier::new(1400000000, "other".to_owned().into());
        let other_app = UserSigVerifier::new(1400000001, "k".to_owned().into());
        let cases = [
            (v.verify("", "a", 100), 70002),
            (v.verify("@@@", "a", 100), 70003),
            (v.verify(&v.generate("a", 10, 100), "a", 1000), 70001),
            (v.verify(&other_key.generate("a", 10, 100), "a", 100), 70009),
            (v.verify(&v.generate("b", 10, 100), "a", 100), 70013),
            (v.verify(&other_app.generate("a", 10, 100), "a", 100), 70014),
        ];
        for (result, code) in cases {
            let e = ApiError::from(result.unwrap_err());
            assert_eq!(e.code.code(), code, "{e}");
        }
    }
}

//! The account checks of a send, in one place: Tencent refuses a message
//! to or from an account that does not exist (20003) and from a sender muted
//! for one-to-one messages (20012).

use missive_core::views::SendContext;
use missive_core::{time, ApiError, Config, ErrorCode};
use missive_schemas::Channel;

use super::send::SendRequest;
use super::Actor;

/// Refuses the send when an account rule forbids it.
///
/// - A **deleted** account can neither send nor be messaged, on any channel.
/// - An account that was **never imported** can neither send nor be messaged
///   through the REST API and the commands topic, unless
///   `accounts.allow_unknown` keeps the older permissive behaviour. WebSocket
///   users are not required to be imported (Tencent imports an account at
///   its first SDK login; a missive UserSig is proof enough), so there only
///   deletions count.
/// - A **muted** sender (`setnospeaking`) is refused until the mute ends.
///
/// The app administrator itself needs no import and is never muted.
pub fn check_send(
    config: &Config,
    actor: &Actor,
    req: &SendRequest,
    ctx: &SendContext,
) -> Result<(), ApiError> {
    let admin = config.admin_identifier.as_str();
    let unknown = |who: &str, field: &str| {
        ApiError::new(
            ErrorCode::AccountUnknown,
            format!("{field} {who:?} is not an account: it was never imported, or was deleted"),
        )
    };
    if ctx.sender_account.deleted && req.from != admin {
        return Err(unknown(&req.from, "From_Account"));
    }
    if ctx.recipient_account.deleted && req.to != admin {
        return Err(unknown(&req.to, "To_Account"));
    }
    let requires_import = matches!(actor.channel, Channel::Rest | Channel::Commands)
        && !config.accounts.allow_unknown;
    if requires_import {
        if !ctx.sender_account.imported && req.from != admin {
            return Err(unknown(&req.from, "From_Account"));
        }
        if !ctx.recipient_account.imported && req.to != admin {
            return Err(unknown(&req.to, "To_Account"));
        }
    }
    if req.from != admin && ctx.sender_muted_until_ms > time::now_millis() {
        return Err(ApiError::new(
            ErrorCode::SenderMuted,
            format!(
                "{:?} is muted for one-to-one messages (setnospeaking)",
                req.from
            ),
        ));
    }
    Ok(())
}

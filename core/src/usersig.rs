//! UserSig: the user signature of Tencent Cloud IM, version 2 (`"TLS.ver": "2.0"`).
//!
//! A UserSig proves that the app's backend, which holds the app's secret key,
//! let `identifier` use app `sdkappid` from `TLS.time` for `TLS.expire`
//! seconds. It is what Tencent's public libraries (`tls-sig-api-v2` for Python,
//! Go, Java, Node, PHP, C#, C++) produce, byte for byte the same format, so a
//! backend that issues signatures for Tencent IM can issue them for missive.
//!
//! # Format
//!
//! A JSON object, as the reference libraries write it (the Python one, which
//! [`UserSigVerifier::generate`] copies byte for byte):
//!
//! ```text
//! {"TLS.ver": "2.0", "TLS.identifier": "alice", "TLS.sdkappid": 1400000000,
//!  "TLS.expire": 15552000, "TLS.time": 1700000000, "TLS.sig": "<base64>"}
//! ```
//!
//! with an optional `"TLS.userbuf": "<base64>"` before `TLS.sig`.
//! `TLS.sig` is the standard base64 of HMAC-SHA256, keyed with the secret
//! key's UTF-8 bytes, over
//!
//! ```text
//! "TLS.identifier:" id "\n" "TLS.sdkappid:" appid "\n" "TLS.time:" time "\n" "TLS.expire:" expire "\n"
//! ```
//!
//! plus `"TLS.userbuf:" userbuf_base64 "\n"` when a userbuf is present. The
//! JSON is zlib-compressed, base64-encoded (standard alphabet, padded) and
//! then `+` → `*`, `/` → `-`, `=` → `_`.
//!
//! # What the verifier accepts
//!
//! Strict where every reference verifier is strict, lenient where one of them
//! (Go's `VerifyUserSig`, PHP's `verifySig`, the C++ decoder) is lenient:
//!
//! * keys in any order, any JSON whitespace, escaped slashes (`\/`, as PHP's
//!   `json_encode` writes), any zlib compression level (Go stores, C++ uses
//!   level 1), trailing data after the zlib stream (Go and Python ignore it);
//! * the outer base64 with or without its padding, with ASCII whitespace
//!   anywhere (the C++ decoder strips it), and with `+`, `/`, `=` left
//!   unescaped (every reference decoder only maps `*`, `-`, `_` back);
//! * `TLS.sdkappid`, `TLS.time` and `TLS.expire` as JSON integers or as strings
//!   of decimal digits (PHP compares loosely); floats, negatives and other
//!   types are refused;
//! * `TLS.ver` absent (Go and PHP ignore it) or `"2.0"`; anything else, or
//!   the version-1 layout (`TLS.version`, ECDSA), is refused;
//! * `TLS.userbuf` when present is bound into the HMAC like the references do.
//!
//! Checks, in order: size limits, decoding, fields, `TLS.sdkappid`
//! (70014), `TLS.identifier` (70013), the HMAC in constant time (70009),
//! expiry `now > time + expire` (70001), and a `TLS.time` more than
//! [`MAX_CLOCK_SKEW_SECS`] in the future. Time is checked after the HMAC, so
//! an "expired" answer is only ever given for a signature the key really
//! made. See [`UserSigError::tencent_code`] for the codes.

use std::fmt;
use std::io::Write as _;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use flate2::write::ZlibEncoder;
use flate2::{Compression, Decompress, FlushDecompress, Status};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The only version this module speaks.
pub const USERSIG_VERSION: &str = "2.0";

/// Longest UserSig string accepted, checked before anything is decoded.
/// Real signatures are 150–400 characters.
pub const MAX_USERSIG_LEN: usize = 4096;

/// Largest decompressed JSON accepted; decompression stops there, so a zlib
/// bomb costs at most this much memory.
pub const MAX_DECOMPRESSED_LEN: usize = 4096;

/// How far in the future `TLS.time` may lie (issuer's clock ahead of ours).
pub const MAX_CLOCK_SKEW_SECS: u64 = 300;

/// Longest decimal string accepted for a numeric field (`u64::MAX` has 20 digits).
const MAX_DIGITS: usize = 20;

/// Standard alphabet; padding optional; non-zero trailing bits tolerated (as
/// Python's, Go's and PHP's decoders do).
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Why a UserSig was refused. Each variant maps to the code Tencent Cloud IM
/// returns for the same failure ([`UserSigError::tencent_code`]).
///
/// Messages never contain the secret key nor any text taken from the
/// signature.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum UserSigError {
    /// The UserSig is empty (or only whitespace).
    #[error("UserSig is empty")]
    Empty,
    /// The UserSig string is longer than [`MAX_USERSIG_LEN`].
    #[error("UserSig is {len} bytes long, more than the {max} accepted", max = MAX_USERSIG_LEN)]
    TooLong { len: usize },
    /// The UserSig is not base64 (after `*`→`+`, `-`→`/`, `_`→`=`).
    #[error("UserSig is not valid base64; it may have been truncated")]
    Base64,
    /// The decoded bytes are not a complete zlib stream.
    #[error("UserSig does not decompress (not a complete zlib stream)")]
    Decompress,
    /// The decompressed content is larger than [`MAX_DECOMPRESSED_LEN`].
    #[error("UserSig decompresses to more than {max} bytes", max = MAX_DECOMPRESSED_LEN)]
    DecompressedTooLarge,
    /// The decompressed content is not a JSON object.
    #[error("UserSig content is not a JSON object")]
    Json,
    /// `TLS.ver` is not `"2.0"`, or the signature is in the version-1 layout.
    #[error("UserSig version is not supported (only TLS.ver 2.0 is)")]
    UnsupportedVersion,
    /// A required field (`TLS.identifier`, `TLS.sdkappid`, `TLS.time`,
    /// `TLS.expire`, `TLS.sig`) is absent or null.
    #[error("UserSig field {0} is missing")]
    MissingField(&'static str),
    /// A field has the wrong type or an impossible value.
    #[error("UserSig field {0} is malformed")]
    InvalidField(&'static str),
    /// The signature was issued for another SDKAppID.
    #[error("the SDKAppID in the request does not match the one the UserSig was generated with")]
    SdkAppIdMismatch,
    /// The signature was issued for another user.
    #[error("the UserID in the request does not match the one the UserSig was generated with")]
    IdentifierMismatch,
    /// The HMAC does not match: made with another key (or tampered with).
    #[error("UserSig verification failed: it was not generated with this SDKAppID's secret key")]
    SignatureMismatch,
    /// `now > TLS.time + TLS.expire`.
    #[error("UserSig expired at {expires_at} (unix seconds); generate a new one")]
    Expired { expires_at: u64 },
    /// `TLS.time` lies more than [`MAX_CLOCK_SKEW_SECS`] in the future.
    #[error(
        "UserSig was issued at {issued_at} (unix seconds), in the future; check the issuer's clock"
    )]
    IssuedInFuture { issued_at: u64 },
}

impl UserSigError {
    /// The error code Tencent Cloud IM returns for this failure.
    ///
    /// | code  | Tencent's meaning | variants |
    /// |-------|-------------------|----------|
    /// | 70001 | UserSig expired | `Expired` |
    /// | 70002 | UserSig is 0 bytes | `Empty` |
    /// | 70003 | UserSig check failed: parse failure, possibly truncated | `TooLong`, `Base64`, `Decompress`, `DecompressedTooLarge`, `Json` |
    /// | 70005 | UserSig check failed; check the generated UserSig with a tool | `UnsupportedVersion`, `MissingField`, `InvalidField`, `IssuedInFuture` |
    /// | 70009 | UserSig verification with the key failed (key of another SDKAppID) | `SignatureMismatch` |
    /// | 70013 | UserID in the request differs from the UserSig's | `IdentifierMismatch` |
    /// | 70014 | SDKAppID in the request differs from the UserSig's | `SdkAppIdMismatch` |
    ///
    /// Tencent documents no code of its own for a `TLS.time` in the future;
    /// missive answers 70005 for it.
    pub fn tencent_code(&self) -> u32 {
        match self {
            UserSigError::Expired { .. } => 70001,
            UserSigError::Empty => 70002,
            UserSigError::TooLong { .. }
            | UserSigError::Base64
            | UserSigError::Decompress
            | UserSigError::DecompressedTooLarge
            | UserSigError::Json => 70003,
            UserSigError::UnsupportedVersion
            | UserSigError::MissingField(_)
            | UserSigError::InvalidField(_)
            | UserSigError::IssuedInFuture { .. } => 70005,
            UserSigError::SignatureMismatch => 70009,
            UserSigError::IdentifierMismatch => 70013,
            UserSigError::SdkAppIdMismatch => 70014,
        }
    }
}

/// What a valid UserSig vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedUserSig {
    pub identifier: String,
    pub sdkappid: u64,
    /// `TLS.time`, unix seconds.
    pub issued_at: u64,
    /// `TLS.time + TLS.expire`, unix seconds; valid up to and including this second.
    pub expires_at: u64,
}

/// Issues and verifies the UserSigs of one app (one SDKAppID and its secret key).
///
/// `Debug` shows the SDKAppID only; the key is never printed.
#[derive(Clone)]
pub struct UserSigVerifier {
    sdkappid: u64,
    key: SecretString,
}

impl fmt::Debug for UserSigVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserSigVerifier")
            .field("sdkappid", &self.sdkappid)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

impl UserSigVerifier {
    pub fn new(sdkappid: u64, secret_key: SecretString) -> Self {
        UserSigVerifier {
            sdkappid,
            key: secret_key,
        }
    }

    /// The SDKAppID this verifier accepts.
    pub fn sdkappid(&self) -> u64 {
        self.sdkappid
    }

    /// Issue a signature (for tests, the `missive token` CLI and dev tools).
    ///
    /// The JSON is byte for byte what Tencent's Python `TLSSigAPIv2.genUserSig`
    /// writes for the same inputs (same key order, same `", "`/`": "`
    /// separators, same ASCII-only string escaping), compressed at zlib's
    /// default level. Tencent's own verifiers accept the result.
    pub fn generate(&self, identifier: &str, expire_secs: u64, now_unix: u64) -> String {
        self.generate_with_userbuf(identifier, expire_secs, now_unix, None)
    }

    fn generate_with_userbuf(
        &self,
        identifier: &str,
        expire_secs: u64,
        now_unix: u64,
        userbuf: Option<&[u8]>,
    ) -> String {
        let userbuf_b64 = userbuf.map(|b| STANDARD.encode(b));
        let mac = self.mac(
            identifier,
            self.sdkappid,
            now_unix,
            expire_secs,
            userbuf_b64.as_deref(),
        );
        let sig_b64 = STANDARD.encode(mac.finalize().into_bytes());

        let mut json = String::with_capacity(256);
        json.push_str("{\"TLS.ver\": \"2.0\", \"TLS.identifier\": ");
        push_python_json_string(&mut json, identifier);
        json.push_str(&format!(
            ", \"TLS.sdkappid\": {}, \"TLS.expire\": {}, \"TLS.time\": {}",
            self.sdkappid, expire_secs, now_unix
        ));
        if let Some(b) = &userbuf_b64 {
            json.push_str(", \"TLS.userbuf\": ");
            push_python_json_string(&mut json, b);
        }
        json.push_str(", \"TLS.sig\": ");
        push_python_json_string(&mut json, &sig_b64);
        json.push('}');

        let mut encoder = ZlibEncoder::new(Vec::with_capacity(json.len()), Compression::default());
        // Writing into a Vec cannot fail.
        encoder.write_all(json.as_bytes()).expect("zlib into a Vec");
        let compressed = encoder.finish().expect("zlib into a Vec");
        escape_base64(&STANDARD.encode(compressed))
    }

    /// Verify `sig` for `identifier` at time `now_unix`.
    ///
    /// Never panics; allocates at most a few KiB whatever the input.
    pub fn verify(
        &self,
        sig: &str,
        identifier: &str,
        now_unix: u64,
    ) -> Result<VerifiedUserSig, UserSigError> {
        let doc = decode_document(sig)?;
        let fields = Fields::from_document(&doc)?;

        if fields.sdkappid != self.sdkappid {
            return Err(UserSigError::SdkAppIdMismatch);
        }
        if fields.identifier != identifier {
            return Err(UserSigError::IdentifierMismatch);
        }
        let mac = self.mac(
            fields.identifier,
            fields.sdkappid,
            fields.time,
            fields.expire,
            fields.userbuf,
        );
        mac.verify_slice(&fields.sig)
            .map_err(|_| UserSigError::SignatureMismatch)?;

        let expires_at = fields
            .time
            .checked_add(fields.expire)
            .ok_or(UserSigError::InvalidField("TLS.expire"))?;
        if now_unix > expires_at {
            return Err(UserSigError::Expired { expires_at });
        }
        if fields.time > now_unix.saturating_add(MAX_CLOCK_SKEW_SECS) {
            return Err(UserSigError::IssuedInFuture {
                issued_at: fields.time,
            });
        }
        Ok(VerifiedUserSig {
            identifier: fields.identifier.to_owned(),
            sdkappid: fields.sdkappid,
            issued_at: fields.time,
            expires_at,
        })
    }

    /// The HMAC over the reference's content string, fed piecewise.
    fn mac(
        &self,
        identifier: &str,
        sdkappid: u64,
        time: u64,
        expire: u64,
        userbuf_b64: Option<&str>,
    ) -> HmacSha256 {
        // HMAC takes keys of any length, so this cannot fail.
        let mut mac = HmacSha256::new_from_slice(self.key.expose_secret().as_bytes())
            .expect("HMAC accepts keys of any length");
        mac.update(b"TLS.identifier:");
        mac.update(identifier.as_bytes());
        mac.update(b"\nTLS.sdkappid:");
        mac.update(sdkappid.to_string().as_bytes());
        mac.update(b"\nTLS.time:");
        mac.update(time.to_string().as_bytes());
        mac.update(b"\nTLS.expire:");
        mac.update(expire.to_string().as_bytes());
        mac.update(b"\n");
        if let Some(b) = userbuf_b64 {
            mac.update(b"TLS.userbuf:");
            mac.update(b.as_bytes());
            mac.update(b"\n");
        }
        mac
    }
}

/// The fields of a decoded UserSig, borrowed from its JSON.
struct Fields<'a> {
    identifier: &'a str,
    sdkappid: u64,
    time: u64,
    expire: u64,
    userbuf: Option<&'a str>,
    sig: Vec<u8>,
}

impl<'a> Fields<'a> {
    fn from_document(doc: &'a Map<String, Value>) -> Result<Self, UserSigError> {
        match doc.get("TLS.ver") {
            None | Some(Value::Null) if doc.contains_key("TLS.version") => {
                return Err(UserSigError::UnsupportedVersion)
            }
            None | Some(Value::Null) => {}
            Some(Value::String(v)) if v == USERSIG_VERSION => {}
            Some(_) => return Err(UserSigError::UnsupportedVersion),
        }
        let identifier = match required(doc, "TLS.identifier")? {
            Value::String(s) => s.as_str(),
            _ => return Err(UserSigError::InvalidField("TLS.identifier")),
        };
        let sdkappid = number(doc, "TLS.sdkappid")?;
        let time = number(doc, "TLS.time")?;
        let expire = number(doc, "TLS.expire")?;
        let userbuf = match doc.get("TLS.userbuf") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => return Err(UserSigError::InvalidField("TLS.userbuf")),
        };
        let sig = match required(doc, "TLS.sig")? {
            Value::String(s) => decode_mac_field(s).ok_or(UserSigError::InvalidField("TLS.sig"))?,
            _ => return Err(UserSigError::InvalidField("TLS.sig")),
        };
        Ok(Fields {
            identifier,
            sdkappid,
            time,
            expire,
            userbuf,
            sig,
        })
    }
}

fn required<'a>(
    doc: &'a Map<String, Value>,
    name: &'static str,
) -> Result<&'a Value, UserSigError> {
    match doc.get(name) {
        None | Some(Value::Null) => Err(UserSigError::MissingField(name)),
        Some(v) => Ok(v),
    }
}

/// A non-negative integer, given as a JSON integer or as a string of digits.
fn number(doc: &Map<String, Value>, name: &'static str) -> Result<u64, UserSigError> {
    let invalid = UserSigError::InvalidField(name);
    match required(doc, name)? {
        Value::Number(n) => n.as_u64().ok_or(invalid),
        Value::String(s)
            if !s.is_empty() && s.len() <= MAX_DIGITS && s.bytes().all(|b| b.is_ascii_digit()) =>
        {
            s.parse::<u64>().map_err(|_| invalid)
        }
        _ => Err(invalid),
    }
}

/// `TLS.sig`: standard base64 of a 32-byte HMAC-SHA256.
fn decode_mac_field(s: &str) -> Option<Vec<u8>> {
    if s.len() > 64 {
        return None;
    }
    let bytes = LENIENT_BASE64.decode(s.as_bytes()).ok()?;
    (bytes.len() == 32).then_some(bytes)
}

/// Undo the URL escaping and base64, inflate within bounds, parse the JSON object.
fn decode_document(sig: &str) -> Result<Map<String, Value>, UserSigError> {
    if sig.len() > MAX_USERSIG_LEN {
        return Err(UserSigError::TooLong { len: sig.len() });
    }
    let b64: Vec<u8> = sig
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .map(|b| match b {
            b'*' => b'+',
            b'-' => b'/',
            b'_' => b'=',
            other => other,
        })
        .collect();
    if b64.is_empty() {
        return Err(UserSigError::Empty);
    }
    let compressed = LENIENT_BASE64
        .decode(&b64)
        .map_err(|_| UserSigError::Base64)?;
    let json = inflate_bounded(&compressed, MAX_DECOMPRESSED_LEN)?;
    match serde_json::from_slice::<Value>(&json) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(UserSigError::Json),
    }
}

/// Inflate one complete zlib stream into at most `limit` bytes. The output
/// buffer is allocated once with `limit + 1` bytes and never grows: reaching
/// it means the content is too large, whatever the input claims.
fn inflate_bounded(input: &[u8], limit: usize) -> Result<Vec<u8>, UserSigError> {
    let mut inflater = Decompress::new(true);
    let mut out = Vec::with_capacity(limit + 1);
    loop {
        let consumed = usize::try_from(inflater.total_in()).unwrap_or(usize::MAX);
        let rest = input.get(consumed..).unwrap_or_default();
        let produced_before = inflater.total_out();
        let status = inflater
            .decompress_vec(rest, &mut out, FlushDecompress::Finish)
            .map_err(|_| UserSigError::Decompress)?;
        if out.len() > limit {
            return Err(UserSigError::DecompressedTooLarge);
        }
        match status {
            Status::StreamEnd => return Ok(out),
            Status::Ok | Status::BufError => {
                let progressed = inflater.total_out() != produced_before
                    || usize::try_from(inflater.total_in()).unwrap_or(usize::MAX) != consumed;
                if out.len() == out.capacity() {
                    // Output full before the end of the stream.
                    return Err(UserSigError::DecompressedTooLarge);
                }
                if !progressed {
                    // Input used up, or stuck, before the end of the stream.
                    return Err(UserSigError::Decompress);
                }
            }
        }
    }
}

/// `+` → `*`, `/` → `-`, `=` → `_`.
fn escape_base64(b64: &str) -> String {
    b64.chars()
        .map(|c| match c {
            '+' => '*',
            '/' => '-',
            '=' => '_',
            other => other,
        })
        .collect()
}

/// Append `s` as a JSON string the way Python's `json.dumps` (with its
/// default `ensure_ascii=True`) writes it: printable ASCII as is, `"` and `\`
/// escaped, `\n \r \t \b \f` in short form, everything else as lowercase
/// `\uXXXX` (UTF-16, surrogate pairs above U+FFFF).
fn push_python_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{:04x}", unit));
                }
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    /// The SDKAppID and key of Tencent's own examples (README of every
    /// `tls-sig-api-v2` library).
    const APP: u64 = 1_400_000_000;
    const KEY: &str = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";
    const T0: u64 = 1_700_000_000;
    const EXPIRE_180_DAYS: u64 = 86_400 * 180;

    /// Produced by the algorithm of tencentyun/tls-sig-api-v2-python
    /// (`TLSSigAPIv2.__gen_sig`, run with `curr_time = 1700000000`):
    /// `genUserSig("xiaojun", 86400*180)` with the key above.
    const PY_SIG: &str = "eJyrVgrxCdYrSy1SslJQMtIzUNJRAItkpqTmlWSmZUIkKjIT87NK82CSxSnZiQUFmSlAKUMTAyiAyqVWFGQWpYJkTE1NjRDiJZm5YFFzNPXFmekgG3zKHM1T9D3LzdODi-OKs8vCqpxcAvydnV2SSv2cy03cPcpDnA2SMgu0nUxslWoBHdYzUg__";
    /// The JSON inside `PY_SIG` (Python's `json.dumps` output).
    const PY_JSON: &str = r#"{"TLS.ver": "2.0", "TLS.identifier": "xiaojun", "TLS.sdkappid": 1400000000, "TLS.expire": 15552000, "TLS.time": 1700000000, "TLS.sig": "LvA7d/Iw7gSsnskvVzBDPOCCDbuNCw4GHwTC0bip+B4="}"#;
    /// The HMAC field of `PY_SIG`.
    const PY_MAC: &str = "LvA7d/Iw7gSsnskvVzBDPOCCDbuNCw4GHwTC0bip+B4=";
    /// Same algorithm, with userbuf = bytes 0..40, expire 300, time T0.
    const PY_SIG_USERBUF: &str = "eJxdjssOgjAURH-FdIsxgG8TFqWAgPgAJMKySsGqKEErjcZ-FxVdeJfnTGbuHSwdv3UlBRg1gNwSQbPxJjQmxwtN6Edwik87dvzKc7zHeU7jSkkdsb7aEZ7TglSm-UMXmr2A1P*LsjMp1ix5DUCoI1i6hppuLOSeHA2Kc41DT99OA8OLwrG6x2NexuZ2kFq*tbNRkNmlovw*oum7xl6kNx0JTBj2zZnfPWSB7q0E0-ATST6EDsGTXoSRzMOBAh5PR6dIiw__";

    fn verifier() -> UserSigVerifier {
        UserSigVerifier::new(APP, SecretString::from(KEY))
    }

    /// zlib at `level`, base64, Tencent's escaping.
    fn pack(json: &[u8], level: u32) -> String {
        let mut e = ZlibEncoder::new(Vec::new(), Compression::new(level));
        e.write_all(json).unwrap();
        escape_base64(&STANDARD.encode(e.finish().unwrap()))
    }

    fn unpack(sig: &str) -> String {
        let unescaped: String = sig
            .chars()
            .map(|c| match c {
                '*' => '+',
                '-' => '/',
                '_' => '=',
                o => o,
            })
            .collect();
        let bytes = STANDARD.decode(unescaped).unwrap();
        let mut s = String::new();
        flate2::read::ZlibDecoder::new(&bytes[..])
            .read_to_string(&mut s)
            .unwrap();
        s
    }

    fn err(sig: &str) -> UserSigError {
        verifier().verify(sig, "xiaojun", T0).unwrap_err()
    }

    #[test]
    fn round_trip() {
        let v = verifier();
        let sig = v.generate("alice", 3600, T0);
        let ok = v.verify(&sig, "alice", T0 + 10).unwrap();
        assert_eq!(
            ok,
            VerifiedUserSig {
                identifier: "alice".into(),
                sdkappid: APP,
                issued_at: T0,
                expires_at: T0 + 3600
            }
        );
        // The last valid second, inclusive (as the references: `now > time + expire`).
        assert!(v.verify(&sig, "alice", T0 + 3600).is_ok());
        // Only Tencent's alphabet in the output.
        assert!(
            sig.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"*-_".contains(&b)),
            "{sig}"
        );
    }

    #[test]
    fn accepts_python_reference_vector() {
        let ok = verifier().verify(PY_SIG, "xiaojun", T0 + 60).unwrap();
        assert_eq!(ok.issued_at, T0);
        assert_eq!(ok.expires_at, T0 + EXPIRE_180_DAYS);
        assert_eq!(ok.identifier, "xiaojun");
        assert_eq!(ok.sdkappid, APP);
    }

    #[test]
    fn generator_writes_python_reference_json_byte_for_byte() {
        let sig = verifier().generate("xiaojun", EXPIRE_180_DAYS, T0);
        assert_eq!(unpack(&sig), PY_JSON);
        assert_eq!(unpack(PY_SIG), PY_JSON);
    }

    #[test]
    fn accepts_python_reference_vector_with_userbuf() {
        let v = verifier();
        let ok = v.verify(PY_SIG_USERBUF, "xiaojun", T0).unwrap();
        assert_eq!(ok.expires_at, T0 + 300);
        let ours =
            v.generate_with_userbuf("xiaojun", 300, T0, Some(&(0u8..40).collect::<Vec<_>>()));
        assert_eq!(unpack(&ours), unpack(PY_SIG_USERBUF));
        // The userbuf is bound into the HMAC.
        let tampered = unpack(PY_SIG_USERBUF).replace("AAECAwQF", "AAECAwQG");
        assert_eq!(
            v.verify(&pack(tampered.as_bytes(), 6), "xiaojun", T0)
                .unwrap_err(),
            UserSigError::SignatureMismatch
        );
    }

    #[test]
    fn python_escaping_of_identifiers() {
        // json.dumps("a\"b\\c\nd\x7fé😀\x01") in Python 3.11:
        let mut s = String::new();
        push_python_json_string(&mut s, "a\"b\\c\nd\u{7f}é😀\u{1}");
        assert_eq!(s, r#""a\"b\\c\nd\u007f\u00e9\ud83d\ude00\u0001""#);
        let v = verifier();
        let id = "用户/ü \"x\"";
        assert_eq!(
            v.verify(&v.generate(id, 60, T0), id, T0)
                .unwrap()
                .identifier,
            id
        );
    }

    #[test]
    fn accepts_other_reference_libraries_layouts() {
        let v = verifier();
        let expect_ok = |json: &str, level: u32| {
            let sig = pack(json.as_bytes(), level);
            v.verify(&sig, "xiaojun", T0)
                .unwrap_or_else(|e| panic!("{json}: {e}"));
        };
        // Go: compact, struct order, trailing newline, zlib.NoCompression.
        expect_ok(
            &format!("{{\"TLS.ver\":\"2.0\",\"TLS.identifier\":\"xiaojun\",\"TLS.sdkappid\":1400000000,\"TLS.expire\":15552000,\"TLS.time\":1700000000,\"TLS.sig\":\"{PY_MAC}\"}}\n"),
            0,
        );
        // C++ (rapidjson): sdkappid before identifier, time before expire, Z_BEST_SPEED.
        expect_ok(
            &format!("{{\"TLS.ver\":\"2.0\",\"TLS.sdkappid\":1400000000,\"TLS.identifier\":\"xiaojun\",\"TLS.time\":1700000000,\"TLS.expire\":15552000,\"TLS.sig\":\"{PY_MAC}\"}}"),
            1,
        );
        // PHP json_encode: escaped slashes.
        expect_ok(
            &format!("{{\"TLS.ver\":\"2.0\",\"TLS.identifier\":\"xiaojun\",\"TLS.sdkappid\":1400000000,\"TLS.expire\":15552000,\"TLS.time\":1700000000,\"TLS.sig\":\"{}\"}}", PY_MAC.replace('/', "\\/")),
            6,
        );
        // Numbers as digit strings (PHP's verifier compares loosely); no TLS.ver (Go and PHP ignore it).
        expect_ok(
            &format!("{{\"TLS.identifier\":\"xiaojun\",\"TLS.sdkappid\":\"1400000000\",\"TLS.expire\":\"15552000\",\"TLS.time\":\"1700000000\",\"TLS.sig\":\"{PY_MAC}\"}}"),
            9,
        );
        // Outer base64 unpadded, with whitespace, and with `+`/`/` unescaped.
        let unpadded = PY_SIG.trim_end_matches('_');
        assert!(v.verify(unpadded, "xiaojun", T0).is_ok());
        assert!(v
            .verify(
                &format!(" {}\n{} ", &PY_SIG[..50], &PY_SIG[50..]),
                "xiaojun",
                T0
            )
            .is_ok());
        let std_alphabet = PY_SIG.replace('*', "+").replace('-', "/").replace('_', "=");
        assert!(v.verify(&std_alphabet, "xiaojun", T0).is_ok());
    }

    #[test]
    fn expired() {
        let v = verifier();
        let sig = v.generate("xiaojun", 60, T0);
        let e = v.verify(&sig, "xiaojun", T0 + 61).unwrap_err();
        assert_eq!(
            e,
            UserSigError::Expired {
                expires_at: T0 + 60
            }
        );
        assert_eq!(e.tencent_code(), 70001);
        let e = v
            .verify(PY_SIG, "xiaojun", T0 + EXPIRE_180_DAYS + 1)
            .unwrap_err();
        assert_eq!(e.tencent_code(), 70001);
    }

    #[test]
    fn issued_in_the_future() {
        let v = verifier();
        let sig = v.generate("xiaojun", 3600, T0 + MAX_CLOCK_SKEW_SECS + 1);
        let e = v.verify(&sig, "xiaojun", T0).unwrap_err();
        assert_eq!(
            e,
            UserSigError::IssuedInFuture {
                issued_at: T0 + MAX_CLOCK_SKEW_SECS + 1
            }
        );
        assert_eq!(e.tencent_code(), 70005);
        // Within the skew allowance it is fine.
        let sig = v.generate("xiaojun", 3600, T0 + MAX_CLOCK_SKEW_SECS);
        assert!(v.verify(&sig, "xiaojun", T0).is_ok());
    }

    #[test]
    fn wrong_key() {
        let other = UserSigVerifier::new(APP, SecretString::from("another key"));
        let e = verifier()
            .verify(&other.generate("xiaojun", 3600, T0), "xiaojun", T0)
            .unwrap_err();
        assert_eq!(e, UserSigError::SignatureMismatch);
        assert_eq!(e.tencent_code(), 70009);
        // A forged MAC of the right shape.
        let forged = PY_JSON.replace(PY_MAC, &STANDARD.encode([7u8; 32]));
        assert_eq!(
            err(&pack(forged.as_bytes(), 6)),
            UserSigError::SignatureMismatch
        );
        // Fields changed after signing.
        let longer = PY_JSON.replace("15552000", "15552001");
        assert_eq!(
            err(&pack(longer.as_bytes(), 6)),
            UserSigError::SignatureMismatch
        );
        // Wrong key and expired: the key is reported, not the expiry.
        let e = verifier()
            .verify(&other.generate("xiaojun", 1, T0), "xiaojun", T0 + 100)
            .unwrap_err();
        assert_eq!(e, UserSigError::SignatureMismatch);
    }

    #[test]
    fn foreign_sdkappid() {
        let other = UserSigVerifier::new(1_400_000_001, SecretString::from(KEY));
        let e = verifier()
            .verify(&other.generate("xiaojun", 3600, T0), "xiaojun", T0)
            .unwrap_err();
        assert_eq!(e, UserSigError::SdkAppIdMismatch);
        assert_eq!(e.tencent_code(), 70014);
    }

    #[test]
    fn wrong_identifier() {
        let e = verifier().verify(PY_SIG, "mallory", T0).unwrap_err();
        assert_eq!(e, UserSigError::IdentifierMismatch);
        assert_eq!(e.tencent_code(), 70013);
        // Case matters.
        assert_eq!(
            verifier().verify(PY_SIG, "XiaoJun", T0).unwrap_err(),
            UserSigError::IdentifierMismatch
        );
    }

    #[test]
    fn empty() {
        assert_eq!(err(""), UserSigError::Empty);
        assert_eq!(err(" \n"), UserSigError::Empty);
        assert_eq!(err("").tencent_code(), 70002);
    }

    #[test]
    fn garbage_base64() {
        for junk in ["!!!!", "eJyr$Vgr", "a", "abcde", "ab_cd", "日本語"] {
            let e = err(junk);
            assert_eq!(e, UserSigError::Base64, "{junk}");
            assert_eq!(e.tencent_code(), 70003);
        }
        // Truncated in the middle of a base64 quantum.
        assert_eq!(err(&PY_SIG[..PY_SIG.len() - 3]), UserSigError::Base64);
    }

    #[test]
    fn valid_base64_of_non_zlib() {
        let e = err(&escape_base64(&STANDARD.encode(b"this is not zlib at all")));
        assert_eq!(e, UserSigError::Decompress);
        assert_eq!(e.tencent_code(), 70003);
        // A zlib stream cut short (whole base64 quanta removed) or with a bad checksum.
        let raw = STANDARD
            .decode(PY_SIG.replace('*', "+").replace('-', "/").replace('_', "="))
            .unwrap();
        let cut = escape_base64(&STANDARD.encode(&raw[..raw.len() - 6]));
        assert_eq!(err(&cut), UserSigError::Decompress);
        let mut bad_sum = raw.clone();
        let last = bad_sum.len() - 1;
        bad_sum[last] ^= 1;
        assert_eq!(
            err(&escape_base64(&STANDARD.encode(&bad_sum))),
            UserSigError::Decompress
        );
        // Raw deflate and gzip are not zlib.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(PY_JSON.as_bytes()).unwrap();
        assert_eq!(
            err(&escape_base64(&STANDARD.encode(gz.finish().unwrap()))),
            UserSigError::Decompress
        );
    }

    #[test]
    fn zlib_of_non_json() {
        for content in [
            &b"hello world"[..],
            b"[1,2,3]",
            b"\"TLS.sig\"",
            b"{\"TLS.ver\":",
            b"\xff\xfe",
            b"",
        ] {
            let e = err(&pack(content, 6));
            assert_eq!(e, UserSigError::Json, "{content:?}");
            assert_eq!(e.tencent_code(), 70003);
        }
    }

    #[test]
    fn missing_fields() {
        for field in [
            "TLS.identifier",
            "TLS.sdkappid",
            "TLS.time",
            "TLS.expire",
            "TLS.sig",
        ] {
            let mut doc: Map<String, Value> = serde_json::from_str(PY_JSON).unwrap();
            doc.remove(field);
            let e = err(&pack(serde_json::to_string(&doc).unwrap().as_bytes(), 6));
            assert_eq!(e, UserSigError::MissingField(field));
            assert_eq!(e.tencent_code(), 70005);
            doc.insert(field.to_owned(), Value::Null);
            let e = err(&pack(serde_json::to_string(&doc).unwrap().as_bytes(), 6));
            assert_eq!(e, UserSigError::MissingField(field));
        }
    }

    #[test]
    fn malformed_fields() {
        let cases: &[(&str, Value, &str)] = &[
            ("TLS.identifier", Value::from(42), "TLS.identifier"),
            ("TLS.sdkappid", Value::from(-1), "TLS.sdkappid"),
            ("TLS.sdkappid", Value::from(1.4e9), "TLS.sdkappid"),
            ("TLS.sdkappid", Value::from("14e8"), "TLS.sdkappid"),
            (
                "TLS.time",
                Value::from("99999999999999999999999"),
                "TLS.time",
            ),
            ("TLS.time", Value::from(true), "TLS.time"),
            ("TLS.expire", Value::from(" 60"), "TLS.expire"),
            ("TLS.expire", Value::from(u64::MAX), "TLS.expire"),
            ("TLS.sig", Value::from("not base64!"), "TLS.sig"),
            (
                "TLS.sig",
                Value::from(STANDARD.encode([1u8; 31])),
                "TLS.sig",
            ),
            ("TLS.sig", Value::from(vec![1, 2, 3]), "TLS.sig"),
            ("TLS.userbuf", Value::from(7), "TLS.userbuf"),
        ];
        for (field, value, reported) in cases {
            let mut doc: Map<String, Value> = serde_json::from_str(PY_JSON).unwrap();
            doc.insert((*field).to_owned(), value.clone());
            let e = err(&pack(serde_json::to_string(&doc).unwrap().as_bytes(), 6));
            // time + expire overflowing is only found once the HMAC holds; a
            // changed field breaks the HMAC, so check that case separately.
            if *field == "TLS.expire" && value.as_u64().is_some() {
                assert_eq!(e, UserSigError::SignatureMismatch);
                continue;
            }
            assert_eq!(e, UserSigError::InvalidField(reported), "{field} = {value}");
            assert_eq!(e.tencent_code(), 70005);
        }
        // time + expire overflowing u64, correctly signed.
        let v = verifier();
        let e = v
            .verify(&v.generate("xiaojun", u64::MAX, T0), "xiaojun", T0)
            .unwrap_err();
        assert_eq!(e, UserSigError::InvalidField("TLS.expire"));
    }

    #[test]
    fn unsupported_versions() {
        for ver in [Value::from("1.0"), Value::from("2"), Value::from(2.0)] {
            let mut doc: Map<String, Value> = serde_json::from_str(PY_JSON).unwrap();
            doc.insert("TLS.ver".into(), ver);
            let e = err(&pack(serde_json::to_string(&doc).unwrap().as_bytes(), 6));
            assert_eq!(e, UserSigError::UnsupportedVersion);
            assert_eq!(e.tencent_code(), 70005);
        }
        // The version-1 (ECDSA) layout.
        let v1 = r#"{"TLS.account_type":"0","TLS.identifier":"xiaojun","TLS.appid_at_3rd":"0","TLS.sdk_appid":"1400000000","TLS.expire_after":"180","TLS.version":"201512300000","TLS.time":"1700000000","TLS.sig":"MEUCIQ"}"#;
        assert_eq!(
            err(&pack(v1.as_bytes(), 6)),
            UserSigError::UnsupportedVersion
        );
    }

    #[test]
    fn oversized_input() {
        let long = "A".repeat(MAX_USERSIG_LEN + 1);
        let e = err(&long);
        assert_eq!(
            e,
            UserSigError::TooLong {
                len: MAX_USERSIG_LEN + 1
            }
        );
        assert_eq!(e.tencent_code(), 70003);
        // A valid signature made too long by padding with whitespace is refused too.
        let padded = format!("{PY_SIG}{}", " ".repeat(MAX_USERSIG_LEN));
        assert!(matches!(err(&padded), UserSigError::TooLong { .. }));
    }

    #[test]
    fn zlib_bomb() {
        // 10 MiB of spaces compresses to ~10 KiB; more than the input limit.
        let bomb = pack(&vec![b' '; 10 << 20], 9);
        assert!(matches!(err(&bomb), UserSigError::TooLong { .. }));
        // 1 MiB of spaces fits in the input limit (about 1.4 KiB of base64)
        // and must stop at the output limit.
        let bomb = pack(&vec![b' '; 1 << 20], 9);
        assert!(bomb.len() <= MAX_USERSIG_LEN, "{}", bomb.len());
        let e = err(&bomb);
        assert_eq!(e, UserSigError::DecompressedTooLarge);
        assert_eq!(e.tencent_code(), 70003);
        // A valid document whose JSON is padded just past the limit.
        let padded = format!(
            "{PY_JSON}{}",
            " ".repeat(MAX_DECOMPRESSED_LEN - PY_JSON.len() + 1)
        );
        assert_eq!(
            err(&pack(padded.as_bytes(), 9)),
            UserSigError::DecompressedTooLarge
        );
        // ... and exactly at the limit, accepted.
        let padded = format!(
            "{PY_JSON}{}",
            " ".repeat(MAX_DECOMPRESSED_LEN - PY_JSON.len())
        );
        assert!(verifier()
            .verify(&pack(padded.as_bytes(), 9), "xiaojun", T0)
            .is_ok());
    }

    #[test]
    fn debug_and_errors_do_not_print_the_key() {
        let v = verifier();
        let shown = format!("{v:?} {v:#?}");
        assert!(!shown.contains(KEY), "{shown}");
        assert!(!shown.contains("5bd2850f"), "{shown}");
        assert!(shown.contains("1400000000"));
        let sig = v.generate("xiaojun", 60, T0);
        let errors = [
            err(""),
            err("!!"),
            v.verify(&sig, "xiaojun", T0 + 1000).unwrap_err(),
            UserSigVerifier::new(APP, SecretString::from("k"))
                .verify(&sig, "xiaojun", T0)
                .unwrap_err(),
        ];
        for e in errors {
            let shown = format!("{e} {e:?}");
            assert!(
                !shown.contains(KEY) && !shown.contains("5bd2850f"),
                "{shown}"
            );
        }
    }

    #[test]
    fn never_panics_on_mutations() {
        // Every single-byte mutation and every truncation of a valid
        // signature gives an error or (only if unchanged in meaning) success.
        let v = verifier();
        let sig = v.generate("xiaojun", 3600, T0).into_bytes();
        let alphabet = b"AZaz09*-_+/= !\x00";
        for i in 0..sig.len() {
            for &b in alphabet {
                let mut m = sig.clone();
                m[i] = b;
                if let Ok(s) = std::str::from_utf8(&m) {
                    let _ = v.verify(s, "xiaojun", T0);
                }
            }
            let _ = v.verify(std::str::from_utf8(&sig[..i]).unwrap(), "xiaojun", T0);
        }
        // Mutations of the decompressed JSON.
        let json = PY_JSON.as_bytes();
        for i in 0..json.len() {
            for &b in b"\"{}[],:0\\x" {
                let mut m = json.to_vec();
                m[i] = b;
                let _ = v.verify(&pack(&m, 1), "xiaojun", T0);
            }
        }
        // Deeply nested JSON (serde_json's recursion limit answers, not the stack).
        let deep = format!("{}{}", "[".repeat(2000), "]".repeat(2000));
        assert_eq!(err(&pack(deep.as_bytes(), 9)), UserSigError::Json);
    }

    #[test]
    fn every_error_has_a_seventy_thousand_code() {
        let all = [
            UserSigError::Empty,
            UserSigError::TooLong { len: 1 },
            UserSigError::Base64,
            UserSigError::Decompress,
            UserSigError::DecompressedTooLarge,
            UserSigError::Json,
            UserSigError::UnsupportedVersion,
            UserSigError::MissingField("TLS.sig"),
            UserSigError::InvalidField("TLS.sig"),
            UserSigError::SdkAppIdMismatch,
            UserSigError::IdentifierMismatch,
            UserSigError::SignatureMismatch,
            UserSigError::Expired { expires_at: 0 },
            UserSigError::IssuedInFuture { issued_at: 0 },
        ];
        for e in all {
            assert!((70001..=70014).contains(&e.tencent_code()), "{e:?}");
        }
    }
}

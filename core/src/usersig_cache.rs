//! UserSigs already verified, kept until they expire: a REST backend sends
//! the same administrator UserSig with every request, and verifying it
//! (base64, zlib inflate, HMAC-SHA256) was the largest cost of a REST send
//! in missive's process after the network (issue #17).
//!
//! Only valid UserSigs are kept, keyed by the exact UserSig and identifier,
//! so a forged or altered one always takes the full check; a kept one is
//! still refused once its own expiry has passed.

use std::time::Duration;

use crate::usersig::{UserSigError, UserSigVerifier, VerifiedUserSig};

/// How many distinct valid UserSigs are kept (a backend uses a handful).
const CAPACITY: u64 = 10_000;
/// A kept UserSig is checked again in full after this long.
const RECHECK_AFTER: Duration = Duration::from_secs(300);

pub struct CachedVerifier {
    inner: UserSigVerifier,
    verified: moka::sync::Cache<(String, String), VerifiedUserSig>,
}

impl CachedVerifier {
    pub fn new(inner: UserSigVerifier) -> Self {
        CachedVerifier {
            inner,
            verified: moka::sync::Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(RECHECK_AFTER)
                .build(),
        }
    }

    /// As [`UserSigVerifier::verify`], without repeating the work for a
    /// UserSig that passed it before.
    pub fn verify(
        &self,
        sig: &str,
        identifier: &str,
        now_unix: u64,
    ) -> Result<VerifiedUserSig, UserSigError> {
        let key = (sig.to_owned(), identifier.to_owned());
        if let Some(known) = self.verified.get(&key) {
            if now_unix > known.expires_at {
                self.verified.invalidate(&key);
                return Err(UserSigError::Expired {
                    expires_at: known.expires_at,
                });
            }
            return Ok(known);
        }
        let verified = self.inner.verify(sig, identifier, now_unix)?;
        self.verified.insert(key, verified.clone());
        Ok(verified)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    const APP: u64 = 1_400_000_000;
    const T0: u64 = 1_700_000_000;

    fn verifiers() -> (UserSigVerifier, CachedVerifier) {
        let make = || UserSigVerifier::new(APP, SecretString::from("k".repeat(32)));
        (make(), CachedVerifier::new(make()))
    }

    #[test]
    fn a_kept_usersig_is_still_refused_once_it_expires() {
        let (signer, cached) = verifiers();
        let sig = signer.generate("admin", 60, T0);
        assert_eq!(
            cached.verify(&sig, "admin", T0).unwrap().expires_at,
            T0 + 60
        );
        assert_eq!(
            cached.verify(&sig, "admin", T0 + 60).unwrap().expires_at,
            T0 + 60
        );
        assert!(matches!(
            cached.verify(&sig, "admin", T0 + 61),
            Err(UserSigError::Expired { expires_at }) if expires_at == T0 + 60
        ));
    }

    #[test]
    fn only_the_exact_usersig_and_identifier_skip_the_check() {
        let (signer, cached) = verifiers();
        let sig = signer.generate("admin", 60, T0);
        cached.verify(&sig, "admin", T0).unwrap();
        // The same UserSig for another identifier, or altered, is checked in full.
        assert!(matches!(
            cached.verify(&sig, "mallory", T0),
            Err(UserSigError::IdentifierMismatch)
        ));
        let mut altered = sig.clone().into_bytes();
        let mid = altered.len() / 2;
        altered[mid] = if altered[mid] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).unwrap();
        assert!(cached.verify(&altered, "admin", T0).is_err());
        // A refused one is never kept.
        assert!(cached.verify(&altered, "admin", T0).is_err());
    }
}

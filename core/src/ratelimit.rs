//! Call-rate limits (GCRA, from `governor`): per app and API, and per user.
//!
//! Each limiter lives in one process, so with several ingest or delivery
//! instances behind a load balancer each enforces its own share: set the
//! rates to the app's limit divided by the number of instances
//! (docs/limits.md).
//!
//! The per-user limiter is keyed by user id. Its memory stays bounded:
//! every [`RETAIN_EVERY`] checks, keys whose state is indistinguishable from
//! a fresh one (the user has been quiet long enough to earn back the whole
//! burst) are dropped, so it holds at most the users active in the last
//! `burst / rate` seconds.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use governor::clock::{Clock, DefaultClock, QuantaClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::config::LimitsConfig;
use crate::{ApiError, ErrorCode};

/// Keyed state is pruned once per this many checks.
pub const RETAIN_EVERY: u64 = 1024;

type Keyed<K, C> =
    RateLimiter<K, DefaultKeyedStateStore<K>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// A limiter per key (user id, API name); `None` when the limit is off.
pub struct KeyedLimit<K: std::hash::Hash + Eq + Clone, C: Clock = DefaultClock> {
    limiter: Option<Keyed<K, C>>,
    clock: C,
    checks: AtomicU64,
}

impl<K: std::hash::Hash + Eq + Clone, C: Clock + Clone> KeyedLimit<K, C> {
    /// `per_sec` calls per second with bursts of `burst` (at least 1); 0 = unlimited.
    pub fn with_clock(per_sec: u32, burst: u32, clock: C) -> Self {
        let limiter = NonZeroU32::new(per_sec).map(|rate| {
            let burst = NonZeroU32::new(burst.max(1)).expect("at least 1");
            RateLimiter::dashmap_with_clock(
                Quota::per_second(rate).allow_burst(burst),
                clock.clone(),
            )
        });
        Self {
            limiter,
            clock,
            checks: AtomicU64::new(0),
        }
    }

    /// One call per `period` (no burst).
    pub fn every(period: std::time::Duration, clock: C) -> Self {
        let quota = Quota::with_period(period).expect("a period longer than zero");
        Self {
            limiter: Some(RateLimiter::dashmap_with_clock(quota, clock.clone())),
            clock,
            checks: AtomicU64::new(0),
        }
    }

    /// Ok if `key` may make one more call now; else how long until it may.
    pub fn check(&self, key: &K) -> Result<(), std::time::Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        if self.checks.fetch_add(1, Ordering::Relaxed) % RETAIN_EVERY == RETAIN_EVERY - 1 {
            self.prune();
        }
        limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Drops the keys that are back to a full burst.
    pub fn prune(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// Keys currently held.
    pub fn tracked(&self) -> usize {
        self.limiter.as_ref().map_or(0, |l| l.len())
    }
}

/// The limits of one service, shared by its request handlers.
#[derive(Clone)]
pub struct RateLimits {
    inner: Arc<Inner>,
}

struct Inner {
    /// Per REST API, for the whole app.
    api: KeyedLimit<&'static str, QuantaClock>,
    api_per_sec: u32,
    /// Per sending user.
    user: KeyedLimit<String, QuantaClock>,
    user_per_sec: u32,
    /// Per user, every WebSocket request.
    request: KeyedLimit<String, QuantaClock>,
    request_per_sec: u32,
    /// Per (typist, peer): typing indicators relayed.
    typing: KeyedLimit<(String, String), QuantaClock>,
}

/// A user's typing indicator reaches a given peer at most once per this
/// (clients repeat it while typing), so it cannot be used to flood anyone.
pub const TYPING_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);

impl RateLimits {
    pub fn new(limits: &LimitsConfig) -> Self {
        let clock = QuantaClock::default();
        Self {
            inner: Arc::new(Inner {
                // Tencent's limits are per second: a burst of one second's worth.
                api: KeyedLimit::with_clock(
                    limits.rest_api_per_sec,
                    limits.rest_api_per_sec,
                    clock.clone(),
                ),
                api_per_sec: limits.rest_api_per_sec,
                user: KeyedLimit::with_clock(
                    limits.user_sends_per_sec,
                    limits.user_sends_burst,
                    clock.clone(),
                ),
                user_per_sec: limits.user_sends_per_sec,
                request: KeyedLimit::with_clock(
                    limits.user_requests_per_sec,
                    limits.user_requests_burst,
                    clock.clone(),
                ),
                typing: KeyedLimit::every(TYPING_INTERVAL, clock),
                request_per_sec: limits.user_requests_per_sec,
            }),
        }
    }

    /// One call to the REST API `api` (`openim/sendmsg`, ...) by the app.
    pub fn check_api(&self, api: &'static str) -> Result<(), ApiError> {
        self.inner.api.check(&api).map_err(|wait| {
            metrics::counter!("missive_rate_limited_total", "limit" => "api").increment(1);
            ApiError::new(
                ErrorCode::ApiRateLimited,
                format!(
                    "{api} is limited to {} calls per second for this app; retry in {} ms",
                    self.inner.api_per_sec,
                    wait.as_millis().max(1)
                ),
            )
        })
    }

    /// One send by `user`.
    pub fn check_user(&self, user: &str) -> Result<(), ApiError> {
        self.inner.user.check(&user.to_owned()).map_err(|wait| {
            metrics::counter!("missive_rate_limited_total", "limit" => "user").increment(1);
            ApiError::new(
                ErrorCode::UserRateLimited,
                format!(
                    "{user} sends more than {} messages per second; retry in {} ms",
                    self.inner.user_per_sec,
                    wait.as_millis().max(1)
                ),
            )
        })
    }
}

impl RateLimits {
    /// One WebSocket request (of any type) by `user`.
    pub fn check_request(&self, user: &str) -> Result<(), ApiError> {
        self.inner.request.check(&user.to_owned()).map_err(|wait| {
            metrics::counter!("missive_rate_limited_total", "limit" => "request").increment(1);
            ApiError::new(
                ErrorCode::UserRateLimited,
                format!(
                    "{user} makes more than {} requests per second; retry in {} ms",
                    self.inner.request_per_sec,
                    wait.as_millis().max(1)
                ),
            )
        })
    }
}

impl RateLimits {
    /// One typing indicator from `user` to `peer`.
    pub fn check_typing(&self, user: &str, peer: &str) -> Result<(), ApiError> {
        let key = (user.to_owned(), peer.to_owned());
        self.inner.typing.check(&key).map_err(|wait| {
            metrics::counter!("missive_rate_limited_total", "limit" => "typing").increment(1);
            ApiError::new(
                ErrorCode::UserRateLimited,
                format!(
                    "typing to {peer} is relayed at most once every {} s; retry in {} ms",
                    TYPING_INTERVAL.as_secs(),
                    wait.as_millis().max(1)
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;
    use std::time::Duration;

    #[test]
    fn a_burst_then_the_rate_and_other_keys_are_unaffected() {
        let clock = FakeRelativeClock::default();
        let limit = KeyedLimit::with_clock(10, 3, clock.clone());
        for _ in 0..3 {
            assert!(limit.check(&"a").is_ok());
        }
        let wait = limit.check(&"a").expect_err("over the burst");
        assert_eq!(wait, Duration::from_millis(100));
        // Another key has its own budget.
        for _ in 0..3 {
            assert!(limit.check(&"b").is_ok());
        }
        clock.advance(Duration::from_millis(100));
        assert!(limit.check(&"a").is_ok(), "one call earned back");
        assert!(limit.check(&"a").is_err());
    }

    #[test]
    fn zero_means_unlimited() {
        let limit = KeyedLimit::with_clock(0, 0, FakeRelativeClock::default());
        for _ in 0..10_000 {
            assert!(limit.check(&1u32).is_ok());
        }
        assert_eq!(limit.tracked(), 0);
    }

    #[test]
    fn keyed_state_is_pruned_so_memory_stays_bounded() {
        let clock = FakeRelativeClock::default();
        let limit = KeyedLimit::with_clock(100, 1, clock.clone());
        // Many distinct users, each sending once, with time passing: the
        // periodic pruning drops those back at a full burst.
        for i in 0..(RETAIN_EVERY * 20) {
            let _ = limit.check(&i);
            clock.advance(Duration::from_millis(1));
            assert!(
                limit.tracked() <= (RETAIN_EVERY as usize) + 100,
                "{} keys held after {i} checks",
                limit.tracked()
            );
        }
        clock.advance(Duration::from_secs(1));
        limit.prune();
        assert_eq!(limit.tracked(), 0);
    }

    #[test]
    fn errors_carry_tencents_codes() {
        let limits = RateLimits::new(&LimitsConfig {
            rest_api_per_sec: 1,
            user_sends_per_sec: 1,
            user_sends_burst: 1,
            user_requests_per_sec: 1,
            user_requests_burst: 2,
            ..LimitsConfig::default()
        });
        assert!(limits.check_api("openim/sendmsg").is_ok());
        let e = limits.check_api("openim/sendmsg").unwrap_err();
        assert_eq!(e.code.code(), 60007);
        assert!(e.info.contains("openim/sendmsg"), "{}", e.info);
        assert!(limits.check_api("openim/importmsg").is_ok(), "per API");
        assert!(limits.check_user("alice").is_ok());
        assert_eq!(limits.check_user("alice").unwrap_err().code.code(), 60018);
        assert!(limits.check_user("bob").is_ok(), "per user");
        // Requests have a budget of their own, per user.
        assert!(limits.check_request("alice").is_ok());
        assert!(limits.check_request("alice").is_ok());
        let e = limits.check_request("alice").unwrap_err();
        assert_eq!(e.code.code(), 60018);
        assert!(
            e.info
                .contains("alice makes more than 1 requests per second"),
            "{}",
            e.info
        );
        assert!(limits.check_request("bob").is_ok(), "per user");
    }
}

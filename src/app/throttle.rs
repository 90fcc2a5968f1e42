//! How fast passwords and setup links may be guessed.
//!
//! Every login attempt spends a cell of three `governor` limiters, in
//! turn, before its password is checked (so a burst of concurrent guesses
//! is bounded too, not only a sequence of them); the first to refuse ends
//! the attempt, so one address held back by its own limits does not also
//! use up the account's allowance for everyone else:
//!
//! - one per client address, shared with `/setup`: one machine guessing
//!   at many accounts;
//! - one per client address and account name: one machine guessing at one
//!   account;
//! - one per account name, spent only by addresses that have never logged
//!   in to it: many machines guessing at one account. An address that has
//!   logged in to the account (since this process started) skips it, so a
//!   guessing crowd does not lock the owner out.
//!
//! IPv6 clients are counted by their /64, which one machine usually holds
//! whole. The first refusal of a key in each window is logged; the rest are
//! not, so a flood does not flood the log too.

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::AppError;
use crate::config::AuthConfig;

/// How long an address is remembered as one the account logged in from.
const KNOWN_FOR: Duration = Duration::from_secs(30 * 86_400);
/// Keys forgotten by `retain_recent` after this many checks.
const SWEEP_EVERY: u64 = 4096;
/// Account names are counted by their first this many characters.
const NAME_KEY_CHARS: usize = 64;

/// One rate limit and when its refusals were last logged.
struct Limit<K: Hash + Eq + Clone> {
    what: &'static str,
    limiter: Option<DefaultKeyedRateLimiter<K>>,
    logged: moka::sync::Cache<K, ()>,
}

impl<K: Hash + Eq + Clone + Send + Sync + std::fmt::Debug + 'static> Limit<K> {
    /// `per_minute` attempts a minute, all of them allowed at once; 0 is
    /// no limit.
    fn new(what: &'static str, per_minute: u32) -> Self {
        let limiter = NonZeroU32::new(per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n)));
        Self {
            what,
            limiter,
            logged: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(60))
                .build(),
        }
    }

    /// Spends a cell of `key`'s allowance, or says how many seconds until
    /// one is free.
    fn spend(&self, key: &K) -> Result<(), u32> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            if self.first_refusal(key) {
                tracing::warn!(
                    limit = self.what,
                    key = ?key,
                    retry_after_secs = wait.as_secs() + 1,
                    "too many attempts; refusing until the window passes"
                );
            }
            u32::try_from(wait.as_secs() + 1).unwrap_or(u32::MAX)
        })
    }

    /// Whether this is `key`'s first refusal in the window (the one that
    /// is logged); records it.
    fn first_refusal(&self, key: &K) -> bool {
        self.logged.entry(key.clone()).or_insert(()).is_fresh()
    }

    fn sweep(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

/// The login and setup limits of one process.
#[derive(Clone)]
pub struct Throttle(Arc<Limits>);

struct Limits {
    per_address: Limit<IpAddr>,
    per_address_and_account: Limit<(IpAddr, String)>,
    per_account: Limit<String>,
    /// (account, address) pairs that have logged in.
    known: moka::sync::Cache<(String, IpAddr), ()>,
    checks: AtomicU64,
}

impl Throttle {
    pub fn new(config: &AuthConfig) -> Self {
        Self(Arc::new(Limits {
            per_address: Limit::new("address", config.attempts_per_address),
            per_address_and_account: Limit::new(
                "address and account",
                config.attempts_per_address_and_account,
            ),
            per_account: Limit::new("account", config.attempts_per_account),
            known: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(KNOWN_FOR)
                .build(),
            checks: AtomicU64::new(0),
        }))
    }

    /// Spends one login attempt by `from` at account `name`, or refuses
    /// with [`AppError::TooManyAttempts`].
    pub fn login(&self, from: IpAddr, name: &str) -> Result<(), AppError> {
        let from = counted(from);
        let name = account_key(name);
        let limits = &self.0;
        self.sweep_now_and_then();
        limits.per_address.spend(&from).map_err(too_many)?;
        limits
            .per_address_and_account
            .spend(&(from, name.clone()))
            .map_err(too_many)?;
        if !limits.known.contains_key(&(name.clone(), from)) {
            limits.per_account.spend(&name).map_err(too_many)?;
        }
        Ok(())
    }

    /// Spends one setup attempt by `from`.
    pub fn setup(&self, from: IpAddr) -> Result<(), AppError> {
        self.sweep_now_and_then();
        self.0.per_address.spend(&counted(from)).map_err(too_many)
    }

    /// Remembers that `from` logged in to `name`: its later attempts skip
    /// the account-wide limit.
    pub fn logged_in(&self, from: IpAddr, name: &str) {
        self.0.known.insert((account_key(name), counted(from)), ());
    }

    fn sweep_now_and_then(&self) {
        if self.0.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.0.per_address.sweep();
            self.0.per_address_and_account.sweep();
            self.0.per_account.sweep();
        }
    }
}

fn too_many(retry_after_secs: u32) -> AppError {
    AppError::TooManyAttempts { retry_after_secs }
}

/// The address an attempt is counted under: IPv6 by its /64 (one
/// machine's share), IPv4 whole.
fn counted(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => addr,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(bits.into())
            }
        },
    }
}

/// Names are matched case-insensitively at login, and counted so.
fn account_key(name: &str) -> String {
    name.trim()
        .chars()
        .take(NAME_KEY_CHARS)
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(address: u32, pair: u32, account: u32) -> AuthConfig {
        AuthConfig {
            attempts_per_address: address,
            attempts_per_address_and_account: pair,
            attempts_per_account: account,
            ..AuthConfig::default()
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn allowed(t: &Throttle, from: &str, name: &str) -> bool {
        t.login(ip(from), name).is_ok()
    }

    #[test]
    fn one_address_at_one_account_gets_its_quota_then_a_wait() {
        let t = Throttle::new(&config(100, 3, 100));
        for _ in 0..3 {
            assert!(allowed(&t, "192.0.2.1", "alice"));
        }
        match t.login(ip("192.0.2.1"), "ALICE") {
            Err(AppError::TooManyAttempts { retry_after_secs }) => {
                assert!((1..=21).contains(&retry_after_secs), "{retry_after_secs}");
            }
            other => panic!("{other:?}"),
        }
        // Another address, and another account, still get theirs.
        assert!(allowed(&t, "192.0.2.2", "alice"));
        assert!(allowed(&t, "192.0.2.1", "bob"));
    }

    #[test]
    fn a_crowd_at_one_account_does_not_lock_out_an_address_it_knows() {
        let t = Throttle::new(&config(100, 100, 5));
        t.logged_in(ip("198.51.100.7"), "Alice");
        for i in 0..5 {
            assert!(allowed(&t, &format!("192.0.2.{i}"), "alice"));
        }
        assert!(!allowed(&t, "192.0.2.99", "alice"));
        assert!(allowed(&t, "198.51.100.7", "alice"));
    }

    #[test]
    fn one_address_at_many_accounts_and_setup_share_a_quota() {
        let t = Throttle::new(&config(4, 100, 100));
        for name in ["a", "b", "c"] {
            assert!(allowed(&t, "2001:db8::1", name));
        }
        // Another address in the same /64 is the same machine.
        assert!(t.setup(ip("2001:db8::ffff")).is_ok());
        assert!(!allowed(&t, "2001:db8::2", "d"));
        assert!(t.setup(ip("2001:db8:0:1::1")).is_ok());
    }

    #[test]
    fn only_the_first_refusal_of_a_key_in_a_window_is_logged() {
        let limit = Limit::<String>::new("per address", 1);
        let key = |k: &str| k.to_owned();
        assert!(limit.spend(&key("a")).is_ok());
        for _ in 0..3 {
            assert!(limit.spend(&key("a")).is_err());
        }
        assert!(!limit.first_refusal(&key("a")), "a's refusal was logged");
        assert!(
            limit.first_refusal(&key("b")),
            "another key is logged apart"
        );
        assert!(!limit.first_refusal(&key("b")));
    }

    #[test]
    fn zero_turns_a_limit_off() {
        let t = Throttle::new(&config(0, 0, 0));
        for _ in 0..1000 {
            assert!(allowed(&t, "192.0.2.1", "alice"));
        }
    }

    #[test]
    fn addresses_are_counted_by_machine() {
        assert_eq!(counted(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
        assert_eq!(counted(ip("2001:db8::1:2:3:4")), ip("2001:db8::"));
        assert_eq!(account_key("  Alice "), "alice");
    }
}

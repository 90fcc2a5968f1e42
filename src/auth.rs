//! Accounts and secrets: argon2id password hashes, random session and API
//! tokens of which only the SHA-256 is stored.
//!
//! Shared by the web layer (setup, login, cookies, bearer tokens) and the CLI
//! (`scoot user add`, `scoot token create`). Knows the database only through
//! [`Repo`]; knows nothing of HTTP.

use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::PasswordHasher;
use argon2::password_hash::phc::{Output, PasswordHash};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use tokio::sync::Semaphore;

use crate::db::{DbError, Repo};
use crate::domain::{ContentHash, Millis, now_millis, random_hex};
use crate::model::{TokenKind, User};

/// Why an account operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("user names are 1–64 letters, digits, '.', '-' or '_'")]
    BadName,
    #[error("passwords must be 8 to 1024 characters")]
    BadPassword,
    #[error("user {0} already exists")]
    NameTaken(String),
    #[error("no such user: {0}")]
    NoSuchUser(String),
    /// Every password hashing thread is busy (a flood of logins).
    #[error("too many logins at once; try again in a moment")]
    Busy,
    #[error(transparent)]
    Db(DbError),
    #[error("password hashing failed: {0}")]
    Hash(String),
}

impl From<DbError> for AuthError {
    fn from(e: DbError) -> Self {
        Self::Db(e)
    }
}

pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// argon2id with the crate's default (OWASP-recommended) parameters: 19 MiB
/// and tens of milliseconds of CPU per call. Run it through a [`Hasher`].
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    verify_password_in(&mut Vec::new(), password, hash)
}

/// [`verify_password`] with argon2's working memory in `memory`, grown to
/// what the hash's parameters need and kept for the next call: a hashing
/// thread then holds one 19 MiB buffer for good instead of asking the
/// allocator for a fresh one per login, which glibc's per-thread arenas
/// answered by keeping several (RSS rose to ~170 MiB with two threads).
pub fn verify_password_in(memory: &mut Vec<Block>, password: &str, hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::new());
    }
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut memory[..blocks])
        .is_ok()
        // Output's equality is constant-time.
        && Output::new(&out).is_ok_and(|computed| computed == *expected)
}

/// How long a password check waits for a free hashing thread before the
/// caller is told to come back later.
const HASH_WAIT: Duration = Duration::from_secs(1);

/// Where password hashes run: a few threads of their own, one hash each at
/// a time, so a flood of logins costs at most `threads` × 19 MiB and leaves
/// the async runtime and the blocking pool alone. Callers wait up to
/// [`HASH_WAIT`] for a thread, then get [`AuthError::Busy`].
///
/// Dedicated threads also keep memory from creeping: each thread's
/// allocator arena reuses its own 19 MiB block, where hashes spread over
/// the blocking pool's many threads left a block behind in each arena.
#[derive(Clone)]
pub struct Hasher {
    /// One per thread; held from admission until the hash is done.
    slots: Arc<Semaphore>,
    jobs: crossbeam_channel::Sender<Job>,
}

/// Work for a hashing thread, given the thread's argon2 memory.
type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

impl Hasher {
    /// Starts `threads` hashing threads; they end when the last clone of the
    /// hasher is dropped.
    pub fn new(threads: usize) -> Self {
        let threads = threads.max(1);
        let (jobs, rx) = crossbeam_channel::unbounded::<Job>();
        for i in 0..threads {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    let mut memory = Vec::new();
                    while let Ok(job) = rx.recv() {
                        job(&mut memory);
                    }
                })
                .expect("spawning a password hashing thread");
        }
        Self {
            slots: Arc::new(Semaphore::new(threads)),
            jobs,
        }
    }

    /// One thread per CPU core.
    pub fn per_core() -> Self {
        Self::new(crate::config::cores())
    }

    /// Runs `f` on a hashing thread once one is free.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, AuthError> {
        let slot = tokio::time::timeout(HASH_WAIT, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| AuthError::Busy)?
            .map_err(|e| AuthError::Hash(e.to_string()))?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job = Box::new(move |memory: &mut Vec<Block>| {
            let out = f(memory);
            // Free the thread before telling the caller, which may have
            // gone (a dropped connection): the slot is never lost.
            drop(slot);
            let _ = tx.send(out);
        });
        self.jobs
            .send(job)
            .map_err(|_| AuthError::Hash("hashing threads stopped".into()))?;
        rx.await
            .map_err(|_| AuthError::Hash("a hashing thread panicked".into()))
    }

    pub async fn hash(&self, password: &str) -> Result<String, AuthError> {
        let password = password.to_owned();
        self.run(move |_| hash_password(&password)).await?
    }

    pub async fn verify(&self, password: &str, hash: &str) -> Result<bool, AuthError> {
        let (password, hash) = (password.to_owned(), hash.to_owned());
        self.run(move |memory| verify_password_in(memory, &password, &hash))
            .await
    }
}

/// The stored form of a token.
pub fn token_hash(token: &str) -> String {
    ContentHash::of(token.as_bytes()).to_string()
}

/// The token every form of a browser session carries (CSRF defence): an
/// HMAC-SHA256 keyed with the session's secret, so nothing more is stored,
/// another site cannot compute it, and a form token that leaks (into a
/// page's HTML, a log) reveals nothing of the session itself. Logging out
/// or in again makes a new one.
pub fn form_token(session: &str) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(session.as_bytes()).expect("any key length");
    mac.update(b"scoot form token v1");
    hex::encode(&mac.finalize().into_bytes()[..16])
}

/// `password`'s hash, if it is one Scoot accepts.
pub async fn new_password_hash(hasher: &Hasher, password: &str) -> Result<String, AuthError> {
    if !(8..=1024).contains(&password.chars().count()) {
        return Err(AuthError::BadPassword);
    }
    hasher.hash(password).await
}

/// Validates and creates an account; with no password, one that no
/// password opens until a set-password link is used. With
/// `only_if_first`, succeeds only while there are no users at all
/// (`Ok(None)` otherwise).
pub async fn create_user(
    db: &dyn Repo,
    hasher: &Hasher,
    name: &str,
    password: Option<&str>,
    is_admin: bool,
    only_if_first: bool,
) -> Result<Option<User>, AuthError> {
    if !valid_name(name) {
        return Err(AuthError::BadName);
    }
    let hash = match password {
        Some(password) => Some(new_password_hash(hasher, password).await?),
        None => None,
    };
    match db
        .create_user(name, hash.as_deref(), is_admin, only_if_first)
        .await
    {
        Err(DbError::Conflict(_)) => Err(AuthError::NameTaken(name.to_owned())),
        other => Ok(other?),
    }
}

/// The user whose name and password these are, if any.
pub async fn check_login(
    db: &dyn Repo,
    hasher: &Hasher,
    name: &str,
    password: &str,
) -> Result<Option<User>, AuthError> {
    // Verify against a fixed hash even for unknown names, so timing does
    // not reveal which names exist.
    const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2Nvb3RzY29vdHNjb290$2CIL1MFQwA7Rb+Ng3d5EFZKyFe8bZQ+A9HgDBv6nYXI";
    // An account with no password yet costs the same, and opens to none.
    let found = db
        .user_by_name(name)
        .await?
        .filter(|(_, hash)| !hash.is_empty());
    let hash = found.as_ref().map_or(DUMMY, |(_, h)| h.as_str());
    let ok = hasher.verify(password, hash).await?;
    Ok(found.filter(|_| ok).map(|(user, _)| user))
}

/// A new token of `kind` for `user`; returns the secret (shown once).
pub async fn issue_token(
    db: &dyn Repo,
    user: &User,
    kind: TokenKind,
    label: &str,
    lifetime_days: Option<u32>,
) -> Result<String, AuthError> {
    let token = random_hex(32);
    let expires = lifetime_days.map(|d| now_millis() + i64::from(d) * 86_400_000);
    db.insert_token(&token_hash(&token), &user.id, kind, label, expires)
        .await?;
    Ok(token)
}

/// `scoot token create NAME`: an API token for an existing user, which
/// expires after `lifetime_days` when given.
pub async fn api_token_for(
    db: &dyn Repo,
    name: &str,
    label: &str,
    lifetime_days: Option<u32>,
) -> Result<String, AuthError> {
    let (user, _) = db
        .user_by_name(name)
        .await?
        .ok_or_else(|| AuthError::NoSuchUser(name.to_owned()))?;
    issue_token(db, &user, TokenKind::Api, label, lifetime_days).await
}

/// How old a token's last-used mark may get before it is written again:
/// a listing says "used today", and a busy client costs one write an hour.
const USE_MARK_EVERY: Millis = 3_600_000;

/// The user behind a presented token, if it is live. Marks the token used.
pub async fn user_for_token(
    db: &dyn Repo,
    token: &str,
    kind: TokenKind,
) -> Result<Option<User>, DbError> {
    if token.is_empty() || token.len() > 256 {
        return Ok(None);
    }
    let hash = token_hash(token);
    let now = now_millis();
    let Some(holder) = db.user_by_token(&hash, kind, now).await? else {
        return Ok(None);
    };
    if holder
        .last_used_at
        .is_none_or(|at| now - at >= USE_MARK_EVERY)
    {
        // Only the date is lost if this fails; the request goes on.
        if let Err(e) = db.mark_token_used(&hash, now).await {
            tracing::warn!(error = %e, "cannot record that a token was used");
        }
    }
    Ok(Some(holder.user))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_themselves() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("correct horse", "garbage"));
        // The same memory serves one check after another.
        let mut memory = Vec::new();
        assert!(verify_password_in(&mut memory, "correct horse", &h));
        assert!(!verify_password_in(&mut memory, "wrong horse", &h));
        assert!(verify_password_in(&mut memory, "correct horse", &h));
    }

    #[tokio::test]
    async fn hashes_beyond_the_threads_wait_then_are_refused() {
        let hasher = Hasher::new(1);
        let slow = {
            let hasher = hasher.clone();
            tokio::spawn(async move {
                hasher
                    .run(|_| std::thread::sleep(HASH_WAIT + Duration::from_millis(500)))
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = std::time::Instant::now();
        assert!(matches!(hasher.run(|_| ()).await, Err(AuthError::Busy)));
        assert!(started.elapsed() >= HASH_WAIT);
        slow.await.unwrap().unwrap();
        // The slot came back.
        assert!(hasher.verify("x", "garbage").await.is_ok());
    }

    #[test]
    fn form_tokens_belong_to_one_session() {
        let (a, b) = (random_hex(32), random_hex(32));
        assert_eq!(form_token(&a).len(), 32);
        assert_eq!(form_token(&a), form_token(&a));
        assert_ne!(form_token(&a), form_token(&b));
    }

    #[test]
    fn names_are_restricted() {
        assert!(valid_name("alice.b-c_1"));
        assert!(!valid_name(""));
        assert!(!valid_name("a b"));
        assert!(!valid_name("<script>"));
    }
}

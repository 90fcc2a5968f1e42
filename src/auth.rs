//! Accounts and secrets: argon2id password hashes, random session and API
//! tokens of which only the SHA-256 is stored.
//!
//! Shared by the web layer (setup, login, cookies, bearer tokens) and the CLI
//! (`scoot user add`, `scoot token create`). Knows the database only through
//! [`Repo`]; knows nothing of HTTP.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use crate::db::{DbError, Repo, TokenKind, User};
use crate::domain::{ContentHash, now_millis, random_hex};

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

/// argon2id with the crate's default (OWASP-recommended) parameters. CPU
/// heavy: callers on the async runtime run it through `spawn_blocking`.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// The stored form of a token.
pub fn token_hash(token: &str) -> String {
    ContentHash::of(token.as_bytes()).to_string()
}

/// Validates and creates an account. With `only_if_first`, succeeds only
/// while there are no users at all (`Ok(None)` otherwise).
pub async fn create_user(
    db: &dyn Repo,
    name: &str,
    password: &str,
    is_admin: bool,
    only_if_first: bool,
) -> Result<Option<User>, AuthError> {
    if !valid_name(name) {
        return Err(AuthError::BadName);
    }
    if !(8..=1024).contains(&password.chars().count()) {
        return Err(AuthError::BadPassword);
    }
    let password = password.to_owned();
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| AuthError::Hash(e.to_string()))??;
    match db.create_user(name, &hash, is_admin, only_if_first).await {
        Err(DbError::Conflict(_)) => Err(AuthError::NameTaken(name.to_owned())),
        other => Ok(other?),
    }
}

/// The user whose name and password these are, if any.
pub async fn check_login(
    db: &dyn Repo,
    name: &str,
    password: &str,
) -> Result<Option<User>, AuthError> {
    // Verify against a fixed hash even for unknown names, so timing does
    // not reveal which names exist.
    const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2Nvb3RzY29vdHNjb290$2CIL1MFQwA7Rb+Ng3d5EFZKyFe8bZQ+A9HgDBv6nYXI";
    let found = db.user_by_name(name).await?;
    let hash = found.as_ref().map_or(DUMMY, |(_, h)| h.as_str()).to_owned();
    let password = password.to_owned();
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .map_err(|e| AuthError::Hash(e.to_string()))?;
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

/// `scoot token create NAME`: an API token for an existing user.
pub async fn api_token_for(db: &dyn Repo, name: &str) -> Result<String, AuthError> {
    let (user, _) = db
        .user_by_name(name)
        .await?
        .ok_or_else(|| AuthError::NoSuchUser(name.to_owned()))?;
    issue_token(db, &user, TokenKind::Api, "cli", None).await
}

/// The user behind a presented token, if it is live.
pub async fn user_for_token(
    db: &dyn Repo,
    token: &str,
    kind: TokenKind,
) -> Result<Option<User>, DbError> {
    if token.is_empty() || token.len() > 256 {
        return Ok(None);
    }
    db.user_by_token(&token_hash(token), kind, now_millis())
        .await
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
    }

    #[test]
    fn names_are_restricted() {
        assert!(valid_name("alice.b-c_1"));
        assert!(!valid_name(""));
        assert!(!valid_name("a b"));
        assert!(!valid_name("<script>"));
    }
}

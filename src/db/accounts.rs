//! Users and their secrets (session and API tokens; only hashes are stored).

use async_trait::async_trait;

use super::DbResult;
use crate::domain::{Millis, UserId};
use crate::model::{TokenHolder, TokenInfo, TokenKind, User};

#[async_trait]
pub trait AccountRepo: Send + Sync {
    async fn user_count(&self) -> DbResult<u64>;
    /// Creates a user; `Conflict` if the name is taken. With no password
    /// hash, no password opens the account until one is set. With `only_if_first`,
    /// creates it only when there are no users at all (returns `None` if there
    /// are), atomically, for the first-run setup page.
    async fn create_user(
        &self,
        name: &str,
        password_hash: Option<&str>,
        is_admin: bool,
        only_if_first: bool,
    ) -> DbResult<Option<User>>;
    /// The active user and their password hash (empty when none is set).
    async fn user_by_name(&self, name: &str) -> DbResult<Option<(User, String)>>;
    /// The oldest active administrator, if any.
    async fn first_admin(&self) -> DbResult<Option<User>>;
    async fn insert_token(
        &self,
        token_hash: &str,
        user: &UserId,
        kind: TokenKind,
        label: &str,
        expires_at: Option<Millis>,
    ) -> DbResult<()>;
    /// The user a live token of `kind` belongs to.
    async fn user_by_token(
        &self,
        token_hash: &str,
        kind: TokenKind,
        now: Millis,
    ) -> DbResult<Option<TokenHolder>>;
    /// Records that a token was used `at`.
    async fn mark_token_used(&self, token_hash: &str, at: Millis) -> DbResult<()>;
    async fn delete_token(&self, token_hash: &str) -> DbResult<()>;
    /// The API tokens of `owner` (of everyone with `None`), live or
    /// expired, oldest first.
    async fn api_tokens(&self, owner: Option<&UserId>) -> DbResult<Vec<TokenInfo>>;
    /// Deletes the API token whose hash starts with `id` (hex digits
    /// only), among `owner`'s alone when given, if exactly one does; how
    /// many went (0 or 1).
    async fn revoke_api_token(&self, id: &str, owner: Option<&UserId>) -> DbResult<u64>;
    /// Deletes every token (session or API) that expired by `now`; how
    /// many went.
    async fn purge_expired_tokens(&self, now: Millis) -> DbResult<u64>;
    /// Records a first-run setup link (its hash).
    async fn add_setup_token(&self, token_hash: &str, now: Millis) -> DbResult<()>;
    /// Whether a setup link with this hash was recorded and not cleared.
    async fn setup_token_known(&self, token_hash: &str) -> DbResult<bool>;
    /// Forgets every setup link: setup is done.
    async fn clear_setup_tokens(&self) -> DbResult<()>;
}

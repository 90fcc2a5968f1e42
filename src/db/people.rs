//! People, as an administrator manages them: the list, admin rights,
//! passwords, and deleting a user (their photos into the trash) or
//! restoring them.

use async_trait::async_trait;

use super::DbResult;
use crate::domain::{Millis, UserId};
use crate::model::{Person, User};

/// The condition, on albums as `a`, that their owner is not deleted: a
/// deleted user's albums are gone from every list and link until they are
/// restored. The same SQL on both engines.
pub(crate) const ALBUM_OWNER_ACTIVE: &str =
    "a.owner_id NOT IN (SELECT d.id FROM users d WHERE d.deleted_at IS NOT NULL)";

/// The outcome of a change that must leave at least one administrator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retired<T> {
    Done(T),
    /// No active user has that id.
    NotFound,
    /// It would leave the site without an active administrator.
    LastAdmin,
}

#[async_trait]
pub trait PeopleRepo: Send + Sync {
    /// Every user, active and deleted, by name.
    async fn people(&self) -> DbResult<Vec<Person>>;
    /// The user with this id, active or deleted.
    async fn person(&self, id: &UserId) -> DbResult<Option<Person>>;
    /// Gives or takes away admin rights; never the last active
    /// administrator's.
    async fn set_admin(&self, id: &UserId, is_admin: bool) -> DbResult<Retired<()>>;
    /// Sets an active user's password hash (`None`: no password works
    /// until they set one) and ends their sessions and set-password links.
    /// Whether there was such a user.
    async fn set_password(&self, id: &UserId, password_hash: Option<&str>) -> DbResult<bool>;
    /// Spends a live set-password link: sets its holder's password and
    /// ends their sessions and every link of theirs, in one transaction,
    /// so a link works once however many use it at the same moment.
    async fn redeem_password_token(
        &self,
        token_hash: &str,
        password_hash: &str,
        now: Millis,
    ) -> DbResult<Option<User>>;
    /// Deletes an active user at `now`: their tokens go, their photos go
    /// into the trash marked `now`; how many photos.
    async fn retire_user(&self, id: &UserId, now: Millis) -> DbResult<Retired<u64>>;
    /// Brings back a deleted user and the photos their deletion put in the
    /// trash; how many photos, `None` if no deleted user has that id.
    async fn reinstate_user(&self, id: &UserId, now: Millis) -> DbResult<Option<u64>>;
    /// Deletes the rows of users deleted by `cutoff` that own no photos any
    /// more (the trash sweep purges those first), after putting into the
    /// trash any photo of a deleted user that is still outside it (an
    /// upload that finished after the deletion). How many such photos,
    /// and how many users went.
    async fn purge_retired_users(&self, cutoff: Millis, now: Millis) -> DbResult<(u64, u64)>;
    /// Records that the user logged in at `at`.
    async fn record_login(&self, id: &UserId, at: Millis) -> DbResult<()>;
}

//! People: what an administrator (on `/admin/people`) or the operator (at
//! the `scoot user` command line) does to accounts. The list, new users
//! with a one-time set-password link, admin rights, password resets, and
//! deleting a user, which puts their photos in the trash and can be undone
//! until the trash would purge them.
//!
//! The rules, whoever asks:
//! - the site always keeps an active administrator: the last one can be
//!   neither demoted nor deleted;
//! - on the web, an administrator cannot demote or delete themselves (the
//!   page they are on would vanish); another administrator, or the
//!   operator, can;
//! - a password reset ends the user's sessions and makes their password
//!   stop working at once, until they use the new link.

use std::sync::Arc;

use super::{AppError, AppResult};
use crate::auth::{self, Hasher};
use crate::changes::Changes;
use crate::db::{Repo, Retired};
use crate::domain::{Millis, UserId, now_millis};
use crate::model::{Person, TokenKind, User};

/// How long a set-password link works.
pub const LINK_DAYS: u32 = 7;

#[derive(Clone)]
pub struct People {
    db: Arc<dyn Repo>,
    hasher: Hasher,
    changes: Changes,
    trash_days: u32,
}

/// Who asks: an administrator on the web, or the operator (`None`) at the
/// command line, who may do anything the rules allow.
pub type Asker<'a> = Option<&'a User>;

impl People {
    pub fn new(db: Arc<dyn Repo>, hasher: Hasher, changes: Changes, trash_days: u32) -> Self {
        Self {
            db,
            hasher,
            changes,
            trash_days,
        }
    }

    /// Every user, active and deleted, by name.
    pub async fn list(&self, by: Asker<'_>) -> AppResult<Vec<Person>> {
        allowed(by)?;
        Ok(self.db.people().await?)
    }

    /// The user called `name`, active or deleted.
    pub async fn named(&self, by: Asker<'_>, name: &str) -> AppResult<Person> {
        self.list(by)
            .await?
            .into_iter()
            .find(|p| p.user.name == name)
            .ok_or_else(|| AppError::invalid(format!("no such user: {name}")))
    }

    /// When a deleted user, and the photos their deletion put in the
    /// trash, are deleted for good.
    pub fn purge_at(&self, person: &Person) -> Option<Millis> {
        person
            .deleted_at
            .map(|at| at + Millis::from(self.trash_days) * 86_400_000)
    }

    /// A new user. With a password, they can log in at once; without, the
    /// answer carries the secret of a one-time link to set one (shown this
    /// once; see [`LINK_DAYS`]).
    pub async fn add(
        &self,
        by: Asker<'_>,
        name: &str,
        password: Option<&str>,
        admin: bool,
    ) -> AppResult<(User, Option<String>)> {
        allowed(by)?;
        let user = auth::create_user(self.db.as_ref(), &self.hasher, name, password, admin, false)
            .await?
            .ok_or_else(|| AppError::Internal("the user was not created".into()))?;
        tracing::info!(user = %user.name, admin, by = asker(by), "user created");
        let link = match password {
            Some(_) => None,
            None => Some(self.link(&user).await?),
        };
        Ok((user, link))
    }

    /// Gives or takes away admin rights.
    pub async fn set_admin(&self, by: Asker<'_>, id: &UserId, admin: bool) -> AppResult<Person> {
        let person = self.active(by, id).await?;
        if !admin && by.is_some_and(|u| u.id == *id) {
            return Err(AppError::invalid(
                "you cannot take away your own admin rights; another administrator can",
            ));
        }
        guarded(self.db.set_admin(id, admin).await?)?;
        tracing::info!(user = %person.user.name, admin, by = asker(by), "admin rights changed");
        self.get(id).await
    }

    /// Makes `id`'s password stop working, ends their sessions, and gives
    /// the secret of a one-time link to set a new one (shown this once).
    pub async fn reset_password(&self, by: Asker<'_>, id: &UserId) -> AppResult<(Person, String)> {
        let person = self.active(by, id).await?;
        self.db.set_password(id, None).await?;
        let link = self.link(&person.user).await?;
        tracing::info!(user = %person.user.name, by = asker(by), "password reset");
        Ok((self.get(id).await?, link))
    }

    /// Sets `id`'s password outright (`scoot user password`), ending their
    /// sessions and links.
    pub async fn set_password(&self, by: Asker<'_>, id: &UserId, password: &str) -> AppResult<()> {
        let person = self.active(by, id).await?;
        let hash = auth::new_password_hash(&self.hasher, password).await?;
        self.db.set_password(id, Some(&hash)).await?;
        tracing::info!(user = %person.user.name, by = asker(by), "password set");
        Ok(())
    }

    /// Deletes a user: they are logged out everywhere, their tokens stop
    /// working, their photos go into the trash and their albums out of
    /// sight. [`People::restore`] undoes it until [`People::purge_at`];
    /// how many photos went into the trash.
    pub async fn delete(&self, by: Asker<'_>, id: &UserId) -> AppResult<u64> {
        let person = self.active(by, id).await?;
        if by.is_some_and(|u| u.id == *id) {
            return Err(AppError::invalid(
                "you cannot delete your own account; another administrator can",
            ));
        }
        let photos = guarded(self.db.retire_user(id, now_millis()).await?)?;
        self.changes.accounts().await;
        tracing::info!(user = %person.user.name, photos, by = asker(by), "user deleted");
        Ok(photos)
    }

    /// Brings back a deleted user, with the photos and albums their
    /// deletion hid; how many photos. They log in with their old password.
    pub async fn restore(&self, by: Asker<'_>, id: &UserId) -> AppResult<u64> {
        allowed(by)?;
        let photos = self
            .db
            .reinstate_user(id, now_millis())
            .await?
            .ok_or(AppError::NotFound("deleted user"))?;
        self.changes.accounts().await;
        tracing::info!(user = %id, photos, by = asker(by), "user restored");
        Ok(photos)
    }

    /// The user with this id, active or deleted.
    pub async fn get(&self, id: &UserId) -> AppResult<Person> {
        self.db.person(id).await?.ok_or(AppError::NotFound("user"))
    }

    /// The active user `id`, if `by` may manage people. A database failure
    /// stays one; only a missing or deleted user is "not found".
    pub async fn active(&self, by: Asker<'_>, id: &UserId) -> AppResult<Person> {
        allowed(by)?;
        self.db
            .person(id)
            .await?
            .filter(|p| p.deleted_at.is_none())
            .ok_or(AppError::NotFound("user"))
    }

    /// A new set-password link's secret for `user`.
    async fn link(&self, user: &User) -> AppResult<String> {
        Ok(auth::issue_token(
            self.db.as_ref(),
            user,
            TokenKind::Password,
            "set password",
            Some(LINK_DAYS),
        )
        .await?)
    }
}

/// Only administrators, and the operator, manage people.
fn allowed(by: Asker<'_>) -> AppResult<()> {
    match by {
        Some(user) if !user.is_admin => Err(AppError::Forbidden),
        _ => Ok(()),
    }
}

fn asker(by: Asker<'_>) -> &str {
    by.map_or("the operator", |u| u.name.as_str())
}

/// What a guarded change refused, as an error.
fn guarded<T>(outcome: Retired<T>) -> AppResult<T> {
    match outcome {
        Retired::Done(value) => Ok(value),
        Retired::NotFound => Err(AppError::NotFound("user")),
        Retired::LastAdmin => Err(AppError::Conflict(
            "Scoot needs an administrator: make someone else one first".into(),
        )),
    }
}

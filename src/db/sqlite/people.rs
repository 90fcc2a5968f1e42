//! People on SQLite. Writes are serialised by SQLite itself, so the "at
//! least one administrator" rule is a read then a write in one transaction.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, Transaction, params};

use super::SqliteRepo;
use super::rows::{corrupt, user_from_row};
use crate::db::{DbResult, PeopleRepo, Retired};
use crate::domain::{Millis, UserId};
use crate::model::{Person, User};

/// One row per user: the [`Person`] columns in order. `?1` is one user's
/// id, or NULL for everyone.
const PEOPLE: &str = "
    SELECT u.id, u.name, u.is_admin, u.created_at,
           u.password_hash IS NOT NULL AND u.password_hash <> '',
           COUNT(p.id), COALESCE(SUM(p.original_size), 0),
           u.last_login_at,
           (SELECT MAX(t.last_used_at) FROM auth_tokens t WHERE t.user_id = u.id),
           u.deleted_at
    FROM users u
    LEFT JOIN photos p ON p.owner_id = u.id
         AND ((u.deleted_at IS NULL AND p.trashed_at IS NULL) OR p.trashed_at = u.deleted_at)
    WHERE ?1 IS NULL OR u.id = ?1
    GROUP BY u.id
    ORDER BY u.name";

fn person_from_row(r: &Row<'_>) -> DbResult<Person> {
    let count =
        |i| -> DbResult<u64> { u64::try_from(r.get::<_, i64>(i)?).map_err(corrupt("a count")) };
    let (login, token): (Option<Millis>, Option<Millis>) = (r.get(7)?, r.get(8)?);
    Ok(Person {
        user: user_from_row(r)?,
        created_at: r.get(3)?,
        has_password: r.get::<_, i64>(4)? != 0,
        photos: count(5)?,
        bytes: count(6)?,
        last_seen: login.max(token),
        deleted_at: r.get(9)?,
    })
}

fn query_people(c: &rusqlite::Connection, id: Option<&str>) -> DbResult<Vec<Person>> {
    let mut stmt = c.prepare_cached(PEOPLE)?;
    let mut rows = stmt.query([id])?;
    let mut people = Vec::new();
    while let Some(r) = rows.next()? {
        people.push(person_from_row(r)?);
    }
    Ok(people)
}

/// Whether `id` is an active user, and an administrator; `None` if no
/// active user has it.
fn active_admin(tx: &Transaction<'_>, id: &str) -> DbResult<Option<bool>> {
    Ok(tx
        .query_row(
            "SELECT is_admin FROM users WHERE id = ?1 AND deleted_at IS NULL",
            [id],
            |r| r.get::<_, i64>(0),
        )
        .optional()?
        .map(|a| a != 0))
}

/// Whether an active administrator other than `id` exists.
fn other_admin(tx: &Transaction<'_>, id: &str) -> DbResult<bool> {
    Ok(tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM users
                        WHERE is_admin = 1 AND deleted_at IS NULL AND id <> ?1)",
        [id],
        |r| r.get(0),
    )?)
}

/// Ends `id`'s sessions and set-password links.
fn end_sessions(tx: &Transaction<'_>, id: &str) -> DbResult<()> {
    tx.execute(
        "DELETE FROM auth_tokens WHERE user_id = ?1 AND kind IN ('session', 'password')",
        [id],
    )?;
    Ok(())
}

#[async_trait]
impl PeopleRepo for SqliteRepo {
    async fn people(&self) -> DbResult<Vec<Person>> {
        self.read(|c| query_people(c, None)).await
    }

    async fn person(&self, id: &UserId) -> DbResult<Option<Person>> {
        let id = id.clone();
        self.read(move |c| Ok(query_people(c, Some(id.as_str()))?.pop()))
            .await
    }

    async fn set_admin(&self, id: &UserId, is_admin: bool) -> DbResult<Retired<()>> {
        let id = id.clone();
        self.write(move |tx| {
            let Some(was) = active_admin(tx, id.as_str())? else {
                return Ok(Retired::NotFound);
            };
            if was && !is_admin && !other_admin(tx, id.as_str())? {
                return Ok(Retired::LastAdmin);
            }
            tx.execute(
                "UPDATE users SET is_admin = ?2 WHERE id = ?1",
                params![id.as_str(), i64::from(is_admin)],
            )?;
            Ok(Retired::Done(()))
        })
        .await
    }

    async fn set_password(&self, id: &UserId, password_hash: Option<&str>) -> DbResult<bool> {
        let (id, hash) = (id.clone(), password_hash.map(str::to_owned));
        self.write(move |tx| {
            let n = tx.execute(
                "UPDATE users SET password_hash = ?2 WHERE id = ?1 AND deleted_at IS NULL",
                params![id.as_str(), hash],
            )?;
            end_sessions(tx, id.as_str())?;
            Ok(n > 0)
        })
        .await
    }

    async fn redeem_password_token(
        &self,
        token_hash: &str,
        password_hash: &str,
        now: Millis,
    ) -> DbResult<Option<User>> {
        let (token_hash, hash) = (token_hash.to_owned(), password_hash.to_owned());
        self.write(move |tx| {
            let user = tx
                .query_row(
                    "SELECT u.id, u.name, u.is_admin
                     FROM auth_tokens t JOIN users u ON u.id = t.user_id
                     WHERE t.token_hash = ?1 AND t.kind = 'password'
                       AND t.expires_at > ?2 AND u.deleted_at IS NULL",
                    params![token_hash, now],
                    |r| Ok(user_from_row(r)),
                )
                .optional()?
                .transpose()?;
            let Some(user) = user else {
                return Ok(None);
            };
            tx.execute(
                "UPDATE users SET password_hash = ?2 WHERE id = ?1",
                params![user.id.as_str(), hash],
            )?;
            end_sessions(tx, user.id.as_str())?;
            Ok(Some(user))
        })
        .await
    }

    async fn retire_user(&self, id: &UserId, now: Millis) -> DbResult<Retired<u64>> {
        let id = id.clone();
        self.write(move |tx| {
            let Some(admin) = active_admin(tx, id.as_str())? else {
                return Ok(Retired::NotFound);
            };
            if admin && !other_admin(tx, id.as_str())? {
                return Ok(Retired::LastAdmin);
            }
            tx.execute(
                "UPDATE users SET deleted_at = ?2 WHERE id = ?1",
                params![id.as_str(), now],
            )?;
            let trashed = tx.execute(
                "UPDATE photos SET trashed_at = ?2, updated_at = ?2
                 WHERE owner_id = ?1 AND trashed_at IS NULL",
                params![id.as_str(), now],
            )?;
            tx.execute("DELETE FROM auth_tokens WHERE user_id = ?1", [id.as_str()])?;
            Ok(Retired::Done(trashed as u64))
        })
        .await
    }

    async fn reinstate_user(&self, id: &UserId, now: Millis) -> DbResult<Option<u64>> {
        let id = id.clone();
        self.write(move |tx| {
            let deleted_at: Option<Millis> = tx
                .query_row(
                    "SELECT deleted_at FROM users WHERE id = ?1 AND deleted_at IS NOT NULL",
                    [id.as_str()],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(deleted_at) = deleted_at else {
                return Ok(None);
            };
            tx.execute(
                "UPDATE users SET deleted_at = NULL WHERE id = ?1",
                [id.as_str()],
            )?;
            let restored = tx.execute(
                "UPDATE photos SET trashed_at = NULL, updated_at = ?3
                 WHERE owner_id = ?1 AND trashed_at = ?2",
                params![id.as_str(), deleted_at, now],
            )?;
            Ok(Some(restored as u64))
        })
        .await
    }

    async fn purge_retired_users(&self, cutoff: Millis, now: Millis) -> DbResult<(u64, u64)> {
        self.write(move |tx| {
            let strays = tx.execute(
                "UPDATE photos
                 SET trashed_at = (SELECT u.deleted_at FROM users u WHERE u.id = photos.owner_id),
                     updated_at = ?1
                 WHERE trashed_at IS NULL
                   AND owner_id IN (SELECT id FROM users WHERE deleted_at IS NOT NULL)",
                [now],
            )?;
            let n = tx.execute(
                "DELETE FROM users
                 WHERE deleted_at IS NOT NULL AND deleted_at <= ?1
                   AND NOT EXISTS (SELECT 1 FROM photos p WHERE p.owner_id = users.id)",
                [cutoff],
            )?;
            Ok((strays as u64, n as u64))
        })
        .await
    }

    async fn record_login(&self, id: &UserId, at: Millis) -> DbResult<()> {
        let id = id.clone();
        self.write_relaxed(move |tx| {
            tx.execute(
                "UPDATE users SET last_login_at = ?2 WHERE id = ?1",
                params![id.as_str(), at],
            )?;
            Ok(())
        })
        .await
    }
}

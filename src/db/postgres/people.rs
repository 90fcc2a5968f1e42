//! People on PostgreSQL. A change that must leave an administrator first
//! locks every active administrator's row, so two such changes at once
//! are taken one after the other and the second sees the first.

use async_trait::async_trait;
use tokio_postgres::{Row, Transaction};

use super::PostgresRepo;
use super::rows::{corrupt, get, user_from_row};
use crate::db::{DbResult, PeopleRepo, Retired};
use crate::domain::{Millis, UserId};
use crate::model::{Person, User};

/// One row per user: the [`Person`] columns in order. `$1` is one user's
/// id, or NULL for everyone.
const PEOPLE: &str = "
    SELECT u.id, u.name, u.is_admin, u.created_at,
           u.password_hash IS NOT NULL AND u.password_hash <> '',
           COUNT(p.id), CAST(COALESCE(SUM(p.original_size), 0) AS BIGINT),
           u.last_login_at,
           (SELECT MAX(t.last_used_at) FROM auth_tokens t WHERE t.user_id = u.id),
           u.deleted_at
    FROM users u
    LEFT JOIN photos p ON p.owner_id = u.id
         AND ((u.deleted_at IS NULL AND p.trashed_at IS NULL) OR p.trashed_at = u.deleted_at)
    WHERE $1::TEXT IS NULL OR u.id = $1
    GROUP BY u.id
    ORDER BY u.name";

fn person_from_row(r: &Row) -> DbResult<Person> {
    let count =
        |i| -> DbResult<u64> { u64::try_from(get::<i64>(r, i)?).map_err(corrupt("a count")) };
    let (login, token): (Option<Millis>, Option<Millis>) = (get(r, 7)?, get(r, 8)?);
    Ok(Person {
        user: user_from_row(r)?,
        created_at: get(r, 3)?,
        has_password: get(r, 4)?,
        photos: count(5)?,
        bytes: count(6)?,
        last_seen: login.max(token),
        deleted_at: get(r, 9)?,
    })
}

impl PostgresRepo {
    async fn query_people(&self, id: Option<&str>) -> DbResult<Vec<Person>> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(PEOPLE).await?;
        client
            .query(&stmt, &[&id])
            .await?
            .iter()
            .map(person_from_row)
            .collect()
    }
}

/// Locks the active administrators' rows and `id`'s; whether `id` is an
/// active user and an administrator (`None`: no active user has it), and
/// whether another active administrator exists.
async fn lock_admins(tx: &Transaction<'_>, id: &str) -> DbResult<Option<(bool, bool)>> {
    let admins: Vec<String> = tx
        .query(
            "SELECT id FROM users WHERE is_admin = 1 AND deleted_at IS NULL ORDER BY id FOR UPDATE",
            &[],
        )
        .await?
        .iter()
        .map(|r| get(r, 0))
        .collect::<DbResult<_>>()?;
    let found = tx
        .query_opt(
            "SELECT is_admin FROM users WHERE id = $1 AND deleted_at IS NULL FOR UPDATE",
            &[&id],
        )
        .await?;
    let Some(row) = found else {
        return Ok(None);
    };
    let is_admin = get::<i32>(&row, 0)? != 0;
    Ok(Some((is_admin, admins.iter().any(|a| a != id))))
}

/// Ends `id`'s sessions and set-password links.
async fn end_sessions(tx: &Transaction<'_>, id: &str) -> DbResult<()> {
    tx.execute(
        "DELETE FROM auth_tokens WHERE user_id = $1 AND kind IN ('session', 'password')",
        &[&id],
    )
    .await?;
    Ok(())
}

#[async_trait]
impl PeopleRepo for PostgresRepo {
    async fn people(&self) -> DbResult<Vec<Person>> {
        self.query_people(None).await
    }

    async fn person(&self, id: &UserId) -> DbResult<Option<Person>> {
        Ok(self.query_people(Some(id.as_str())).await?.pop())
    }

    async fn set_admin(&self, id: &UserId, is_admin: bool) -> DbResult<Retired<()>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let Some((was, others)) = lock_admins(&tx, id.as_str()).await? else {
            return Ok(Retired::NotFound);
        };
        if was && !is_admin && !others {
            return Ok(Retired::LastAdmin);
        }
        tx.execute(
            "UPDATE users SET is_admin = $2 WHERE id = $1",
            &[&id.as_str(), &i32::from(is_admin)],
        )
        .await?;
        tx.commit().await?;
        Ok(Retired::Done(()))
    }

    async fn set_password(&self, id: &UserId, password_hash: Option<&str>) -> DbResult<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let n = tx
            .execute(
                "UPDATE users SET password_hash = $2 WHERE id = $1 AND deleted_at IS NULL",
                &[&id.as_str(), &password_hash],
            )
            .await?;
        end_sessions(&tx, id.as_str()).await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    async fn redeem_password_token(
        &self,
        token_hash: &str,
        password_hash: &str,
        now: Millis,
    ) -> DbResult<Option<User>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // Deleting the link first makes a second redemption at the same
        // moment wait here, then find nothing.
        let row = tx
            .query_opt(
                "DELETE FROM auth_tokens t USING users u
                 WHERE t.token_hash = $1 AND t.kind = 'password' AND t.expires_at > $2
                   AND u.id = t.user_id AND u.deleted_at IS NULL
                 RETURNING u.id, u.name, u.is_admin",
                &[&token_hash, &now],
            )
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let user = user_from_row(&row)?;
        tx.execute(
            "UPDATE users SET password_hash = $2 WHERE id = $1",
            &[&user.id.as_str(), &password_hash],
        )
        .await?;
        end_sessions(&tx, user.id.as_str()).await?;
        tx.commit().await?;
        Ok(Some(user))
    }

    async fn retire_user(&self, id: &UserId, now: Millis) -> DbResult<Retired<u64>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let Some((admin, others)) = lock_admins(&tx, id.as_str()).await? else {
            return Ok(Retired::NotFound);
        };
        if admin && !others {
            return Ok(Retired::LastAdmin);
        }
        tx.execute(
            "UPDATE users SET deleted_at = $2 WHERE id = $1",
            &[&id.as_str(), &now],
        )
        .await?;
        let trashed = tx
            .execute(
                "UPDATE photos SET trashed_at = $2, updated_at = $2
                 WHERE owner_id = $1 AND trashed_at IS NULL",
                &[&id.as_str(), &now],
            )
            .await?;
        tx.execute(
            "DELETE FROM auth_tokens WHERE user_id = $1",
            &[&id.as_str()],
        )
        .await?;
        tx.commit().await?;
        Ok(Retired::Done(trashed))
    }

    async fn reinstate_user(&self, id: &UserId, now: Millis) -> DbResult<Option<u64>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_opt(
                "SELECT deleted_at FROM users WHERE id = $1 AND deleted_at IS NOT NULL FOR UPDATE",
                &[&id.as_str()],
            )
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let deleted_at: Millis = get(&row, 0)?;
        tx.execute(
            "UPDATE users SET deleted_at = NULL WHERE id = $1",
            &[&id.as_str()],
        )
        .await?;
        let restored = tx
            .execute(
                "UPDATE photos SET trashed_at = NULL, updated_at = $3
                 WHERE owner_id = $1 AND trashed_at = $2",
                &[&id.as_str(), &deleted_at, &now],
            )
            .await?;
        tx.commit().await?;
        Ok(Some(restored))
    }

    async fn purge_retired_users(&self, cutoff: Millis, now: Millis) -> DbResult<(u64, u64)> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let strays = tx
            .execute(
                "UPDATE photos p SET trashed_at = u.deleted_at, updated_at = $1
                 FROM users u
                 WHERE u.id = p.owner_id AND u.deleted_at IS NOT NULL AND p.trashed_at IS NULL",
                &[&now],
            )
            .await?;
        let users = tx
            .execute(
                "DELETE FROM users u
                 WHERE u.deleted_at IS NOT NULL AND u.deleted_at <= $1
                   AND NOT EXISTS (SELECT 1 FROM photos p WHERE p.owner_id = u.id)",
                &[&cutoff],
            )
            .await?;
        tx.commit().await?;
        Ok((strays, users))
    }

    async fn record_login(&self, id: &UserId, at: Millis) -> DbResult<()> {
        self.client()
            .await?
            .execute(
                "UPDATE users SET last_login_at = $2 WHERE id = $1",
                &[&id.as_str(), &at],
            )
            .await?;
        Ok(())
    }
}

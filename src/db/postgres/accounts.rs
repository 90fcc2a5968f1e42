//! Users and their tokens on PostgreSQL.

use async_trait::async_trait;

use super::PostgresRepo;
use super::rows::{get, user_from_row};
use crate::db::{AccountRepo, DbError, DbResult};
use crate::domain::{Millis, UserId, now_millis};
use crate::model::{TokenHolder, TokenInfo, TokenKind, User};

#[async_trait]
impl AccountRepo for PostgresRepo {
    async fn user_count(&self) -> DbResult<u64> {
        let row = self
            .client()
            .await?
            .query_one("SELECT COUNT(*) FROM users", &[])
            .await?;
        Ok(get::<i64>(&row, 0)?.unsigned_abs())
    }

    async fn create_user(
        &self,
        name: &str,
        password_hash: Option<&str>,
        is_admin: bool,
        only_if_first: bool,
    ) -> DbResult<Option<User>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        if only_if_first {
            // Two first-run setups at once: the second waits here, then
            // finds the first's user.
            tx.batch_execute("LOCK TABLE users IN EXCLUSIVE MODE")
                .await?;
            let n: i64 = get(&tx.query_one("SELECT COUNT(*) FROM users", &[]).await?, 0)?;
            if n > 0 {
                return Ok(None);
            }
        }
        let user = User {
            id: UserId::generate(),
            name: name.to_owned(),
            is_admin,
        };
        tx.execute(
            "INSERT INTO users (id, name, password_hash, is_admin, created_at)
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &user.id.as_str(),
                &user.name,
                &password_hash,
                &i32::from(is_admin),
                &now_millis(),
            ],
        )
        .await
        .map_err(|e| match DbError::from(e) {
            DbError::Conflict(_) => DbError::Conflict(format!("user {} exists", user.name)),
            other => other,
        })?;
        tx.commit().await?;
        Ok(Some(user))
    }

    async fn user_by_name(&self, name: &str) -> DbResult<Option<(User, String)>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT id, name, is_admin, password_hash FROM users WHERE name = $1 AND deleted_at IS NULL")
            .await?;
        match client.query_opt(&stmt, &[&name]).await? {
            Some(r) => Ok(Some((
                user_from_row(&r)?,
                get::<Option<String>>(&r, 3)?.unwrap_or_default(),
            ))),
            None => Ok(None),
        }
    }

    async fn first_admin(&self) -> DbResult<Option<User>> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT id, name, is_admin FROM users WHERE is_admin = 1 AND deleted_at IS NULL
                 ORDER BY created_at, id LIMIT 1",
                &[],
            )
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn insert_token(
        &self,
        token_hash: &str,
        user: &UserId,
        kind: TokenKind,
        label: &str,
        expires_at: Option<Millis>,
    ) -> DbResult<()> {
        self.client()
            .await?
            .execute(
                "INSERT INTO auth_tokens (token_hash, user_id, kind, label, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &token_hash,
                    &user.as_str(),
                    &kind.as_str(),
                    &label,
                    &now_millis(),
                    &expires_at,
                ],
            )
            .await?;
        Ok(())
    }

    async fn user_by_token(
        &self,
        token_hash: &str,
        kind: TokenKind,
        now: Millis,
    ) -> DbResult<Option<TokenHolder>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT u.id, u.name, u.is_admin, t.last_used_at
                 FROM auth_tokens t JOIN users u ON u.id = t.user_id
                 WHERE t.token_hash = $1 AND t.kind = $2
                   AND (t.expires_at IS NULL OR t.expires_at > $3)
                   AND u.deleted_at IS NULL",
            )
            .await?;
        let row = client
            .query_opt(&stmt, &[&token_hash, &kind.as_str(), &now])
            .await?;
        match row {
            Some(r) => Ok(Some(TokenHolder {
                user: user_from_row(&r)?,
                last_used_at: get(&r, 3)?,
            })),
            None => Ok(None),
        }
    }

    async fn mark_token_used(&self, token_hash: &str, at: Millis) -> DbResult<()> {
        self.client()
            .await?
            .execute(
                "UPDATE auth_tokens SET last_used_at = $2 WHERE token_hash = $1",
                &[&token_hash, &at],
            )
            .await?;
        Ok(())
    }

    async fn delete_token(&self, token_hash: &str) -> DbResult<()> {
        self.client()
            .await?
            .execute(
                "DELETE FROM auth_tokens WHERE token_hash = $1",
                &[&token_hash],
            )
            .await?;
        Ok(())
    }

    async fn api_tokens(&self, owner: Option<&UserId>) -> DbResult<Vec<TokenInfo>> {
        let owner = owner.map(UserId::as_str);
        let rows = self
            .client()
            .await?
            .query(
                "SELECT t.token_hash, u.name, t.label, t.created_at, t.last_used_at, t.expires_at
                 FROM auth_tokens t JOIN users u ON u.id = t.user_id
                 WHERE t.kind = 'api' AND ($1::TEXT IS NULL OR t.user_id = $1)
                 ORDER BY t.created_at, t.token_hash",
                &[&owner],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(TokenInfo {
                    id: TokenInfo::id_of(get(r, 0)?),
                    owner: get(r, 1)?,
                    label: get(r, 2)?,
                    created_at: get(r, 3)?,
                    last_used_at: get(r, 4)?,
                    expires_at: get(r, 5)?,
                })
            })
            .collect()
    }

    async fn revoke_api_token(&self, id: &str, owner: Option<&UserId>) -> DbResult<u64> {
        let owner = owner.map(UserId::as_str);
        Ok(self
            .client()
            .await?
            .execute(
                "WITH named AS (
                     SELECT token_hash FROM auth_tokens
                     WHERE kind = 'api' AND token_hash LIKE $1 || '%'
                       AND ($2::TEXT IS NULL OR user_id = $2))
                 DELETE FROM auth_tokens
                 WHERE token_hash IN (SELECT token_hash FROM named)
                   AND (SELECT COUNT(*) FROM named) = 1",
                &[&id, &owner],
            )
            .await?)
    }

    async fn purge_expired_tokens(&self, now: Millis) -> DbResult<u64> {
        Ok(self
            .client()
            .await?
            .execute(
                "DELETE FROM auth_tokens WHERE expires_at IS NOT NULL AND expires_at <= $1",
                &[&now],
            )
            .await?)
    }

    async fn add_setup_token(&self, token_hash: &str, now: Millis) -> DbResult<()> {
        self.client()
            .await?
            .execute(
                "INSERT INTO setup_tokens (token_hash, created_at) VALUES ($1, $2)
                 ON CONFLICT DO NOTHING",
                &[&token_hash, &now],
            )
            .await?;
        Ok(())
    }

    async fn setup_token_known(&self, token_hash: &str) -> DbResult<bool> {
        let row = self
            .client()
            .await?
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM setup_tokens WHERE token_hash = $1)",
                &[&token_hash],
            )
            .await?;
        get(&row, 0)
    }

    async fn clear_setup_tokens(&self) -> DbResult<()> {
        self.client()
            .await?
            .execute("DELETE FROM setup_tokens", &[])
            .await?;
        Ok(())
    }
}

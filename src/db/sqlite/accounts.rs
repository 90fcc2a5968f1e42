//! Users and their tokens on SQLite.

use async_trait::async_trait;
use rusqlite::params;

use super::SqliteRepo;
use super::rows::user_from_row;
use crate::db::{AccountRepo, DbError, DbResult};
use crate::domain::{Millis, UserId};
use crate::model::{TokenHolder, TokenInfo, TokenKind, User};

#[async_trait]
impl AccountRepo for SqliteRepo {
    async fn user_count(&self) -> DbResult<u64> {
        self.read(|c| {
            let n: i64 = c.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?;
            Ok(n.unsigned_abs())
        })
        .await
    }

    async fn create_user(
        &self,
        name: &str,
        password_hash: Option<&str>,
        is_admin: bool,
        only_if_first: bool,
    ) -> DbResult<Option<User>> {
        let (name, password_hash) = (name.to_owned(), password_hash.map(str::to_owned));
        self.write(move |tx| {
            if only_if_first {
                let n: i64 = tx.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?;
                if n > 0 {
                    return Ok(None);
                }
            }
            let user = User {
                id: UserId::generate(),
                name,
                is_admin,
            };
            tx.execute(
                "INSERT INTO users (id, name, password_hash, is_admin, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    user.id.as_str(),
                    user.name,
                    password_hash,
                    i64::from(is_admin),
                    crate::domain::now_millis()
                ],
            )
            .map_err(|e| match DbError::from(e) {
                DbError::Conflict(_) => DbError::Conflict(format!("user {} exists", user.name)),
                other => other,
            })?;
            Ok(Some(user))
        })
        .await
    }

    async fn user_by_name(&self, name: &str) -> DbResult<Option<(User, String)>> {
        let name = name.to_owned();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, name, is_admin, password_hash FROM users WHERE name = ?1 AND deleted_at IS NULL",
            )?;
            let mut rows = stmt.query([name])?;
            match rows.next()? {
                Some(r) => Ok(Some((
                    user_from_row(r)?,
                    r.get::<_, Option<String>>(3)?.unwrap_or_default(),
                ))),
                None => Ok(None),
            }
        })
        .await
    }

    async fn first_admin(&self) -> DbResult<Option<User>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, name, is_admin FROM users WHERE is_admin = 1 AND deleted_at IS NULL
                 ORDER BY created_at, id LIMIT 1",
            )?;
            let mut rows = stmt.query([])?;
            rows.next()?.map(user_from_row).transpose()
        })
        .await
    }

    async fn insert_token(
        &self,
        token_hash: &str,
        user: &UserId,
        kind: TokenKind,
        label: &str,
        expires_at: Option<Millis>,
    ) -> DbResult<()> {
        let (token_hash, user, label) = (token_hash.to_owned(), user.clone(), label.to_owned());
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO auth_tokens (token_hash, user_id, kind, label, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    token_hash,
                    user.as_str(),
                    kind.as_str(),
                    label,
                    crate::domain::now_millis(),
                    expires_at
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn user_by_token(
        &self,
        token_hash: &str,
        kind: TokenKind,
        now: Millis,
    ) -> DbResult<Option<TokenHolder>> {
        let token_hash = token_hash.to_owned();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT u.id, u.name, u.is_admin, t.last_used_at
                 FROM auth_tokens t JOIN users u ON u.id = t.user_id
                 WHERE t.token_hash = ?1 AND t.kind = ?2
                   AND (t.expires_at IS NULL OR t.expires_at > ?3)
                   AND u.deleted_at IS NULL",
            )?;
            let mut rows = stmt.query(params![token_hash, kind.as_str(), now])?;
            match rows.next()? {
                Some(r) => Ok(Some(TokenHolder {
                    user: user_from_row(r)?,
                    last_used_at: r.get(3)?,
                })),
                None => Ok(None),
            }
        })
        .await
    }

    async fn mark_token_used(&self, token_hash: &str, at: Millis) -> DbResult<()> {
        let token_hash = token_hash.to_owned();
        self.write(move |tx| {
            tx.execute(
                "UPDATE auth_tokens SET last_used_at = ?2 WHERE token_hash = ?1",
                params![token_hash, at],
            )?;
            Ok(())
        })
        .await
    }

    async fn delete_token(&self, token_hash: &str) -> DbResult<()> {
        let token_hash = token_hash.to_owned();
        self.write(move |tx| {
            tx.execute(
                "DELETE FROM auth_tokens WHERE token_hash = ?1",
                [token_hash],
            )?;
            Ok(())
        })
        .await
    }

    async fn api_tokens(&self, owner: Option<&UserId>) -> DbResult<Vec<TokenInfo>> {
        let owner = owner.map(|o| o.as_str().to_owned());
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT t.token_hash, u.name, t.label, t.created_at, t.last_used_at, t.expires_at
                 FROM auth_tokens t JOIN users u ON u.id = t.user_id
                 WHERE t.kind = 'api' AND (?1 IS NULL OR t.user_id = ?1)
                 ORDER BY t.created_at, t.token_hash",
            )?;
            let rows = stmt.query_map([owner], |r| {
                Ok(TokenInfo {
                    id: TokenInfo::id_of(&r.get::<_, String>(0)?),
                    owner: r.get(1)?,
                    label: r.get(2)?,
                    created_at: r.get(3)?,
                    last_used_at: r.get(4)?,
                    expires_at: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn revoke_api_token(&self, id: &str, owner: Option<&UserId>) -> DbResult<u64> {
        let (id, owner) = (id.to_owned(), owner.map(|o| o.as_str().to_owned()));
        self.write(move |tx| {
            let n = tx.execute(
                "WITH named AS (
                     SELECT token_hash FROM auth_tokens
                     WHERE kind = 'api' AND token_hash LIKE ?1 || '%'
                       AND (?2 IS NULL OR user_id = ?2))
                 DELETE FROM auth_tokens
                 WHERE token_hash IN (SELECT token_hash FROM named)
                   AND (SELECT COUNT(*) FROM named) = 1",
                params![id, owner],
            )?;
            Ok(n as u64)
        })
        .await
    }

    async fn purge_expired_tokens(&self, now: Millis) -> DbResult<u64> {
        self.write(move |tx| {
            let n = tx.execute(
                "DELETE FROM auth_tokens WHERE expires_at IS NOT NULL AND expires_at <= ?1",
                [now],
            )?;
            Ok(n as u64)
        })
        .await
    }

    async fn add_setup_token(&self, token_hash: &str, now: Millis) -> DbResult<()> {
        let token_hash = token_hash.to_owned();
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO setup_tokens (token_hash, created_at) VALUES (?1, ?2)
                 ON CONFLICT DO NOTHING",
                params![token_hash, now],
            )?;
            Ok(())
        })
        .await
    }

    async fn setup_token_known(&self, token_hash: &str) -> DbResult<bool> {
        let token_hash = token_hash.to_owned();
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT EXISTS (SELECT 1 FROM setup_tokens WHERE token_hash = ?1)",
                [token_hash],
                |r| r.get(0),
            )?)
        })
        .await
    }

    async fn clear_setup_tokens(&self) -> DbResult<()> {
        self.write(|tx| {
            tx.execute("DELETE FROM setup_tokens", [])?;
            Ok(())
        })
        .await
    }
}

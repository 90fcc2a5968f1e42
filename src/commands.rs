//! What the CLI subcommands do, apart from argument parsing (which stays in
//! `main.rs`). Every command acts on the data that `scoot serve` uses,
//! because all of them read the same [`Config`].

use std::io::BufRead;

use crate::app::AppError;
use crate::app::accounts::Accounts;
use crate::auth::Hasher;
use crate::config::Config;
use crate::domain::{Millis, now_millis, utc_minute};
use crate::model::TokenInfo;
use crate::{StartError, db};

/// A command that could not do its job; printed, then exit status 1.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Start(#[from] StartError),
    #[error(transparent)]
    App(#[from] AppError),
    #[error(transparent)]
    Db(#[from] db::DbError),
    #[error(transparent)]
    Migrate(#[from] crate::migrate::MigrateError),
    #[error(transparent)]
    Check(#[from] crate::check::CheckError),
    #[error(transparent)]
    Backup(#[from] crate::backup::BackupError),
    #[error("{0}")]
    Input(String),
}

/// `scoot migrate`: applies pending migrations and reports the database.
pub async fn migrate(config: &Config) -> Result<String, CommandError> {
    let url = config.database_url();
    db::open(&url).await.map_err(StartError::Database)?;
    Ok(format!("{}: schema up to date", db::redacted(&url)))
}

/// Reads a password from the first line of `input` (stdin in practice).
pub fn read_password(mut input: impl BufRead) -> Result<String, CommandError> {
    let mut line = String::new();
    input
        .read_line(&mut line)
        .map_err(|e| CommandError::Input(format!("reading password from stdin: {e}")))?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        return Err(CommandError::Input(
            "no password on stdin (e.g. `echo 'secret pass' | scoot user add NAME`)".into(),
        ));
    }
    Ok(password)
}

/// `scoot user add NAME [--admin]`.
pub async fn user_add(
    config: &Config,
    name: &str,
    password: &str,
    admin: bool,
) -> Result<String, CommandError> {
    let user = accounts(config)
        .await?
        .create_user(name, password, admin)
        .await?;
    let role = if user.is_admin { "admin" } else { "user" };
    Ok(format!("created {role} {}", user.name))
}

/// `scoot token create NAME [--label L] [--expires-in-days N]`: the new
/// bearer token, and nothing else.
pub async fn token_create(
    config: &Config,
    name: &str,
    label: &str,
    lifetime_days: Option<u32>,
) -> Result<String, CommandError> {
    Ok(accounts(config)
        .await?
        .api_token(name, label, lifetime_days)
        .await?)
}

/// `scoot token list NAME`: a table of the user's API tokens.
pub async fn token_list(config: &Config, name: &str) -> Result<String, CommandError> {
    let tokens = accounts(config).await?.api_tokens(Some(name)).await?;
    if tokens.is_empty() {
        return Ok(format!("{name} has no API tokens"));
    }
    Ok(token_table(&tokens, now_millis()))
}

/// `scoot token revoke ID`.
pub async fn token_revoke(config: &Config, id: &str) -> Result<String, CommandError> {
    accounts(config).await?.revoke_api_token(id, None).await?;
    Ok(format!("revoked token {id}"))
}

/// Tokens as aligned columns: id, label, created, last used, expires.
fn token_table(tokens: &[TokenInfo], now: Millis) -> String {
    let rows: Vec<[String; 5]> = tokens
        .iter()
        .map(|t| {
            let expires = match t.expires_at {
                None => "never".to_owned(),
                Some(at) if at <= now => format!("expired {}", utc_minute(at)),
                Some(at) => utc_minute(at),
            };
            [
                t.id.clone(),
                t.label.clone(),
                utc_minute(t.created_at),
                t.last_used_at
                    .map_or_else(|| "never".to_owned(), utc_minute),
                expires,
            ]
        })
        .collect();
    let header = ["ID", "LABEL", "CREATED", "LAST USED", "EXPIRES"].map(String::from);
    let widths: Vec<usize> = (0..5)
        .map(|i| {
            std::iter::once(&header)
                .chain(&rows)
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    std::iter::once(&header)
        .chain(&rows)
        .map(|row| {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            cells.join("  ").trim_end().to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The account service on the configured database, for commands that
/// need nothing else (one hashing thread is plenty for one password).
async fn accounts(config: &Config) -> Result<Accounts, CommandError> {
    let db = db::open(&config.database_url()).await?;
    Ok(Accounts::new(db, Hasher::new(1), config.auth.clone()))
}

//! What the CLI subcommands do, apart from argument parsing (which stays in
//! `main.rs`). Every command acts on the data that `scoot serve` uses,
//! because all of them read the same [`Config`].

use std::io::BufRead;

use crate::app::AppError;
use crate::app::accounts::Accounts;
use crate::auth::Hasher;
use crate::config::Config;
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

/// `scoot token create NAME`: the new bearer token, and nothing else.
pub async fn token_create(config: &Config, name: &str) -> Result<String, CommandError> {
    Ok(accounts(config).await?.api_token(name).await?)
}

/// The account service on the configured database, for commands that
/// need nothing else (one hashing thread is plenty for one password).
async fn accounts(config: &Config) -> Result<Accounts, CommandError> {
    let db = db::open(&config.database_url()).await?;
    Ok(Accounts::new(db, Hasher::new(1), config.auth.clone()))
}

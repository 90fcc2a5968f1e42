//! What the CLI subcommands do, apart from argument parsing (which stays in
//! `main.rs`). Every command acts on the data that `scoot serve` uses,
//! because all of them read the same [`Config`].
//!
//! - [`accounts`]: `scoot user …` and `scoot token …`.

use std::io::BufRead;

use crate::app::AppError;
use crate::config::Config;
use crate::{StartError, db};

mod accounts;

pub use accounts::{
    UserChange, token_create, token_list, token_revoke, user_add, user_change, user_list,
};

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
            "no password on stdin (e.g. `echo 'secret pass' | scoot user add NAME`, \
             or --link for a set-password link)"
                .into(),
        ));
    }
    Ok(password)
}

/// Rows as aligned columns under `header`, two spaces apart.
fn table<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
    let header = header.map(String::from);
    let widths: Vec<usize> = (0..N)
        .map(|i| {
            std::iter::once(&header)
                .chain(rows)
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    std::iter::once(&header)
        .chain(rows)
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

//! `scoot user …` and `scoot token …`: the operator's side of the admin
//! page's people and tokens, through the same services and rules.

use std::net::SocketAddr;

use super::{CommandError, table};
use crate::app::accounts::Accounts;
use crate::app::people::{LINK_DAYS, People};
use crate::auth::Hasher;
use crate::cache::Caches;
use crate::changes::Changes;
use crate::config::Config;
use crate::db;
use crate::domain::{Millis, human_bytes, now_millis, utc_minute};
use crate::model::{Person, TokenInfo};

/// What `scoot user …` does to an existing user.
#[derive(Debug, Clone)]
pub enum UserChange {
    Promote,
    Demote,
    /// A new password, from stdin.
    Password(String),
    /// No password until they open a new set-password link.
    ResetLink,
    Delete,
    Restore,
}

/// `scoot user list`: everyone, deleted users too.
pub async fn user_list(config: &Config) -> Result<String, CommandError> {
    let people = people(config).await?;
    let everyone = people.list(None).await?;
    let now = now_millis();
    let rows: Vec<[String; 6]> = everyone
        .iter()
        .map(|p| {
            [
                p.user.name.clone(),
                role(p).into(),
                p.photos.to_string(),
                human_bytes(p.bytes),
                p.last_seen.map_or_else(|| "never".to_owned(), utc_minute),
                status(&people, p, now),
            ]
        })
        .collect();
    Ok(table(
        ["NAME", "ROLE", "PHOTOS", "SIZE", "LAST SEEN", "STATUS"],
        &rows,
    ))
}

fn role(p: &Person) -> &'static str {
    if p.user.is_admin { "admin" } else { "user" }
}

fn status(people: &People, p: &Person, now: Millis) -> String {
    match (people.purge_at(p), p.has_password) {
        (Some(at), _) if at <= now => "deleted; removed at the next sweep".into(),
        (Some(at), _) => format!("deleted; restorable until {}", utc_minute(at)),
        (None, true) => "active".into(),
        (None, false) => "no password yet".into(),
    }
}

/// `scoot user add NAME [--admin] [--link]`: with a password, or with a
/// one-time set-password link to hand over.
pub async fn user_add(
    config: &Config,
    name: &str,
    password: Option<&str>,
    admin: bool,
) -> Result<String, CommandError> {
    let (user, link) = people(config)
        .await?
        .add(None, name, password, admin)
        .await?;
    let role = if user.is_admin { "admin" } else { "user" };
    let created = format!("created {role} {}", user.name);
    Ok(match link {
        Some(secret) => format!("{created}\n{}", link_text(config, &secret)),
        None => created,
    })
}

/// `scoot user promote|demote|password|reset-password|delete|restore NAME`.
pub async fn user_change(
    config: &Config,
    name: &str,
    change: UserChange,
) -> Result<String, CommandError> {
    let people = people(config).await?;
    let person = people.named(None, name).await?;
    let id = &person.user.id;
    Ok(match change {
        UserChange::Promote => {
            people.set_admin(None, id, true).await?;
            format!("{name} is an administrator")
        }
        UserChange::Demote => {
            people.set_admin(None, id, false).await?;
            format!("{name} is no longer an administrator")
        }
        UserChange::Password(password) => {
            people.set_password(None, id, &password).await?;
            format!("password of {name} set; their sessions are ended")
        }
        UserChange::ResetLink => {
            let (_, secret) = people.reset_password(None, id).await?;
            format!(
                "password of {name} reset; their sessions are ended\n{}",
                link_text(config, &secret)
            )
        }
        UserChange::Delete => {
            let photos = people.delete(None, id).await?;
            let deleted = people.get(id).await?;
            let until = people
                .purge_at(&deleted)
                .map_or_else(String::new, utc_minute);
            format!(
                "deleted {name}: {photos} photo(s) moved to the trash; \
                 `scoot user restore {name}` undoes it until {until}"
            )
        }
        UserChange::Restore => {
            let photos = people.restore(None, id).await?;
            format!("restored {name} with {photos} photo(s)")
        }
    })
}

/// How a set-password link is handed over: Scoot's own address as this
/// configuration listens (a site behind a proxy swaps in its own).
fn link_text(config: &Config, secret: &str) -> String {
    format!(
        "set-password link (works once, for {LINK_DAYS} days): {}",
        password_url(config.listen, secret)
    )
}

fn password_url(listen: SocketAddr, secret: &str) -> String {
    let host = match listen.ip() {
        ip if ip.is_unspecified() => "localhost".to_owned(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    format!("http://{host}:{}/password?token={secret}", listen.port())
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

/// `scoot token list [NAME]`: a table of one user's API tokens, or of
/// everyone's.
pub async fn token_list(config: &Config, name: Option<&str>) -> Result<String, CommandError> {
    let tokens = accounts(config).await?.api_tokens(name).await?;
    if tokens.is_empty() {
        return Ok(match name {
            Some(name) => format!("{name} has no API tokens"),
            None => "no API tokens".into(),
        });
    }
    Ok(token_table(&tokens, now_millis(), name.is_none()))
}

/// `scoot token revoke ID`.
pub async fn token_revoke(config: &Config, id: &str) -> Result<String, CommandError> {
    accounts(config).await?.revoke_api_token(id, None).await?;
    Ok(format!("revoked token {id}"))
}

/// Tokens as aligned columns: id, owner (when listing everyone's),
/// label, created, last used, expires.
fn token_table(tokens: &[TokenInfo], now: Millis, with_owner: bool) -> String {
    let rows: Vec<[String; 6]> = tokens
        .iter()
        .map(|t| {
            let expires = match t.expires_at {
                None => "never".to_owned(),
                Some(at) if at <= now => format!("expired {}", utc_minute(at)),
                Some(at) => utc_minute(at),
            };
            [
                t.id.clone(),
                t.owner.clone(),
                t.label.clone(),
                utc_minute(t.created_at),
                t.last_used_at
                    .map_or_else(|| "never".to_owned(), utc_minute),
                expires,
            ]
        })
        .collect();
    let header = ["ID", "OWNER", "LABEL", "CREATED", "LAST USED", "EXPIRES"];
    if with_owner {
        return table(header, &rows);
    }
    let without = |r: &[String; 6]| [0, 2, 3, 4, 5].map(|i| r[i].clone());
    let rows: Vec<[String; 5]> = rows.iter().map(without).collect();
    table([0, 2, 3, 4, 5].map(|i| header[i]), &rows)
}

/// The account service on the configured database, for commands that
/// need nothing else (one hashing thread is plenty for one password).
async fn accounts(config: &Config) -> Result<Accounts, CommandError> {
    let db = db::open(&config.database_url()).await?;
    Ok(Accounts::new(db, Hasher::new(1), config.auth.clone()))
}

/// The people service on the configured database. What it changes is
/// announced through the database, so a running `scoot serve` drops what
/// it cached of those users' photos.
async fn people(config: &Config) -> Result<People, CommandError> {
    let db = db::open(&config.database_url()).await?;
    let caches = Caches::new(&config.cache, &crate::metrics::Metrics::new().cache_lookups);
    let changes = Changes::new(caches, db.clone(), &Changes::new_node_name());
    Ok(People::new(db, Hasher::new(1), changes, config.trash.days))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_name_a_reachable_host() {
        let url = |listen: &str| password_url(listen.parse().unwrap(), "abc");
        assert_eq!(
            url("0.0.0.0:8080"),
            "http://localhost:8080/password?token=abc"
        );
        assert_eq!(
            url("127.0.0.1:80"),
            "http://127.0.0.1:80/password?token=abc"
        );
        assert_eq!(url("[::1]:8080"), "http://[::1]:8080/password?token=abc");
    }
}

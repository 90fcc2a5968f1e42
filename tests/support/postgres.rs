//! Fresh PostgreSQL databases for tests, on the server a URL names.
//!
//! Each runs on a thread of its own with its own runtime, so that it works
//! from sync and async code alike. Each test crate that includes this uses
//! part of it.
#![allow(dead_code)]

use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

/// Runs `sql` on the server `admin_url` names; `ignore` is an error code
/// that counts as success.
fn run_admin(admin_url: &str, sql: String, ignore: Option<SqlState>) {
    let admin_url = admin_url.to_owned();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (client, connection) = tokio_postgres::connect(&admin_url, NoTls)
                .await
                .unwrap_or_else(|e| panic!("{admin_url} is named but: {e}"));
            tokio::spawn(connection);
            match client.batch_execute(&sql).await {
                Ok(()) => {}
                Err(e) if e.code().is_some() && e.code() == ignore.as_ref() => {}
                Err(e) => panic!("{sql}: {e}"),
            }
        });
    })
    .join()
    .expect("talking to the test database server");
}

/// Creates database `name` (unless it exists) on the server `admin_url`
/// names, and returns its URL.
pub fn fresh_database(admin_url: &str, name: &str) -> String {
    run_admin(
        admin_url,
        format!("CREATE DATABASE {name}"),
        Some(SqlState::DUPLICATE_DATABASE),
    );
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (admin_url, String::new()),
    };
    let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
    format!("{server}/{name}{query}")
}

/// Drops database `name`, closing whatever is still connected to it.
pub fn drop_database(admin_url: &str, name: &str) {
    run_admin(
        admin_url,
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        None,
    );
}

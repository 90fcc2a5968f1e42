//! API tokens can be listed (never their secret), given an expiry, and
//! revoked — from the CLI and from the admin page — and expired sessions
//! and tokens are purged.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use scoot::model::TokenKind;

use crate::helpers::{TestApp, cli, create_user, scoot, spawn_app};

/// The row of `scoot token list` output whose label is `label`.
fn row<'a>(listing: &'a str, label: &str) -> Option<&'a str> {
    listing
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(label))
}

#[tokio::test]
async fn the_cli_lists_and_revokes_tokens_without_showing_secrets() {
    let app = spawn_app().await;
    let data = app.data_dir().to_owned();
    let secret = cli(
        &data,
        &[
            "token",
            "create",
            "alice",
            "--label",
            "backup",
            "--expires-in-days",
            "30",
        ],
        "",
    )
    .await;
    assert_eq!(secret.len(), 64, "only the secret is printed: {secret:?}");

    let listing = cli(&data, &["token", "list", "alice"], "").await;
    assert!(listing.starts_with("ID "), "{listing}");
    let backup = row(&listing, "backup").expect("the new token is listed");
    let cells: Vec<&str> = backup.split("  ").filter(|c| !c.is_empty()).collect();
    let id = cells[0].trim().to_owned();
    assert_eq!(id.len(), 12, "{backup}");
    assert!(cells[3].trim() == "never", "not used yet: {backup}");
    assert!(cells[4].contains("UTC"), "expires: {backup}");
    assert!(row(&listing, "test").is_some(), "the fixture's token too");
    let hash = scoot::auth::token_hash(&secret);
    assert!(!listing.contains(&secret) && !listing.contains(&hash));

    // Using it marks it used.
    let used = app.get_as("/api/photos", &secret).await;
    assert_eq!(used.status(), StatusCode::OK);
    let listing = cli(&data, &["token", "list", "alice"], "").await;
    let backup = row(&listing, "backup").unwrap();
    assert!(!backup.contains("never  "), "used: {backup}");

    // Revoked, it opens nothing, at once.
    assert_eq!(
        cli(&data, &["token", "revoke", &id], "").await,
        format!("revoked token {id}")
    );
    let refused = app.get_as("/api/photos", &secret).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(row(&cli(&data, &["token", "list", "alice"], "").await, "backup").is_none());
    // An unknown id, or the same one again, is an error.
    for id in [id.as_str(), "0123456789ab", "not-an-id"] {
        let again = scoot(&data).args(["token", "revoke", id]).output().unwrap();
        assert!(!again.status.success(), "{id}");
        assert!(String::from_utf8_lossy(&again.stderr).contains("token not found"));
    }
    // Creation refuses what it could not honour.
    for args in [
        &["token", "create", "alice", "--expires-in-days", "0"][..],
        &["token", "create", "nobody"][..],
    ] {
        let out = scoot(&data).args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
    }
    app.shutdown().await;
}

/// Presses the admin page's Revoke button for token `id` in the session
/// `cookie`, whose pages carry `form_token`.
async fn revoke(app: &TestApp, id: &str, cookie: &str, form_token: &str) -> StatusCode {
    app.client
        .post(app.url(&format!("/admin/tokens/{id}/revoke")))
        .header("cookie", cookie)
        .form(&[("form_token", form_token)])
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn the_admin_page_makes_lists_and_revokes_tokens() {
    let app = spawn_app().await;
    let (cookie, form_token) = app.session("alice").await;
    let post = |path: &str| app.client.post(app.url(path)).header("cookie", &cookie);
    let made = post("/admin/tokens")
        .form(&[
            ("form_token", form_token.as_str()),
            ("label", "phone <app>"),
            ("expires_in_days", "90"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), StatusCode::OK);
    assert_eq!(made.headers()["cache-control"], "no-store");
    let page = made.text().await.unwrap();
    let secret = page
        .split(r#"<code class="secret">"#)
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the secret is shown once")
        .to_owned();
    assert_eq!(secret.len(), 64);
    assert!(page.contains("phone &#60;app&#62;") || page.contains("phone &lt;app&gt;"));
    assert_eq!(
        app.get_as("/api/photos", &secret).await.status(),
        StatusCode::OK
    );

    // Listed afterwards by id, never by secret.
    let listed = app
        .get_with_cookie("/admin", &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(!listed.contains(&secret));
    let id = scoot::model::TokenInfo::id_of(&scoot::auth::token_hash(&secret));
    assert!(listed.contains(&format!("/admin/tokens/{id}/revoke")));

    // Another user may neither see nor revoke tokens.
    create_user(&app.config, "bob", false).await;
    let (bob, bob_form) = app.session("bob").await;
    assert_eq!(
        app.get_with_cookie("/admin", &bob).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        revoke(&app, &id, &bob, &bob_form).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get_as("/api/photos", &secret).await.status(),
        StatusCode::OK
    );

    assert_eq!(
        revoke(&app, &id, &cookie, &form_token).await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        app.get_as("/api/photos", &secret).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let listed = app
        .get_with_cookie("/admin", &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(!listed.contains(&format!("/admin/tokens/{id}/revoke")));
    assert_eq!(
        revoke(&app, &id, &cookie, &form_token).await,
        StatusCode::NOT_FOUND
    );
    app.shutdown().await;
}

#[tokio::test]
async fn expired_sessions_and_tokens_are_purged() {
    // No server here, whose own purge would race this one.
    let dir = tempfile::tempdir().unwrap();
    let config = crate::helpers::test_config(dir.path());
    create_user(&config, "alice", true).await;
    let db = scoot::db::open(&config.database_url()).await.unwrap();
    let accounts = scoot::app::accounts::Accounts::new(
        db.clone(),
        scoot::auth::Hasher::new(1),
        config.auth.clone(),
    );
    let alice = accounts.named("alice").await.unwrap().unwrap();
    let past = scoot::domain::now_millis() - 1;
    db.insert_token(
        "old-session",
        &alice.id,
        TokenKind::Session,
        "browser",
        Some(past),
    )
    .await
    .unwrap();
    db.insert_token("old-api", &alice.id, TokenKind::Api, "stale", Some(past))
        .await
        .unwrap();
    let listed = accounts.api_tokens(Some("alice")).await.unwrap();
    assert!(
        listed.iter().any(|t| t.label == "stale"),
        "listed until purged"
    );

    assert_eq!(accounts.purge_expired().await.unwrap(), 2);
    let listed = accounts.api_tokens(Some("alice")).await.unwrap();
    assert!(listed.iter().all(|t| t.label != "stale"));
    assert_eq!(listed.len(), 1, "alice's live token stays");
}

/// The server purges by itself, starting when it starts.
#[tokio::test]
async fn a_starting_server_purges_what_expired_while_it_was_down() {
    let app = spawn_app().await;
    let alice = app
        .services()
        .accounts
        .named("alice")
        .await
        .unwrap()
        .unwrap();
    let data = app.stop_keeping_data().await;
    let config = crate::helpers::test_config(data.path());
    let db = scoot::db::open(&config.database_url()).await.unwrap();
    let past = scoot::domain::now_millis() - 1;
    db.insert_token("expired", &alice.id, TokenKind::Api, "stale", Some(past))
        .await
        .unwrap();
    let running = scoot::start(config.clone()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let tokens = running.app().accounts.api_tokens(None).await.unwrap();
        if tokens.iter().all(|t| t.label != "stale") {
            break;
        }
        assert!(Instant::now() < deadline, "never purged: {tokens:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    running.shutdown().await;
}

/// Using a token marks it used, but at most once an hour: a busy client
/// does not turn every request into a write.
#[tokio::test]
async fn a_tokens_use_is_recorded_at_most_hourly() {
    let dir = tempfile::tempdir().unwrap();
    let config = crate::helpers::test_config(dir.path());
    let secret = create_user(&config, "alice", true).await;
    let db = scoot::db::open(&config.database_url()).await.unwrap();
    let hash = scoot::auth::token_hash(&secret);
    let last_used = || async { db.api_tokens(None).await.unwrap()[0].last_used_at };
    let use_it = || scoot::auth::user_for_token(db.as_ref(), &secret, TokenKind::Api);
    assert_eq!(last_used().await, None);

    assert!(use_it().await.unwrap().is_some());
    let first = last_used().await.expect("marked on first use");
    let now = scoot::domain::now_millis();
    assert!((now - first).abs() < 60_000);

    // Ten minutes ago: not written again.
    db.mark_token_used(&hash, now - 600_000).await.unwrap();
    use_it().await.unwrap();
    assert_eq!(last_used().await, Some(now - 600_000));
    // Two hours ago: written again.
    db.mark_token_used(&hash, now - 7_200_000).await.unwrap();
    use_it().await.unwrap();
    assert!(last_used().await.unwrap() >= now);
}

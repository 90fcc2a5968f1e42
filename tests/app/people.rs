//! People: an administrator adds users with a one-time set-password link,
//! gives and takes admin rights, resets passwords, deletes users (their
//! photos to the trash, their albums out of sight) and restores them — on
//! `/admin/people` and with `scoot user …`, under one set of rules.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use scoot::db::Retired;
use scoot::domain::now_millis;
use scoot::web::albums_api::AlbumJson;
use scoot::web::api::PhotoJson;
use serde_json::json;

use crate::helpers::{TestApp, cli, create_user, file_form, png, scoot, spawn_app};

/// An admin's session on the people page.
struct Admin<'a> {
    app: &'a TestApp,
    cookie: String,
    form_token: String,
}

impl Admin<'_> {
    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let mut form = vec![("form_token", self.form_token.as_str())];
        form.extend_from_slice(fields);
        self.app
            .client
            .post(self.app.url(path))
            .header("cookie", &self.cookie)
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    async fn page(&self) -> String {
        let resp = self
            .app
            .get_with_cookie("/admin/people", &self.cookie)
            .await;
        assert_eq!(resp.status(), StatusCode::OK);
        resp.text().await.unwrap()
    }

    /// The id on the people page of the user called `name`.
    async fn id_of(&self, name: &str) -> String {
        let page = self.page().await;
        let row = page
            .split("<tr>")
            .find(|r| r.contains(&format!("<th scope=\"row\">{name}")))
            .unwrap_or_else(|| panic!("{name} is listed: {page}"));
        row.split("/admin/people/")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .expect("a row names its user's id")
            .to_owned()
    }
}

async fn admin(app: &TestApp) -> Admin<'_> {
    let (cookie, form_token) = app.session("alice").await;
    Admin {
        app,
        cookie,
        form_token,
    }
}

/// The set-password link's path shown on a page.
fn link_in(page: &str) -> String {
    let (_, rest) = page
        .split_once(r#"id="password-link" readonly value=""#)
        .expect("the page shows a link");
    rest.split('"').next().unwrap().replace("&#61;", "=")
}

/// Sets `password` through the link at `path`; the response.
async fn set_password(app: &TestApp, path: &str, password: &str) -> reqwest::Response {
    let token = path.split("token=").nth(1).unwrap();
    app.client
        .post(app.url("/password"))
        .form(&[("token", token), ("password", password)])
        .send()
        .await
        .unwrap()
}

async fn log_in(app: &TestApp, name: &str, password: &str) -> StatusCode {
    app.client
        .post(app.url("/login"))
        .form(&[("name", name), ("password", password)])
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn a_new_user_chooses_a_password_through_a_one_time_link() {
    let app = spawn_app().await;
    let alice = admin(&app).await;
    let added = alice.post("/admin/people", &[("name", "carol")]).await;
    assert_eq!(added.status(), StatusCode::OK);
    assert_eq!(added.headers()["cache-control"], "no-store");
    let path = link_in(&added.text().await.unwrap());
    assert!(path.starts_with("/password?token="), "{path}");
    let listed = alice.page().await;
    assert!(!listed.contains(&path), "the link is shown once");
    assert!(listed.contains("No password yet"));
    // No password opens the account yet.
    assert_eq!(
        log_in(&app, "carol", "password-carol").await,
        StatusCode::UNAUTHORIZED
    );

    let form = app.get(&path).await;
    assert_eq!(form.status(), StatusCode::OK);
    let form = form.text().await.unwrap();
    assert!(form.contains("<strong>carol</strong>"), "{form}");
    // A password that breaks the rules leaves the link as it was.
    let short = set_password(&app, &path, "short").await;
    assert_eq!(short.status(), StatusCode::BAD_REQUEST);
    assert!(short.text().await.unwrap().contains("8 to 1024"));
    let set = set_password(&app, &path, "carol's new password").await;
    assert_eq!(set.status(), StatusCode::SEE_OTHER);
    assert!(
        set.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .starts_with("scoot_session=")
    );
    assert_eq!(
        log_in(&app, "carol", "carol's new password").await,
        StatusCode::SEE_OTHER
    );
    // Spent: the form and the post are refused, and the password stays.
    assert_eq!(app.get(&path).await.status(), StatusCode::GONE);
    assert_eq!(
        set_password(&app, &path, "someone else's").await.status(),
        StatusCode::GONE
    );
    assert_eq!(
        log_in(&app, "carol", "carol's new password").await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        app.get("/password?token=0123").await.status(),
        StatusCode::GONE
    );

    // A taken or malformed name is said on the page, which changes nothing.
    for (name, status, says) in [
        ("carol", StatusCode::CONFLICT, "already exists"),
        ("two words", StatusCode::BAD_REQUEST, "user names are"),
    ] {
        let refused = alice.post("/admin/people", &[("name", name)]).await;
        assert_eq!(refused.status(), status, "{name}");
        let page = refused.text().await.unwrap();
        assert!(page.contains(says), "{name}: {page}");
        assert!(!page.contains("password-link"));
    }
    app.shutdown().await;
}

#[tokio::test]
async fn only_administrators_manage_people_and_one_always_remains() {
    let app = spawn_app().await;
    create_user(&app.config, "bob", false).await;
    let alice = admin(&app).await;
    let bob_id = alice.id_of("bob").await;
    let alice_id = alice.id_of("alice").await;

    // Others are refused; nobody is sent to log in.
    let (bob, bob_form) = app.session("bob").await;
    assert_eq!(
        app.get_with_cookie("/admin/people", &bob).await.status(),
        StatusCode::FORBIDDEN
    );
    let as_bob = Admin {
        app: &app,
        cookie: bob.clone(),
        form_token: bob_form,
    };
    let path = format!("/admin/people/{bob_id}/admin");
    assert_eq!(
        as_bob.post(&path, &[("admin", "1")]).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        as_bob
            .post("/admin/people", &[("name", "eve")])
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let anonymous = app.get("/admin/people").await;
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);

    // Made an administrator, bob sees the page; then loses it again.
    assert_eq!(
        alice.post(&path, &[("admin", "1")]).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        app.get_with_cookie("/admin/people", &bob).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        alice.post(&path, &[("admin", "0")]).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        app.get_with_cookie("/admin/people", &bob).await.status(),
        StatusCode::FORBIDDEN
    );

    // Nobody removes their own rights or account on the page.
    let own = alice
        .post(
            &format!("/admin/people/{alice_id}/admin"),
            &[("admin", "0")],
        )
        .await;
    assert_eq!(own.status(), StatusCode::BAD_REQUEST);
    assert!(own.text().await.unwrap().contains("your own admin rights"));
    let own = alice
        .post(&format!("/admin/people/{alice_id}/delete"), &[])
        .await;
    assert_eq!(own.status(), StatusCode::BAD_REQUEST);
    // The operator may, but never the last administrator.
    let data = app.data_dir().to_owned();
    for args in [["user", "demote", "alice"], ["user", "delete", "alice"]] {
        let out = scoot(&data).args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("needs an administrator"));
    }
    assert_eq!(
        cli(&data, &["user", "promote", "bob"], "").await,
        "bob is an administrator"
    );
    assert_eq!(
        cli(&data, &["user", "demote", "alice"], "").await,
        "alice is no longer an administrator"
    );
    assert_eq!(
        app.get_with_cookie("/admin/people", &alice.cookie)
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    // Unknown or malformed ids are not found.
    let unknown = "/admin/people/0123456789abcdef/admin";
    let as_bob = Admin {
        app: &app,
        cookie: bob,
        form_token: as_bob.form_token,
    };
    assert_eq!(
        as_bob.post(unknown, &[("admin", "1")]).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        as_bob
            .post("/admin/people/nope/admin", &[("admin", "1")])
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_reset_ends_sessions_and_the_old_password_at_once() {
    let app = spawn_app().await;
    create_user(&app.config, "bob", false).await;
    let (bob, _) = app.session("bob").await;
    let alice = admin(&app).await;
    let id = alice.id_of("bob").await;
    let ask = app
        .get_with_cookie(&format!("/admin/people/{id}/reset"), &alice.cookie)
        .await;
    assert_eq!(ask.status(), StatusCode::OK);
    assert!(ask.text().await.unwrap().contains("password stops working"));

    let reset = alice.post(&format!("/admin/people/{id}/reset"), &[]).await;
    assert_eq!(reset.status(), StatusCode::OK);
    let path = link_in(&reset.text().await.unwrap());
    assert_eq!(
        app.get_with_cookie("/upload", &bob).await.status(),
        StatusCode::SEE_OTHER,
        "logged out"
    );
    assert_eq!(
        log_in(&app, "bob", "password-bob").await,
        StatusCode::UNAUTHORIZED
    );
    // A second reset replaces the first link.
    let again = alice.post(&format!("/admin/people/{id}/reset"), &[]).await;
    let newer = link_in(&again.text().await.unwrap());
    assert_eq!(app.get(&path).await.status(), StatusCode::GONE);
    assert_eq!(
        set_password(&app, &newer, "bob's fresh password")
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        log_in(&app, "bob", "bob's fresh password").await,
        StatusCode::SEE_OTHER
    );

    // At the command line: a password on stdin, or a link.
    let data = app.data_dir().to_owned();
    let out = cli(
        &data,
        &["user", "reset-password", "bob"],
        "typed at the console\n",
    )
    .await;
    assert!(out.contains("password of bob set"), "{out}");
    assert_eq!(
        log_in(&app, "bob", "typed at the console").await,
        StatusCode::SEE_OTHER
    );
    let out = cli(&data, &["user", "reset-password", "bob", "--link"], "").await;
    let url = out.split_whitespace().last().unwrap();
    let path = &url[url.find("/password").unwrap()..];
    assert_eq!(
        log_in(&app, "bob", "typed at the console").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        set_password(&app, path, "from the link now").await.status(),
        StatusCode::SEE_OTHER
    );
    app.shutdown().await;
}

async fn upload_as(app: &TestApp, token: &str, shade: u8, visibility: &str) -> PhotoJson {
    let form =
        file_form("b.png", png(16, 12, [shade, 60, 90])).text("visibility", visibility.to_owned());
    let resp = app.upload_form(form, Some(token)).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    resp.json().await.unwrap()
}

async fn album_of(app: &TestApp, token: &str, visibility: &str, photo: &str) -> AlbumJson {
    let created = app
        .client
        .post(app.url("/api/albums"))
        .bearer_auth(token)
        .json(&json!({"title": "Bob's trip", "visibility": visibility}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let album: AlbumJson = created.json().await.unwrap();
    let put = app
        .client
        .put(app.url(&format!("/api/albums/{}/photos/{photo}", album.id)))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success());
    album
}

#[tokio::test]
async fn deleting_a_user_hides_everything_of_theirs_until_they_are_restored() {
    let app = spawn_app().await;
    let bob_token = create_user(&app.config, "bob", false).await;
    let kept = upload_as(&app, &bob_token, 10, "public").await;
    let thrown = upload_as(&app, &bob_token, 20, "public").await;
    let album = album_of(&app, &bob_token, "unlisted", &kept.id).await;
    let share = album
        .share_url
        .clone()
        .expect("an unlisted album has a link");
    let public = album_of(&app, &bob_token, "public", &kept.id).await;
    assert!(
        app.get("/albums")
            .await
            .text()
            .await
            .unwrap()
            .contains(&public.id)
    );
    // Bob had thrown one away himself.
    let del = app
        .client
        .delete(app.url(&format!("/api/photos/{}", thrown.id)))
        .bearer_auth(&bob_token)
        .send()
        .await
        .unwrap();
    assert!(del.status().is_success());
    let (bob, _) = app.session("bob").await;
    // Pages seen before are cached.
    let photo_page = format!("/photos/{}", kept.id);
    assert_eq!(app.get(&photo_page).await.status(), StatusCode::OK);
    assert!(app.get("/").await.text().await.unwrap().contains(&kept.id));
    assert_eq!(app.get(&share).await.status(), StatusCode::OK);

    let alice = admin(&app).await;
    let id = alice.id_of("bob").await;
    let ask = app
        .get_with_cookie(&format!("/admin/people/{id}/delete"), &alice.cookie)
        .await;
    let ask = ask.text().await.unwrap();
    assert!(
        ask.contains("their photo goes to the trash") && ask.contains("30 days"),
        "{ask}"
    );
    let gone = alice.post(&format!("/admin/people/{id}/delete"), &[]).await;
    assert_eq!(gone.status(), StatusCode::SEE_OTHER);

    // Logged out, tokens dead, photos and albums hidden from everyone.
    assert_eq!(
        app.get_with_cookie("/upload", &bob).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        app.get_as("/api/photos", &bob_token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        log_in(&app, "bob", "password-bob").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.get(&photo_page).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        app.get_with_cookie(&photo_page, &alice.cookie)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert!(!app.get("/").await.text().await.unwrap().contains(&kept.id));
    assert_eq!(app.get(&share).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.get(&public.url).await.status(), StatusCode::NOT_FOUND);
    assert!(
        !app.get("/albums")
            .await
            .text()
            .await
            .unwrap()
            .contains(&public.id)
    );
    // No admin takes one of his photos out of the trash on its own: it
    // comes back with him.
    let alone = app
        .client
        .post(app.url(&format!("/api/trash/{}/restore", kept.id)))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(alone.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.get(&photo_page).await.status(), StatusCode::NOT_FOUND);
    // The name stays taken while bob can come back.
    let taken = alice.post("/admin/people", &[("name", "bob")]).await;
    assert_eq!(taken.status(), StatusCode::CONFLICT);
    let page = alice.page().await;
    let deleted = page
        .split(r#"id="deleted""#)
        .nth(1)
        .expect("a Deleted section");
    assert!(deleted.contains("<th scope=\"row\">bob</th>"), "{deleted}");

    // Restored: his photo, album and password come back; what he had
    // thrown away stays in his trash.
    let back = alice
        .post(&format!("/admin/people/{id}/restore"), &[])
        .await;
    assert_eq!(back.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.get(&photo_page).await.status(), StatusCode::OK);
    assert_eq!(app.get(&share).await.status(), StatusCode::OK);
    assert_eq!(app.get(&public.url).await.status(), StatusCode::OK);
    assert_eq!(
        log_in(&app, "bob", "password-bob").await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        app.get(&format!("/photos/{}", thrown.id)).await.status(),
        StatusCode::NOT_FOUND
    );
    let again = alice
        .post(&format!("/admin/people/{id}/restore"), &[])
        .await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    app.shutdown().await;
}

#[tokio::test]
async fn a_deleted_user_is_purged_with_their_photos_after_trash_days() {
    let app = spawn_app().await;
    let bob_token = create_user(&app.config, "bob", false).await;
    let photo = upload_as(&app, &bob_token, 30, "public").await;
    let page = format!("/photos/{}", photo.id);
    assert_eq!(app.get(&page).await.status(), StatusCode::OK);
    let data = app.data_dir().to_owned();
    let out = cli(&data, &["user", "delete", "bob"], "").await;
    assert!(
        out.contains("deleted bob: 1 photo(s) moved to the trash"),
        "{out}"
    );
    // The running server hears of it through the database it shares with
    // the command, and forgets the page it had cached.
    let started = Instant::now();
    while app.get(&page).await.status() != StatusCode::NOT_FOUND {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the server still shows {page}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let listing = cli(&data, &["user", "list"], "").await;
    let row = listing
        .lines()
        .find(|l| l.starts_with("bob "))
        .expect("bob is listed");
    assert!(row.contains("deleted; restorable until"), "{row}");
    assert!(row.contains(" 1 "), "one photo: {row}");
    assert_eq!(app.services().trash.purge_due().await.unwrap(), 0);

    // Dan was deleted 31 days ago: his photo, its bytes and his account go.
    let dan_token = create_user(&app.config, "dan", false).await;
    let old = upload_as(&app, &dan_token, 40, "public").await;
    let db = scoot::db::open(&app.config.database_url()).await.unwrap();
    let (dan, _) = db.user_by_name("dan").await.unwrap().unwrap();
    let long_ago = now_millis() - 31 * 86_400_000;
    assert_eq!(
        db.retire_user(&dan.id, long_ago).await.unwrap(),
        Retired::Done(1)
    );
    assert_eq!(app.services().trash.purge_due().await.unwrap(), 1);
    let listing = cli(&data, &["user", "list"], "").await;
    assert!(
        !listing.contains("dan ") && listing.contains("bob "),
        "{listing}"
    );
    assert_eq!(
        app.get(&old.original_url).await.status(),
        StatusCode::NOT_FOUND
    );
    // His name is free again.
    let out = cli(&data, &["user", "add", "dan", "--link"], "").await;
    assert!(
        out.starts_with("created user dan\nset-password link (works once, for 7 days): http://"),
        "{out}"
    );
    app.shutdown().await;
}

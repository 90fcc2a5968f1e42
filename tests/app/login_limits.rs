//! Guessing passwords is slowed (issue 14): per client address, per
//! address and account, and per account for addresses it does not know;
//! answered `429` with `Retry-After` before any password is checked. The
//! owner, from an address they have logged in from, still gets in.

use std::time::Instant;

use reqwest::{Response, StatusCode};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

/// A login as `name`, through the balancer when `from` names a client.
async fn login(app: &TestApp, name: &str, password: &str, from: Option<&str>) -> Response {
    let mut req = app
        .client
        .post(app.url("/login"))
        .form(&[("name", name), ("password", password)]);
    if let Some(from) = from {
        req = req.header("x-forwarded-for", from);
    }
    req.send().await.unwrap()
}

fn retry_after(resp: &Response) -> u64 {
    resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn guessing_one_password_is_slowed_and_the_owner_still_gets_in() {
    let app = spawn_app_with(|c| c.web.trusted_proxies = vec!["127.0.0.1".into()]).await;
    let attacker = Some("203.0.113.1");
    let owner = Some("192.0.2.10");

    // The owner has logged in from home before.
    let home = login(&app, "alice", "password-alice", owner).await;
    assert_eq!(home.status(), StatusCode::SEE_OTHER);

    // One address at one account: ten guesses, then a wait.
    for _ in 0..10 {
        let resp = login(&app, "alice", "wrong", attacker).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    let refused = login(&app, "Alice", "wrong", attacker).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait = retry_after(&refused);
    assert!((1..=60).contains(&wait), "Retry-After: {wait}");
    let page = refused.text().await.unwrap();
    assert!(page.contains("Too many attempts"), "{page}");
    // Past the limit even the right password is not checked from there.
    let right = login(&app, "alice", "password-alice", attacker).await;
    assert_eq!(right.status(), StatusCode::TOO_MANY_REQUESTS);

    // A crowd, each address guessing once: the account's allowance for
    // strangers (60 a minute, one more each second; 11 spent above: the
    // owner's first login and the attacker's ten, not the attempts its own
    // limit refused) runs out.
    let crowd_started = Instant::now();
    let mut checked = 0;
    let mut throttled = 0;
    for i in 1..=60 {
        let from = format!("198.51.100.{i}");
        match login(&app, "alice", "wrong", Some(&from)).await.status() {
            StatusCode::UNAUTHORIZED => checked += 1,
            StatusCode::TOO_MANY_REQUESTS => throttled += 1,
            other => panic!("login answered {other}"),
        }
    }
    let refilled = crowd_started.elapsed().as_secs() + 1;
    assert!(
        checked <= 49 + refilled,
        "{checked} crowd guesses checked in {refilled} s"
    );
    assert!(throttled >= 1, "no crowd guess refused");

    // The owner, from home, is not locked out by any of it.
    let home = login(&app, "alice", "password-alice", owner).await;
    assert_eq!(home.status(), StatusCode::SEE_OTHER);
    app.shutdown().await;
}

#[tokio::test]
async fn a_forged_forwarded_for_buys_no_more_guesses() {
    // No trusted proxies: X-Forwarded-For is the client's own word.
    let app = spawn_app().await;
    let started = Instant::now();
    for i in 0..10 {
        let resp = login(&app, "alice", "wrong", Some(&format!("203.0.113.{i}"))).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    let resp = login(&app, "alice", "wrong", Some("203.0.113.200")).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);

    // One address guessing setup links, or at many accounts, shares one
    // allowance of 30 a minute, one more each 2 s (11 spent above).
    let mut probes = 0;
    loop {
        let resp = app
            .client
            .get(app.url(&format!("/setup?token=guess{probes}")))
            .send()
            .await
            .unwrap();
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
        assert_eq!(resp.status(), StatusCode::GONE, "set up already");
        probes += 1;
        assert!(probes < 40, "setup guesses are not limited");
    }
    let refilled = started.elapsed().as_secs() / 2 + 1;
    assert!(probes >= 19 && probes <= 19 + refilled, "{probes} probes");
    let resp = login(&app, "bob", "wrong", None).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let resp = app
        .client
        .post(app.url("/setup"))
        .form(&[("token", "guess"), ("name", "eve"), ("password", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&resp) >= 1);
    app.shutdown().await;
}

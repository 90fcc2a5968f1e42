//! A flood of logins must not take the server down: password hashes (19 MiB
//! each) run a few at a time, the rest wait briefly and get `503`, memory
//! stays near where it was, and `/healthz` keeps answering.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::{cli_blocking, scoot, serve_command};

/// Resident memory of process `pid`, in MiB.
fn rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status");
    kib / 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_login_flood_is_bounded_in_memory_and_keeps_healthz_fast() {
    let dir = tempfile::tempdir().unwrap();
    cli_blocking(dir.path(), &["user", "add", "dora"], "a long password\n");
    // With the attempt limits off: a crowd of addresses gets past them, and
    // then only the hashing bound stands between the flood and memory.
    let mut cmd = scoot(dir.path());
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .env("SCOOT_AUTH__ATTEMPTS_PER_ADDRESS", "0")
        .env("SCOOT_AUTH__ATTEMPTS_PER_ADDRESS_AND_ACCOUNT", "0")
        .env("SCOOT_AUTH__ATTEMPTS_PER_ACCOUNT", "0");
    let (mut child, base) = serve_command(cmd);
    let pid = child.id();
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let baseline = rss_mib(pid);

    let stop = Arc::new(AtomicBool::new(false));
    let (refused, wrong) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut clients = Vec::new();
    for n in 0..48 {
        let (client, base, stop) = (client.clone(), base.clone(), stop.clone());
        let (refused, wrong) = (refused.clone(), wrong.clone());
        clients.push(tokio::spawn(async move {
            // Known and unknown names cost the same: both are hashed.
            let name = if n % 2 == 0 { "dora" } else { "nobody" };
            while !stop.load(Ordering::Relaxed) {
                let resp = client
                    .post(format!("{base}/login"))
                    .form(&[("name", name), ("password", "not the password")])
                    .send()
                    .await
                    .unwrap();
                match resp.status() {
                    StatusCode::UNAUTHORIZED => wrong.fetch_add(1, Ordering::Relaxed),
                    StatusCode::SERVICE_UNAVAILABLE => {
                        assert!(resp.headers().contains_key("retry-after"));
                        refused.fetch_add(1, Ordering::Relaxed)
                    }
                    other => panic!("login answered {other}"),
                };
            }
        }));
    }

    let (mut peak, mut slowest) = (baseline, Duration::ZERO);
    let flood_ends = Instant::now() + Duration::from_secs(6);
    while Instant::now() < flood_ends {
        let started = Instant::now();
        let resp = client.get(format!("{base}/healthz")).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        slowest = slowest.max(started.elapsed());
        peak = peak.max(rss_mib(pid));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_mib(pid);
    child.kill().unwrap();
    child.wait().unwrap();

    let (wrong, refused) = (
        wrong.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed),
    );
    eprintln!(
        "login flood: {wrong} checked, {refused} refused; RSS {baseline} → peak {peak} → {after} MiB; slowest /healthz {slowest:?}"
    );
    assert!(wrong > 0, "some logins were checked");
    assert!(
        peak.saturating_sub(baseline) < 200,
        "RSS grew from {baseline} to {peak} MiB"
    );
    assert!(
        after.saturating_sub(baseline) < 200,
        "RSS stayed at {after} MiB"
    );
    assert!(
        slowest < Duration::from_millis(500),
        "/healthz took {slowest:?}"
    );
}

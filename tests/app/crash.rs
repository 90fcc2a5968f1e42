//! docs/architecture.md invariant 3: no accepted upload is ever lost. The real binary is
//! killed with SIGKILL while renders are queued, restarted on the same data,
//! and every accepted photo must end up rendered.

use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use scoot::web::api::{PhotoJson, PhotoList};

use crate::helpers::{cli_blocking, file_form, read_fixture, serve};

#[tokio::test]
async fn kill_9_with_queued_renders_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    assert_eq!(
        cli_blocking(
            data,
            &["user", "add", "carol", "--admin"],
            "a good password\n"
        ),
        "created admin carol"
    );
    let token = cli_blocking(data, &["token", "create", "carol"], "");
    assert_eq!(token.len(), 64, "only the token is printed: {token:?}");

    let (mut child, base) = serve(data);
    let client = reqwest::Client::new();
    let mut accepted = Vec::new();
    for shape in ["Landscape", "Portrait"] {
        for n in 0..=8 {
            let bytes = read_fixture(&format!("orientation/{shape}_{n}.jpg"));
            let resp = client
                .post(format!("{base}/api/photos"))
                .bearer_auth(&token)
                .multipart(file_form("p.jpg", bytes))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::CREATED);
            accepted.push(resp.json::<PhotoJson>().await.unwrap().id);
        }
    }
    let list: PhotoList = client
        .get(format!("{base}/api/photos?limit=100"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let pending = list.photos.iter().filter(|p| p.status == "pending").count();
    assert!(pending > 0, "the kill must land while renders are queued");

    let (mut child, base) = serve(data);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let list: PhotoList = client
            .get(format!("{base}/api/photos?limit=100"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut ids: Vec<_> = list.photos.iter().map(|p| p.id.clone()).collect();
        ids.sort();
        let mut expected = accepted.clone();
        expected.sort();
        assert_eq!(ids, expected, "every accepted photo is still there");
        if list.photos.iter().all(|p| p.status == "ready") {
            break;
        }
        assert!(
            list.photos.iter().all(|p| p.status != "failed"),
            "a photo failed after the restart"
        );
        assert!(
            Instant::now() < deadline,
            "renders did not finish after restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // SIGTERM drains and exits cleanly.
    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "graceful exit, got {status}");
}

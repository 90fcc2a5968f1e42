//! End-to-end in headless Chromium, through ChromeDriver (WebDriver): the
//! web UI as a person uses it. Runs when `SCOOT_TEST_CHROMEDRIVER` names
//! the chromedriver binary (`.ci/run` sets it to Debian's); then a driver
//! that cannot start is a failure, not a skip. `SCOOT_TEST_CHROMIUM` names
//! the browser (default `/usr/bin/chromium`).
//!
//! One scenario, in the order a new user meets Scoot: first-run setup,
//! log out and in, drag-and-drop three photos (progress shown, placeholders
//! swapped for images without a reload), keyboard navigation, an album,
//! then a fresh logged-out browser that opens the album's unlisted link and
//! is refused a private photo; the album's ZIP, the trash (restore, and
//! delete for good after a confirmation); the admin's people (a newcomer's
//! one-time link, admin rights, deleting and restoring); phone widths,
//! axe-core, a cold load's previews, and a pending tile and photo page
//! swapped into what the server renders for a ready photo. Each page is
//! saved as a screenshot under `target/browser-screenshots/` for a person
//! to look at.

use fantoccini::Locator;
use serde_json::json;

#[path = "support/chromium.rs"]
mod chromium;
#[path = "support/live_swap.rs"]
mod live_swap;
#[path = "support/organising.rs"]
mod organising;
#[path = "support/people.rs"]
mod people;
#[path = "support/timeline.rs"]
mod timeline;
#[path = "support/viewer.rs"]
mod viewer;

use chromium::{
    Result, Scheme, accessibility_problems, browser, browser_in, click, drop_files, fill, fixture,
    log_in, path, snap, start_driver, until,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_uses_scoot_in_chromium() -> Result {
    let Ok(chromedriver) = std::env::var("SCOOT_TEST_CHROMEDRIVER") else {
        eprintln!("SCOOT_TEST_CHROMEDRIVER is not set: skipping the browser suite");
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let mut config = scoot::config::Config {
        listen: "127.0.0.1:0".parse()?,
        data_dir: dir.path().to_path_buf(),
        ..scoot::config::Config::default()
    };
    config.render.threads = 2;
    let app = scoot::start(config).await?;
    let base = format!("http://{}", app.local_addr());
    let setup = app
        .setup_url()
        .expect("a fresh install offers setup")
        .to_owned();
    let driver = start_driver(&chromedriver).await;
    let c = browser(&driver).await;

    // First run: the setup page creates the admin and logs them in.
    c.goto(&setup).await?;
    snap(&c, "01-setup").await?;
    fill(&c, "input[name=name]", "ada").await?;
    fill(&c, "input[name=password]", "correct horse battery").await?;
    click(&c, "form[action='/setup'] button[type=submit]").await?;
    until(
        &c,
        "the gallery, logged in",
        "return document.querySelector('.who')?.textContent === 'ada'",
    )
    .await?;
    snap(&c, "02-empty-gallery").await?;

    // Log out, then in again through the login form.
    click(&c, "form[action='/logout'] button").await?;
    until(
        &c,
        "the logged-out header",
        "return !!document.querySelector(\"header a[href='/login']\")",
    )
    .await?;
    c.goto(&format!("{base}/login")).await?;
    fill(&c, "input[name=name]", "ada").await?;
    fill(&c, "input[name=password]", "wrong password").await?;
    click(&c, "form[action='/login'] button[type=submit]").await?;
    until(
        &c,
        "a refusal",
        "return document.querySelector('.error')?.textContent",
    )
    .await?;
    snap(&c, "03-login-refused").await?;
    log_in(&c, "ada", "correct horse battery").await?;

    // Drag and drop three photos: each gets a progress bar that fills, then
    // a placeholder that turns into the rendered thumbnail with no reload.
    c.goto(&format!("{base}/upload")).await?;
    until(
        &c,
        "the drop zone",
        "return !document.querySelector('.dropzone').hidden",
    )
    .await?;
    // A marker that a reload would wipe, and a count of the placeholders
    // the queue shows while renders run.
    c.execute(
        r#"window.scootMarker = "same page";
        window.placeholdersSeen = 0;
        new MutationObserver((changes) => {
          for (const change of changes) for (const node of change.addedNodes) {
            if (node.dataset && node.dataset.pending) window.placeholdersSeen += 1;
          }
        }).observe(document.getElementById("upload-queue"), { childList: true, subtree: true });"#,
        vec![],
    )
    .await?;
    let names = ["Landscape_3.jpg", "Portrait_6.jpg", "Landscape_8.jpg"];
    let files: Vec<(&str, Vec<u8>)> = names.iter().map(|n| (*n, fixture(n))).collect();
    drop_files(&c, &files).await?;
    until(
        &c,
        "three rows in the queue",
        "return document.querySelectorAll('#upload-queue li').length === 3",
    )
    .await?;
    until(
        &c,
        "three finished uploads",
        "return [...document.querySelectorAll('#upload-queue li')].every((li) => li.className === 'done')",
    )
    .await?;
    let progress = c
        .execute(
            "return [...document.querySelectorAll('#upload-queue progress')].map((p) => p.value)",
            vec![],
        )
        .await?;
    assert_eq!(progress, json!([1, 1, 1]), "every progress bar is full");
    until(
        &c,
        "three rendered thumbnails",
        "return document.querySelectorAll('#upload-queue .thumb > picture img').length === 3 && !document.querySelector('#upload-queue [data-pending]')",
    )
    .await?;
    // Each file, once up, takes a title of its own; until then it is
    // called by its file's name.
    let placeholder = c
        .execute(
            "return document.querySelector('#upload-queue li:nth-child(2) input[name=title]').placeholder",
            vec![],
        )
        .await?;
    assert_eq!(placeholder, json!("Portrait_6.jpg"));
    let title = "#upload-queue li:nth-child(1) input[name=title]";
    fill(&c, title, "Hills at noon").await?;
    c.execute(
        &format!("document.querySelector('{title}').dispatchEvent(new Event('change'))"),
        vec![],
    )
    .await?;
    until(
        &c,
        "the first file's title saved",
        "return document.querySelector('#upload-queue li:nth-child(1) .saved').textContent === 'Saved'",
    )
    .await?;
    let headings = c
        .execute(
            r#"const heading = (n) => fetch(document.querySelector(`#upload-queue li:nth-child(${n}) a`).getAttribute('href'))
                .then((r) => r.text())
                .then((t) => new DOMParser().parseFromString(t, 'text/html').querySelector('h1').textContent);
            return Promise.all([heading(1), heading(2)]);"#,
            vec![],
        )
        .await?;
    assert_eq!(headings, json!(["Hills at noon", "Portrait_6.jpg"]));
    let marker = c.execute("return window.scootMarker", vec![]).await?;
    assert_eq!(marker, json!("same page"), "the page was never reloaded");
    let seen = c.execute("return window.placeholdersSeen", vec![]).await?;
    assert_eq!(seen, json!(3), "each photo showed a placeholder first");
    c.execute(
        "document.getElementById('upload-queue').scrollIntoView()",
        vec![],
    )
    .await?;
    snap(&c, "04-upload-done").await?;

    // A refused file says why, and the others are unaffected.
    drop_files(&c, &[("notes.jpg", b"not a photo at all".to_vec())]).await?;
    let refusal = until(
        &c,
        "a refusal",
        "const li = document.querySelectorAll('#upload-queue li')[3]; return li && li.className === 'refused' && li.textContent",
    )
    .await?;
    assert!(
        refusal.as_str().is_some_and(|t| t.contains("Refused:")),
        "{refusal}"
    );
    c.execute(
        "document.getElementById('upload-queue').scrollIntoView()",
        vec![],
    )
    .await?;
    snap(&c, "05-upload-refused").await?;

    // A failure that may pass (the connection breaks) offers a retry, and
    // the retry succeeds. The first send is made to fail in the page.
    c.execute(
        r#"const send = XMLHttpRequest.prototype.send;
        XMLHttpRequest.prototype.send = function () {
          XMLHttpRequest.prototype.send = send;
          this.dispatchEvent(new ProgressEvent("error"));
        };"#,
        vec![],
    )
    .await?;
    drop_files(&c, &[("again.jpg", fixture("Portrait_1.jpg"))]).await?;
    let failed = until(
        &c,
        "a retryable failure",
        "const li = document.querySelectorAll('#upload-queue li')[4]; return li && li.className === 'failed' && li.textContent",
    )
    .await?;
    assert!(
        failed.as_str().is_some_and(|t| t.contains("Failed:")),
        "{failed}"
    );
    c.execute(
        "document.getElementById('upload-queue').scrollIntoView()",
        vec![],
    )
    .await?;
    snap(&c, "05b-upload-retry").await?;
    click(&c, "#upload-queue li:nth-child(5) button").await?;
    until(
        &c,
        "the retried upload",
        "return document.querySelectorAll('#upload-queue li')[4].className === 'done'",
    )
    .await?;
    let fourth = c
        .execute(
            "return document.querySelector('#upload-queue li:nth-child(5) a').getAttribute('href')",
            vec![],
        )
        .await?;

    // The gallery shows the four photos, newest (the retried one) first.
    c.goto(&base).await?;
    let tiles = until(&c, "four tiles", "const t = [...document.querySelectorAll('.timeline .tile a')]; return t.length === 4 && t.map((a) => a.getAttribute('href'))").await?;
    let hrefs: Vec<String> = serde_json::from_value(tiles)?;
    assert_eq!(json!(hrefs[0]), fourth);
    snap(&c, "06-gallery").await?;
    // Tab onto a tile: its focus ring is drawn (inside the tile, which
    // clips its corners).
    c.execute(
        "document.querySelector('.timeline .tile .pick').focus()",
        vec![],
    )
    .await?;
    c.active_element().await?.send_keys("\u{E004}").await?; // Tab
    let ring = c
        .execute(
            "const a = document.activeElement; return a.matches('.tile a:focus-visible') && getComputedStyle(a, '::after').boxShadow",
            vec![],
        )
        .await?;
    assert!(
        ring.as_str().is_some_and(|shadow| shadow != "none"),
        "a focused tile shows a ring: {ring}"
    );
    snap(&c, "06b-tile-focus").await?;

    // The viewer: open, step, zoom, full screen, slideshow, Esc and Back.
    viewer::check(&c, &base, &hrefs).await?;

    // Keyboard: → goes to the older photo, ← back to the newer.
    c.goto(&format!("{base}{}", hrefs[0])).await?;
    snap(&c, "07-photo").await?;
    let body = c.find(Locator::Css("body")).await?;
    body.send_keys("\u{E014}").await?; // ArrowRight
    until(
        &c,
        "the older photo",
        &format!("return location.pathname === '{}'", hrefs[1]),
    )
    .await?;
    let body = c.find(Locator::Css("body")).await?;
    body.send_keys("\u{E012}").await?; // ArrowLeft
    until(
        &c,
        "the newer photo again",
        &format!("return location.pathname === '{}'", hrefs[0]),
    )
    .await?;
    // Tab reaches the links with a visible focus ring.
    let focused = c
        .execute(
            "document.querySelector('nav.steps a').focus(); return getComputedStyle(document.activeElement).outlineStyle",
            vec![],
        )
        .await?;
    assert_ne!(focused, json!("none"), "focus is visible");

    // The oldest photo becomes private.
    c.goto(&format!("{base}{}", hrefs[2])).await?;
    click(&c, "details.edit summary").await?;
    click(&c, "input[name=visibility][value=private]").await?;
    // The radio is checked the moment it is clicked: wait for the page the
    // save leads to, or the next `goto` races the form's navigation.
    c.execute("window.beforeSave = true", vec![]).await?;
    click(&c, "form[action$='/edit'] button[type=submit]").await?;
    until(
        &c,
        "the saved photo",
        "return !window.beforeSave && document.querySelector('input[name=visibility][value=private]')?.checked",
    )
    .await?;

    // An unlisted album with two photos, one of them the private one.
    c.goto(&format!("{base}/albums")).await?;
    fill(&c, "form[action='/albums'] input[name=title]", "Walks").await?;
    click(
        &c,
        "form[action='/albums'] input[name=visibility][value=unlisted]",
    )
    .await?;
    click(&c, "form[action='/albums'] button[type=submit]").await?;
    until(
        &c,
        "the album page",
        "return document.querySelector('h1')?.textContent === 'Walks'",
    )
    .await?;
    let album_path = path(&c).await?;
    for href in [&hrefs[0], &hrefs[2]] {
        c.goto(&format!("{base}{href}")).await?;
        click(&c, "form[action$='/albums'] button[type=submit]").await?;
        until(
            &c,
            "the photo in the album",
            "return !!document.querySelector(\"a[href^='/albums/']\")",
        )
        .await?;
    }
    timeline::open_with_tiles(&c, &format!("{base}{album_path}"), 2).await?;
    click(&c, "details.edit summary").await?;
    let link = until(
        &c,
        "the share link",
        "return document.querySelector('input[data-share]')?.value",
    )
    .await?;
    let link = link.as_str().expect("a link").to_owned();
    assert!(link.starts_with(&format!("{base}/a/")), "{link}");
    snap(&c, "08-album-owner").await?;
    c.goto(&format!("{base}/albums")).await?;
    snap(&c, "09-albums").await?;
    c.goto(&format!("{base}/admin")).await?;
    until(
        &c,
        "the charts",
        "return document.querySelectorAll('.chart svg').length === 5",
    )
    .await?;
    snap(&c, "10-admin").await?;
    let newcomer_problems = people::check(&c, &base, &driver).await?;

    // A fresh, logged-out browser: the link shows the album without the
    // private photo, and the private photo itself is refused.
    let stranger = browser(&driver).await;
    stranger.goto(&link).await?;
    until(
        &stranger,
        "the shared album",
        "return document.querySelector('h1')?.textContent === 'Walks'",
    )
    .await?;
    let shown = stranger
        .execute("return [...document.querySelectorAll('.timeline .tile a')].map((a) => a.getAttribute('href'))", vec![])
        .await?;
    let link_path = link.trim_start_matches(&base).to_owned();
    let first_id = hrefs[0].trim_start_matches("/photos/");
    assert_eq!(
        shown,
        json!([format!("{link_path}/{first_id}")]),
        "only the photo that is not private, opened inside the album"
    );
    // Opened from the album, the photo leads back to it.
    stranger.goto(&format!("{link}/{first_id}")).await?;
    let back = until(
        &stranger,
        "the way back to the album",
        "return document.querySelector('p.back a')?.getAttribute('href')",
    )
    .await?;
    assert_eq!(back, json!(link_path));
    snap(&stranger, "11b-shared-album-photo").await?;
    stranger.goto(&link).await?;
    assert!(
        stranger.find(Locator::Css("details.edit")).await.is_err(),
        "no owner controls"
    );
    snap(&stranger, "11-shared-album").await?;
    stranger.goto(&format!("{base}{}", hrefs[2])).await?;
    let refused = until(
        &stranger,
        "the refusal",
        "return document.querySelector('h1')?.textContent",
    )
    .await?;
    assert!(
        refused
            .as_str()
            .is_some_and(|t| t.contains("404") || t.to_lowercase().contains("not found")),
        "{refused}"
    );
    snap(&stranger, "12-private-refused").await?;
    stranger.goto(&format!("{base}{album_path}")).await?;
    until(
        &stranger,
        "the album refused by id",
        "return /not found/i.test(document.body.innerText)",
    )
    .await?;

    organising::album_zip(&c, &base, &album_path).await?;
    organising::trash_and_restore(&c, &base, &hrefs).await?;
    let (six_link, shared) = organising::album_from_selection(&c, &base).await?;
    timeline::open_with_tiles(&stranger, &six_link, shared).await?;

    // A phone: no page scrolls sideways at 360 or 390 px, and the grid
    // keeps two columns.
    for width in [360, 390] {
        c.set_window_size(width, 800).await?;
        let pages = [
            "/",
            "/albums",
            "/upload",
            "/admin",
            "/admin/people",
            "/trash",
            "/trash/empty",
            "/no-such-page",
        ];
        let photo_and_album = [hrefs[0].as_str(), album_path.as_str()];
        for page in pages.iter().chain(&photo_and_album) {
            c.goto(&format!("{base}{page}")).await?;
            let overflow = c
                .execute(
                    "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
                    vec![],
                )
                .await?;
            if overflow != json!(0) {
                snap(&c, &format!("13-phone-overflow-{width}")).await?;
            }
            assert_eq!(overflow, json!(0), "{page} at {width} px");
        }
    }
    // The phone's timeline: justified rows of two or more photos (a row
    // may be alone only at a month's end), each tile its photo's shape.
    c.goto(&base).await?;
    let phone = timeline::measure(&c).await?;
    assert_eq!(phone["problems"], json!([]), "at 390 px: {phone}");
    assert!(phone["checked"].as_u64() >= Some(4), "at 390 px: {phone}");
    let rows: Vec<Vec<u32>> = serde_json::from_value(phone["rows"].clone())?;
    assert!(!rows.is_empty(), "at 390 px: {phone}");
    for month in &rows {
        let (_, full) = month.split_last().expect("a month has a row");
        assert!(full.iter().all(|&n| n >= 2), "at 390 px: {rows:?}");
    }
    snap(&c, "13-phone-gallery").await?;

    // axe-core finds nothing wrong, of any impact, on any page, in light
    // and in dark: the owner's pages, and what a visitor sees.
    c.set_window_size(1280, 900).await?;
    let dark = browser_in(&driver, Scheme::Dark).await;
    dark.goto(&format!("{base}/login")).await?;
    let mut checked = vec![(
        "dark",
        "/login".to_owned(),
        accessibility_problems(&dark).await?,
    )];
    log_in(&dark, "ada", "correct horse battery").await?;
    let owner_pages = [
        "/",
        "/albums",
        "/upload",
        "/admin",
        "/admin/people",
        "/trash",
        "/trash/empty",
        hrefs[0].as_str(),
        album_path.as_str(),
        "/no-such-page",
    ];
    for (client, scheme) in [(&c, "light"), (&dark, "dark")] {
        let is_dark = client
            .execute(
                "return matchMedia('(prefers-color-scheme: dark)').matches",
                vec![],
            )
            .await?;
        assert_eq!(is_dark, json!(scheme == "dark"));
        for page in owner_pages {
            client.goto(&format!("{base}{page}")).await?;
            checked.push((
                scheme,
                page.to_owned(),
                accessibility_problems(client).await?,
            ));
        }
    }
    dark.goto(&base).await?;
    snap(&dark, "14-dark-gallery").await?;
    for page in [link.clone(), format!("{base}/"), format!("{base}/login")] {
        stranger.goto(&page).await?;
        checked.push(("light", page, accessibility_problems(&stranger).await?));
    }
    checked.push(("dark", "/password?token=…".into(), newcomer_problems));
    let problems: Vec<_> = checked
        .iter()
        .filter(|(_, _, found)| !found.is_empty())
        .collect();
    assert!(problems.is_empty(), "axe-core: {problems:#?}");

    // What a cold load of the gallery costs a visitor: requests and bytes
    // over the wire, on a desktop and on a phone (a fresh browser each, so
    // nothing is cached; device pixel ratio 1).
    for (label, width, height) in [("desktop", 1280, 900), ("phone", 390, 844)] {
        let fresh = browser(&driver).await;
        fresh.set_window_size(width, height).await?;
        fresh.goto(&base).await?;
        // Every tile keeps its photo's shape within 3 %, and loads a size
        // no more than twice as wide as it is shown.
        let layout = timeline::measure(&fresh).await?;
        assert_eq!(layout["problems"], json!([]), "{label}: {layout}");
        assert_eq!(layout["oversized"], json!([]), "{label}: {layout}");
        assert!(layout["checked"].as_u64() >= Some(4), "{label}: {layout}");
        eprintln!("justified rows, {label}: tiles per row {}", layout["rows"]);
        // Under each image, the preview drawn from its ThumbHash, in the
        // photo's colours.
        let previews = timeline::previews(&fresh).await?;
        assert_eq!(previews["far"], json!([]), "{label}: {previews}");
        assert!(previews["drawn"].as_u64() >= Some(4), "{label}: {previews}");
        assert_eq!(
            previews["drawn"], previews["pictures"],
            "{label}: {previews}"
        );
        let cost = until(
            &fresh,
            "the gallery loaded",
            r#"if (document.readyState !== "complete") return null;
               const imgs = [...document.images].filter((i) => i.loading !== "lazy" || i.getBoundingClientRect().top < innerHeight);
               if (!imgs.every((i) => i.complete)) return null;
               const nav = performance.getEntriesByType("navigation")[0];
               const res = performance.getEntriesByType("resource");
               const bytes = [nav, ...res].reduce((n, e) => n + (e.transferSize || e.encodedBodySize || 0), 0);
               return { requests: 1 + res.length, bytes };"#,
        )
        .await?;
        eprintln!(
            "cold gallery load, {label} {width}x{height}: {} requests, {} bytes",
            cost["requests"], cost["bytes"]
        );
        if label == "desktop" {
            // A photo still rendering when its page loaded becomes, once
            // ready, what the server renders for a ready photo.
            let swap = live_swap::check(&fresh).await?;
            assert!(swap.is_empty(), "live swap: {swap:?}");
        }
        fresh.close().await?;
    }

    dark.close().await?;
    stranger.close().await?;
    c.close().await?;
    app.shutdown().await;
    Ok(())
}

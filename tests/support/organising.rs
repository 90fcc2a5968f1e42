//! Organising photos in a real browser: an album's ZIP, the trash, and
//! an album made from a selection in as few actions as possible.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use fantoccini::{Client, Locator};
use serde_json::json;

use crate::chromium::{Result, click, drop_files, fill, fixture, snap, until};
use crate::timeline;

/// The album's "Download all" link gives a ZIP that unzips to its two
/// originals, byte for byte.
pub async fn album_zip(c: &Client, base: &str, album_path: &str) -> Result {
    c.goto(&format!("{base}{album_path}")).await?;
    let zipped = until(
        c,
        "the album's ZIP",
        r#"if (!window.zipped) {
             window.zipped = fetch(document.querySelector("a[download]").href)
               .then((r) => r.arrayBuffer())
               .then((b) => { let s = ""; for (const x of new Uint8Array(b)) s += String.fromCharCode(x); window.zipData = btoa(s); });
           }
           return window.zipData"#,
    )
    .await?;
    let zipped = BASE64.decode(zipped.as_str().expect("base64"))?;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zipped))?;
    let originals: Vec<Vec<u8>> = [
        "Landscape_3.jpg",
        "Portrait_6.jpg",
        "Landscape_8.jpg",
        "Portrait_1.jpg",
    ]
    .iter()
    .map(|n| fixture(n))
    .collect();
    let mut names = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i)?;
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes)?;
        assert!(
            originals.contains(&bytes),
            "{} is an original",
            entry.name()
        );
        names.push(entry.name().to_owned());
    }
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"again.jpg".to_owned()), "{names:?}");

    Ok(())
}

/// The photo page says what deleting does; the photo goes to the trash
/// page, comes back with "Restore", and "Delete for good" asks first.
pub async fn trash_and_restore(c: &Client, base: &str, hrefs: &[String]) -> Result {
    c.goto(&format!("{base}{}", hrefs[1])).await?;
    click(c, "form[action$='/delete'] button[type=submit]").await?;
    until(
        c,
        "the trash page with the photo",
        "return location.pathname === '/trash' && document.querySelectorAll('.trash .tile').length === 1",
    )
    .await?;
    snap(c, "12b-trash").await?;
    timeline::open_with_tiles(c, base, 3).await?;
    c.goto(&format!("{base}/trash")).await?;
    click(c, "form[action$='/restore'] button").await?;
    until(
        c,
        "an empty trash",
        "return /trash is empty/.test(document.body.innerText)",
    )
    .await?;
    timeline::open_with_tiles(c, base, 4).await?;
    c.goto(&format!("{base}{}", hrefs[1])).await?;
    click(c, "form[action$='/delete'] button[type=submit]").await?;
    until(c, "the trash page", "return location.pathname === '/trash'").await?;
    click(c, "a[href$='/delete']").await?;
    until(
        c,
        "the confirmation",
        r"return /for good\?/.test(document.querySelector('h1')?.textContent)",
    )
    .await?;
    snap(c, "12c-delete-for-good").await?;
    click(c, "form.danger button[type=submit]").await?;
    until(
        c,
        "an empty trash",
        "return location.pathname === '/trash' && /trash is empty/.test(document.body.innerText)",
    )
    .await?;
    timeline::open_with_tiles(c, base, 3).await?;

    Ok(())
}

/// Selects six photos, puts them in a new unlisted album and copies its
/// link, counting every click, key and choice a person makes (at most 8).
/// Returns the album's link and how many of its photos a visitor sees.
pub async fn album_from_selection(c: &Client, base: &str) -> Result<(String, usize)> {
    c.goto(&format!("{base}/upload")).await?;
    let more = [
        "Landscape_1.jpg",
        "Landscape_2.jpg",
        "Portrait_2.jpg",
        "Portrait_3.jpg",
    ];
    let files: Vec<(&str, Vec<u8>)> = more.iter().map(|n| (*n, fixture(n))).collect();
    drop_files(c, &files).await?;
    until(
        c,
        "four more uploads",
        "const li = [...document.querySelectorAll('#upload-queue li')]; return li.length === 4 && li.every((l) => l.className === 'done')",
    )
    .await?;
    c.goto(base).await?;
    until(
        c,
        "seven tiles with checks",
        "return document.querySelectorAll('.timeline .tile .pick').length === 7",
    )
    .await?;
    let mut actions = 0;
    click(c, ".timeline .tile .pick").await?;
    actions += 1;
    // Shift+Space on the sixth selects the range from the first.
    c.find_all(Locator::Css(".timeline .tile .pick")).await?[5]
        .send_keys("\u{E008}\u{E00D}\u{E000}")
        .await?;
    actions += 1;
    let picked = until(
        c,
        "six selected",
        "return document.querySelectorAll('.tile.chosen').length === 6 && document.querySelector('.selection-bar .count').textContent",
    )
    .await?;
    assert_eq!(picked, json!("6 selected"));
    // A visitor will see those of them that are not private.
    let shared = c
        .execute(
            "return [...document.querySelectorAll('.tile.chosen')].filter((t) => t.querySelector('.badge.visibility')?.textContent !== 'Private').length",
            vec![],
        )
        .await?
        .as_u64()
        .expect("a count") as usize;
    snap(c, "12d-selected").await?;
    click(c, ".selection-bar [data-act=album]").await?;
    actions += 1;
    until(
        c,
        "the album form",
        "return !document.querySelector('.album-pick').hidden",
    )
    .await?;
    fill(c, ".album-pick input[name=title]", "Six").await?;
    actions += 1;
    click(
        c,
        ".album-pick select[name=visibility] option[value=unlisted]",
    )
    .await?;
    actions += 1;
    click(c, ".album-pick button[type=submit]").await?;
    actions += 1;
    until(
        c,
        "the new album's link",
        "return document.getElementById('selection-share')?.value",
    )
    .await?;
    click(c, ".selection-bar .outcome button").await?;
    actions += 1;
    let copied = until(
        c,
        "the link copied",
        "return document.querySelector('.selection-bar .outcome button').dataset.copied",
    )
    .await?;
    assert_eq!(copied, json!("1"), "the browser took the link");
    snap(c, "12e-album-from-selection").await?;
    assert!(actions <= 8, "{actions} actions");
    eprintln!("select 6 photos, make an unlisted album of them, copy its link: {actions} actions");
    let six_link = c
        .execute(
            "return document.getElementById('selection-share').value",
            vec![],
        )
        .await?;
    let six_link = six_link.as_str().expect("a link").to_owned();
    Ok((six_link, shared))
}

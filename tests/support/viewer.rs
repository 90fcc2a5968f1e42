//! The photo viewer in a real browser: opened from the gallery, moved with
//! the keys, zoomed to the original, closed with Esc and with Back, the
//! address following the photo shown.

use fantoccini::actions::{InputSource, MOUSE_BUTTON_LEFT, MouseActions, PointerAction};
use fantoccini::{Client, Locator};
use serde_json::{Value, json};

use crate::chromium::{Result, accessibility_problems, click, path, snap, until};

/// Sends one key to the focused element.
async fn key(c: &Client, key: &str) -> Result {
    c.active_element().await?.send_keys(key).await?;
    Ok(())
}

/// A double-click in the middle of `css`'s element.
async fn double_click(c: &Client, css: &str) -> Result {
    let element = c.find(Locator::Css(css)).await?;
    let (down, up) = (
        PointerAction::Down {
            button: MOUSE_BUTTON_LEFT,
        },
        PointerAction::Up {
            button: MOUSE_BUTTON_LEFT,
        },
    );
    let actions = MouseActions::new("mouse".into())
        .then(PointerAction::MoveToElement {
            element,
            duration: None,
            x: 0.0,
            y: 0.0,
        })
        .then(down.clone())
        .then(up.clone())
        .then(down)
        .then(up);
    c.perform_actions(actions).await?;
    Ok(())
}

/// The viewer's state: open, its counter, the image's transform and source.
async fn state(c: &Client) -> Result<Value> {
    Ok(c.execute(
        r#"const v = document.querySelector(".viewer");
           if (!v) return { open: false };
           const img = v.querySelector(".viewer-image");
           return {
             open: true,
             modal: v.getAttribute("role") === "dialog" && v.getAttribute("aria-modal") === "true",
             title: v.querySelector(".viewer-title").textContent,
             transform: img.style.transform,
             src: img.currentSrc,
             shown: img.complete && img.naturalWidth > 0,
             fullscreen: document.fullscreenElement === v,
           };"#,
        vec![],
    )
    .await?)
}

/// Opens the gallery's first photo in the viewer and goes through it:
/// `hrefs` are the gallery's photo pages in order (at least two).
pub async fn check(c: &Client, base: &str, hrefs: &[String]) -> Result {
    c.goto(base).await?;
    click(c, ".timeline .tile a").await?;
    until(
        c,
        "the viewer, showing the first photo",
        "const i = document.querySelector('.viewer .viewer-image'); return i && i.complete && i.naturalWidth > 0",
    )
    .await?;
    let open = state(c).await?;
    assert_eq!(open["modal"], json!(true), "{open}");
    assert!(
        open["title"]
            .as_str()
            .unwrap()
            .ends_with(&format!("1 of {}", hrefs.len())),
        "{open}"
    );
    assert_eq!(
        path(c).await?,
        hrefs[0],
        "the address names the photo shown"
    );
    let focused = c
        .execute(
            "return document.activeElement.closest('.viewer') !== null",
            vec![],
        )
        .await?;
    assert_eq!(focused, json!(true), "focus moves into the dialog");
    snap(c, "06c-viewer").await?;
    let problems = accessibility_problems(c).await?;
    assert!(problems.is_empty(), "axe-core, viewer open: {problems:#?}");

    // → and ← step, and the address follows.
    key(c, "\u{E014}").await?; // ArrowRight
    until(
        c,
        "the second photo",
        &format!("return location.pathname === '{}'", hrefs[1]),
    )
    .await?;
    assert!(state(c).await?["title"].as_str().unwrap().contains("2 of"));
    key(c, "\u{E012}").await?; // ArrowLeft
    until(
        c,
        "the first photo again",
        &format!("return location.pathname === '{}'", hrefs[0]),
    )
    .await?;

    // + zooms in, and the original replaces the fitted size.
    key(c, "+").await?;
    let zoomed = until(
        c,
        "the original, zoomed",
        "const i = document.querySelector('.viewer-image'); return i.currentSrc.includes('/media/originals/') && i.complete && i.style.transform",
    )
    .await?;
    assert!(zoomed.as_str().unwrap().contains("scale(1.5)"), "{zoomed}");
    snap(c, "06d-viewer-zoomed").await?;
    key(c, "0").await?;
    assert!(
        state(c).await?["transform"]
            .as_str()
            .unwrap()
            .contains("scale(1)")
    );

    // A double-click zooms to the original's own pixels, and back.
    double_click(c, ".viewer-stage").await?;
    let deep = state(c).await?;
    assert!(
        !deep["transform"].as_str().unwrap().contains("scale(1)"),
        "{deep}"
    );
    double_click(c, ".viewer-stage").await?;
    assert!(
        state(c).await?["transform"]
            .as_str()
            .unwrap()
            .contains("scale(1)")
    );

    // F goes full screen and back; S runs a slideshow.
    key(c, "f").await?;
    until(
        c,
        "full screen",
        "return document.fullscreenElement?.classList.contains('viewer')",
    )
    .await?;
    key(c, "f").await?;
    until(
        c,
        "out of full screen",
        "return document.fullscreenElement === null",
    )
    .await?;
    key(c, "s").await?;
    let playing = c
        .execute("return document.querySelector('.viewer [aria-label=Slideshow]').getAttribute('aria-pressed')", vec![])
        .await?;
    assert_eq!(playing, json!("true"));
    key(c, "s").await?;

    // Esc closes it, back on the gallery, focus on the photo it came from.
    key(c, "\u{E00C}").await?; // Escape
    until(
        c,
        "the viewer closed",
        "return !document.querySelector('.viewer') && location.pathname === '/'",
    )
    .await?;
    let back_on = c
        .execute("return document.activeElement.getAttribute('href')", vec![])
        .await?;
    assert_eq!(back_on, json!(hrefs[0]));

    // Back closes it too.
    click(c, ".timeline .tile a").await?;
    until(
        c,
        "the viewer again",
        "return document.querySelector('.viewer') !== null",
    )
    .await?;
    c.back().await?;
    until(
        c,
        "closed by Back",
        "return !document.querySelector('.viewer') && location.pathname === '/'",
    )
    .await?;

    // On the photo's own page, a click on the photo opens it too, and the
    // address stays.
    c.goto(&format!("{base}{}", hrefs[1])).await?;
    click(c, ".photo .frame picture img").await?;
    until(
        c,
        "the viewer on the photo page",
        "return document.querySelector('.viewer .viewer-image')?.complete",
    )
    .await?;
    assert_eq!(path(c).await?, hrefs[1]);
    key(c, "\u{E00C}").await?;
    until(
        c,
        "closed on the photo page",
        "return !document.querySelector('.viewer')",
    )
    .await?;
    assert_eq!(path(c).await?, hrefs[1]);
    Ok(())
}

//! The photo viewer in a real browser: opened from the gallery, moved with
//! the keys, zoomed to the original, closed with Esc and with Back, the
//! address following the photo shown.

use fantoccini::actions::{
    Actions, InputSource, MOUSE_BUTTON_LEFT, MouseActions, PointerAction, TouchActions,
    WheelAction, WheelActions,
};
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

/// The middle of the viewer's stage, in viewport pixels.
async fn stage_centre(c: &Client) -> Result<(i64, i64)> {
    let at = c
        .execute(
            "const b = document.querySelector('.viewer-stage').getBoundingClientRect(); return [Math.round(b.left + b.width / 2), Math.round(b.top + b.height / 2)]",
            vec![],
        )
        .await?;
    Ok((at[0].as_i64().unwrap_or(0), at[1].as_i64().unwrap_or(0)))
}

/// A mouse drag of `dx` px across the middle of the viewer's stage: a
/// swipe, or a pan when zoomed in.
async fn swipe(c: &Client, dx: f64) -> Result {
    drag(c, dx, 0.0).await
}

async fn drag(c: &Client, dx: f64, dy: f64) -> Result {
    let element = c.find(Locator::Css(".viewer-stage")).await?;
    let actions = MouseActions::new("swipe".into())
        .then(PointerAction::MoveToElement {
            element,
            duration: None,
            x: 0.0,
            y: 0.0,
        })
        .then(PointerAction::Down {
            button: MOUSE_BUTTON_LEFT,
        })
        .then(PointerAction::MoveBy {
            duration: Some(std::time::Duration::from_millis(150)),
            x: dx,
            y: dy,
        })
        .then(PointerAction::Up {
            button: MOUSE_BUTTON_LEFT,
        });
    c.perform_actions(actions).await?;
    Ok(())
}

/// The viewer image's transform (`translate(…) scale(z)`).
async fn transform(c: &Client) -> Result<String> {
    Ok(state(c).await?["transform"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
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

    // Tab goes round the viewer's buttons, never to the page behind it.
    for _ in 0..8 {
        key(c, "\u{E004}").await?; // Tab
        let inside = c
            .execute(
                "return document.activeElement.closest('.viewer') !== null",
                vec![],
            )
            .await?;
        assert_eq!(inside, json!(true), "Tab left the viewer");
    }

    // The next photo is already loading, at a size the gallery did not use.
    until(
        c,
        "the next photo preloaded",
        r#"const tile = document.querySelectorAll(".timeline .tile a")[1];
           const shown = tile.querySelector("picture img").currentSrc;
           const urls = new Set([...tile.querySelectorAll("source, picture img")].flatMap((e) =>
             e.srcset.split(",").map((s) => new URL(s.trim().split(/\s+/)[0], location.href).href)));
           return performance.getEntriesByType("resource").some((r) => urls.has(r.name) && r.name !== shown)"#,
    )
    .await?;

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

    // A swipe (a drag across the photo) steps too, either way.
    for (by, to) in [(-200.0, &hrefs[1]), (200.0, &hrefs[0])] {
        swipe(c, by).await?;
        until(
            c,
            "a swipe to the next photo",
            &format!("return location.pathname === '{to}'"),
        )
        .await?;
    }

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
    assert!(transform(c).await?.ends_with("scale(1)"));

    // The wheel zooms in around the pointer; a drag then pans the photo.
    let (x, y) = stage_centre(c).await?;
    let wheel = WheelActions::new("wheel".into()).then(WheelAction::Scroll {
        duration: None,
        x,
        y,
        delta_x: 0,
        delta_y: -100,
    });
    c.perform_actions(wheel).await?;
    let wheeled = transform(c).await?;
    assert!(wheeled.ends_with("scale(1.25)"), "{wheeled}");
    drag(c, 0.0, 80.0).await?;
    let panned = transform(c).await?;
    assert!(
        panned.ends_with("scale(1.25)") && panned != wheeled,
        "{wheeled} → {panned}"
    );
    key(c, "0").await?;

    // Two fingers moving apart zoom in, and no swipe is taken from them.
    let finger = |id: &str, from: i64, to: i64| {
        TouchActions::new(id.into())
            .then(PointerAction::MoveTo {
                duration: None,
                x: (x + from) as f64,
                y: y as f64,
            })
            .then(PointerAction::Down {
                button: MOUSE_BUTTON_LEFT,
            })
            .then(PointerAction::MoveTo {
                duration: Some(std::time::Duration::from_millis(200)),
                x: (x + to) as f64,
                y: y as f64,
            })
            .then(PointerAction::Up {
                button: MOUSE_BUTTON_LEFT,
            })
    };
    c.perform_actions(Actions::from(finger("one", -20, -120)).and(finger("two", 20, 120)))
        .await?;
    let pinched = transform(c).await?;
    assert!(!pinched.ends_with("scale(1)"), "{pinched}");
    assert_eq!(path(c).await?, hrefs[0], "a pinch is not a swipe");
    key(c, "0").await?;

    // A double-click zooms to the original's own pixels, and back.
    double_click(c, ".viewer-stage").await?;
    let deep = transform(c).await?;
    assert!(!deep.ends_with("scale(1)"), "{deep}");
    double_click(c, ".viewer-stage").await?;
    assert!(transform(c).await?.ends_with("scale(1)"));

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

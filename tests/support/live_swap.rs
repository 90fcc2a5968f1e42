//! A photo that was still rendering when its page loaded, swapped for its
//! picture by app.js once the server says it is ready: the result must be
//! what the server renders for a ready photo. The check takes a ready tile
//! (and then its photo page), puts back the placeholder the server renders
//! while a photo is pending (templates/tiles.html, templates/photo.html),
//! and hands it to app.js's `swapWhenReady`; the event stream answers at
//! once for a photo already ready.

use fantoccini::Client;
use serde_json::json;

use crate::chromium::{Result, until};

/// Turns the first timeline tile (`arguments[0]` is "tile") or the photo
/// page's frame ("frame") back into a pending placeholder and starts its
/// live swap. Keeps which it was, and what the server had rendered there,
/// in `window.served`.
const MAKE_PENDING: &str = r#"
const [where] = arguments;
const holder = where === "tile"
  ? document.querySelector(".timeline .tile a")
  : document.querySelector(".photo .frame");
window.served = { where, original: holder.dataset.original, size: holder.dataset.size };
const id = where === "tile" ? holder.closest(".tile").dataset.id : location.pathname.split("/").pop();
const pending = document.createElement(where === "tile" ? "span" : "div");
pending.className = "placeholder";
Object.assign(pending.dataset, { pending: id, variant: where === "tile" ? "thumb" : "display", sizes: "100vw" });
pending.textContent = "Rendering…";
if (where === "tile") {
  holder.querySelectorAll("img.ph, picture").forEach((n) => n.remove());
  delete holder.dataset.original;
  delete holder.dataset.size;
  holder.append(pending);
} else {
  holder.replaceWith(pending);
}
swapWhenReady(pending);
"#;

/// Once the swap has happened and its images have loaded: what the tile's
/// link or the photo's frame around the picture carries (`null` where
/// there is no frame), as `{ original, size, preview }` (whether one
/// preview was drawn, before the picture).
const SWAPPED: &str = r#"
const { where } = window.served;
const picture = document.querySelector(where === "tile" ? ".timeline .tile a picture" : ".photo figure picture");
if (!picture || document.querySelector("[data-pending]")) return null;
const loaded = (i) => i && i.complete && i.naturalWidth > 0;
const ph = picture.previousElementSibling;
if (!loaded(picture.querySelector("img")) || (ph && !loaded(ph))) return null;
const holder = picture.closest(where === "tile" ? "a" : ".frame");
return {
  original: holder?.dataset.original ?? null,
  size: holder?.dataset.size ?? null,
  preview: !!ph && ph.matches("img.ph") && picture.parentElement.querySelectorAll("img.ph").length === 1,
};
"#;

/// Swaps the first tile of the timeline on the current page, then the
/// frame of that tile's photo page; returns what was wrong (empty when
/// nothing was).
pub async fn check(c: &Client) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let photo_page = c
        .execute(
            "return document.querySelector('.timeline .tile a').href",
            vec![],
        )
        .await?;
    swap(c, "tile", &mut problems).await?;
    c.goto(photo_page.as_str().unwrap_or_default()).await?;
    swap(c, "frame", &mut problems).await?;
    Ok(problems)
}

/// Makes `place` ("tile" or "frame") pending, waits for its swap, and
/// adds to `problems` where the result differs from what the server sent.
async fn swap(c: &Client, place: &str, problems: &mut Vec<String>) -> Result {
    c.execute(MAKE_PENDING, vec![json!(place)]).await?;
    let swapped = until(c, &format!("the {place} swapped"), SWAPPED).await?;
    let served = c.execute("return window.served", vec![]).await?;
    if swapped["original"] != served["original"] || swapped["size"] != served["size"] {
        problems.push(format!("{place}: swapped to {swapped}, served {served}"));
    }
    if swapped["preview"] != json!(true) {
        problems.push(format!(
            "{place}: no preview drawn under the swapped picture"
        ));
    }
    Ok(())
}

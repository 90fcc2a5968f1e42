//! Checks of the justified timeline in a real browser, as laid out at the
//! window's current size (device pixel ratio 1).

use fantoccini::Client;
use serde_json::Value;

use crate::chromium::{Result, until};

/// Measures the timeline once every image on screen has loaded: rows, the
/// shapes of tiles, and the width of the variant each image shows.
/// Returns `{ problems, oversized, rows: [[tiles per row] per month],
/// checked }`: `oversized` lists images more than twice as wide as shown,
/// which means a wasteful download only in a fresh browser (one with a
/// larger size already cached may show that instead).
const MEASURE: &str = r#"
const onScreen = [...document.querySelectorAll(".timeline .tile picture img")]
  .filter((i) => i.getBoundingClientRect().top < innerHeight);
if (document.readyState !== "complete" || !onScreen.every((i) => i.complete && i.currentSrc)) return null;
const problems = [];
const oversized = [];
const rows = [];
for (const list of document.querySelectorAll(".timeline .rows")) {
  const right = list.getBoundingClientRect().right;
  const lines = [];
  for (const tile of list.querySelectorAll(":scope > .tile")) {
    const box = tile.getBoundingClientRect();
    const line = lines.find((l) => Math.abs(l.top - box.top) < 2);
    if (line) line.boxes.push(box); else lines.push({ top: box.top, boxes: [box] });
  }
  lines.forEach((line, i) => {
    const heights = line.boxes.map((b) => b.height);
    if (Math.max(...heights) - Math.min(...heights) > 2) problems.push(`row ${i}: heights ${heights}`);
    const end = line.boxes[line.boxes.length - 1].right;
    if (i < lines.length - 1 && Math.abs(end - right) > 2) problems.push(`row ${i} ends at ${end}, not at ${right}`);
  });
  rows.push(lines.map((l) => l.boxes.length));
}
let checked = 0;
for (const img of onScreen) {
  const tile = img.closest(".tile");
  const want = Number(img.getAttribute("width")) / Number(img.getAttribute("height"));
  for (const [what, box] of [["image", img.getBoundingClientRect()], ["tile", tile.getBoundingClientRect()]]) {
    const shown = box.width / box.height;
    if (Math.abs(shown / want - 1) > 0.03) problems.push(`${tile.dataset.id}: ${what} ${shown.toFixed(3)} wide for ${want.toFixed(3)}`);
  }
  const widths = new Map();
  for (const set of [img.srcset, tile.querySelector("source")?.srcset ?? ""]) {
    for (const entry of set.split(",").map((e) => e.trim()).filter(Boolean)) {
      const [url, w] = entry.split(/\s+/);
      widths.set(new URL(url, location.href).href, parseInt(w, 10));
    }
  }
  const chosen = widths.get(img.currentSrc);
  const shownWidth = img.getBoundingClientRect().width;
  if (chosen === undefined) problems.push(`${tile.dataset.id}: loaded ${img.currentSrc}, not in its srcset`);
  else if (chosen > 2 * shownWidth + 1) oversized.push(`${tile.dataset.id}: ${chosen} px shown at ${shownWidth.toFixed(0)} px`);
  checked += 1;
}
return { problems, oversized, rows, checked };
"#;

/// Opens `url` and waits until its timeline shows `tiles` photos.
pub async fn open_with_tiles(c: &Client, url: &str, tiles: usize) -> Result {
    c.goto(url).await?;
    until(
        c,
        &format!("{tiles} photos in the timeline"),
        &format!("return document.querySelectorAll('.timeline .tile').length === {tiles}"),
    )
    .await?;
    Ok(())
}

/// The timeline on the current page, measured (see [`MEASURE`]), with
/// what is wrong with it.
pub async fn measure(c: &Client) -> Result<Value> {
    until(c, "the timeline's images on screen", MEASURE).await
}

/// Checks the previews drawn under the timeline's pictures (app.js draws
/// each from the ThumbHash its `<picture>` carries), once every image on
/// screen has loaded: each such picture with a hash has an `img.ph` before it
/// that decoded, and the preview's average colour is within 24 of 255 of
/// its photo's, channel by channel. Returns `{ pictures, drawn, far }`.
const PREVIEWS: &str = r#"
const pictures = [...document.querySelectorAll(".timeline .tile picture[data-preview]")]
  .filter((p) => p.getBoundingClientRect().top < innerHeight);
const loaded = (i) => i && i.complete && i.naturalWidth > 0;
if (document.readyState !== "complete" || !pictures.every((p) => loaded(p.querySelector("img")))) return null;
const average = (img) => {
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = 8;
  const g = canvas.getContext("2d");
  g.drawImage(img, 0, 0, 8, 8);
  const px = g.getImageData(0, 0, 8, 8).data;
  const sum = [0, 0, 0];
  for (let i = 0; i < px.length; i += 4) for (let c = 0; c < 3; c++) sum[c] += px[i + c];
  return sum.map((s) => s / 64);
};
let drawn = 0;
const far = [];
for (const p of pictures) {
  const ph = p.previousElementSibling;
  if (!ph || !ph.matches("img.ph") || !loaded(ph)) continue;
  drawn += 1;
  const [a, b] = [average(ph), average(p.querySelector("img"))];
  if (a.some((v, c) => Math.abs(v - b[c]) > 24)) far.push(`${p.closest(".tile").dataset.id}: ${a} against ${b}`);
}
return { pictures: pictures.length, drawn, far };
"#;

/// The previews under the timeline on the current page (see [`PREVIEWS`]).
pub async fn previews(c: &Client) -> Result<Value> {
    until(c, "the timeline's previews and images loaded", PREVIEWS).await
}

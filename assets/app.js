// Scoot's progressive enhancement. Every page works without it; with it:
// - photos still rendering swap their placeholder for the image when the
//   server says they are ready (one Server-Sent Events stream per page);
// - the upload page takes dropped files and shows a progress bar per file,
//   a clear message per refused file, and a retry for failed ones;
// - on a photo page, ← and → go to the newer and older photo.
"use strict";

// ---- pictures -------------------------------------------------------------

function srcset(variants) {
  return [...variants].sort((a, b) => a.width - b.width).map((v) => `${v.url} ${v.width}w`).join(", ");
}

// The same markup the server renders: a <picture> with the WebP sizes as a
// <source> and the universal format (JPEG/PNG) as the <img>.
function pictureFor(photo, wanted, sizes) {
  const universal = photo.variants.filter((v) => v.format === "jpeg" || v.format === "png");
  const webp = photo.variants.filter((v) => v.format === "webp");
  const main = universal.find((v) => v.name === wanted) || universal[0];
  if (!main) return null;
  const picture = document.createElement("picture");
  if (webp.length) {
    const source = document.createElement("source");
    source.type = "image/webp";
    source.srcset = srcset(webp);
    source.sizes = sizes;
    picture.append(source);
  }
  const img = new Image(main.width, main.height);
  img.src = main.url;
  img.srcset = srcset(universal);
  img.sizes = sizes;
  img.alt = photo.title || photo.caption || "Photo";
  img.decoding = "async";
  picture.append(img);
  return picture;
}

// ---- live render status ---------------------------------------------------

// Photo id → callbacks waiting for it to settle.
const waiting = new Map();
let stream = null;
let reopen = null;

function whenSettled(id, callback) {
  if (!waiting.has(id)) waiting.set(id, []);
  waiting.get(id).push(callback);
  scheduleStream(0);
}

function scheduleStream(delay) {
  clearTimeout(reopen);
  reopen = setTimeout(openStream, delay);
}

// One stream names every photo still waited for (the server allows 200);
// it is reopened when the set grows, and after errors with a back-off.
function openStream() {
  if (stream) stream.close();
  stream = null;
  const ids = [...waiting.keys()].slice(0, 200);
  if (!ids.length) return;
  const source = new EventSource(`/api/events?photos=${ids.join(",")}`);
  stream = source;
  const settle = (id, photo) => {
    const callbacks = waiting.get(id) || [];
    waiting.delete(id);
    callbacks.forEach((cb) => cb(photo));
    if (!waiting.size) { source.close(); stream = null; }
  };
  source.addEventListener("photo", (e) => {
    const photo = JSON.parse(e.data);
    settle(photo.id, photo);
  });
  source.addEventListener("gone", (e) => settle(e.data, null));
  source.onerror = () => {
    // The server ends a stream once its photos settle; anything still
    // waited for (beyond the first 200, or after a restart) gets a new one.
    source.close();
    if (stream === source) stream = null;
    if (waiting.size) scheduleStream(2000);
  };
}

function swapWhenReady(el) {
  // The server names the size and the `sizes` its own markup uses.
  const wanted = el.dataset.variant || "thumb";
  const sizes = el.dataset.sizes || "100vw";
  whenSettled(el.dataset.pending, (photo) => {
    const label = el.querySelector("span") || el;
    if (!photo) {
      label.textContent = "Deleted";
    } else if (photo.status === "failed") {
      el.classList.add("failed");
      label.textContent = "Could not render" + (photo.error ? `: ${photo.error}` : "");
    } else {
      const picture = pictureFor(photo, wanted, sizes);
      if (picture) el.replaceWith(picture);
    }
  });
}

document.querySelectorAll("[data-pending]").forEach(swapWhenReady);

// ---- photo page -----------------------------------------------------------

// ← / → follow the newer / older links, unless typing in a field.
document.addEventListener("keydown", (e) => {
  if (e.altKey || e.ctrlKey || e.metaKey || e.shiftKey) return;
  if (e.target.closest && e.target.closest("input, textarea, select, [contenteditable]")) return;
  const rel = { ArrowLeft: "prev", ArrowRight: "next" }[e.key];
  const link = rel && document.querySelector(`nav.steps a[rel="${rel}"]`);
  if (link) {
    e.preventDefault();
    link.click();
  }
});

// Share links are rendered as paths; show the whole URL to copy.
document.querySelectorAll("input[data-share]").forEach((input) => {
  input.value = new URL(input.value, location.href).href;
  input.addEventListener("focus", () => input.select());
});

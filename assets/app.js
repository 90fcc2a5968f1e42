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
  // `sizes="auto"` (the width the tile was laid out at) needs lazy loading.
  if (sizes.startsWith("auto")) img.loading = "lazy";
  img.alt = photo.title || photo.caption || photo.filename || "Photo";
  img.decoding = "async";
  picture.append(img);
  return picture;
}

// A rendered photo's <picture> carries its ThumbHash (about 20 bytes, in
// base64) rather than a drawing of it: drawn here, under the picture, it is
// the blurred preview seen until the image loads. A hash that does not
// decode draws nothing; the image still loads.
function drawPreview(picture) {
  try {
    const hash = Uint8Array.from(atob(picture.dataset.preview), (c) => c.charCodeAt(0));
    const preview = new Image();
    preview.className = "ph";
    preview.alt = "";
    preview.setAttribute("aria-hidden", "true");
    preview.src = thumbHashToDataURL(hash);
    picture.before(preview);
  } catch (e) {
    // Not a ThumbHash: no preview.
  }
}

document.querySelectorAll("picture[data-preview]").forEach(drawPreview);

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
      if (!picture) return;
      el.replaceWith(readyAs(el, picture, photo));
      if (picture.dataset.preview) drawPreview(picture);
    }
  });
}

// What the server renders for a ready photo, in place of the placeholder
// `el`: a timeline tile's link and the photo page's frame carry the
// original's address and size for the viewer, and the picture its
// ThumbHash, drawn under it as on a fresh page. (The upload queue's small
// thumbnails take the picture alone.)
function readyAs(el, picture, photo) {
  // `holder` takes the placeholder's place; `carrier` tells the viewer.
  let holder = picture;
  let carrier = el.closest(".tile a");
  if (!carrier && el.closest(".photo figure")) {
    holder = carrier = document.createElement("div");
    holder.className = "frame";
    holder.append(picture);
  }
  if (!carrier) return picture;
  carrier.dataset.original = photo.original_url;
  carrier.dataset.size = `${photo.width}x${photo.height}`;
  if (photo.thumbhash) picture.dataset.preview = photo.thumbhash;
  return holder;
}

document.querySelectorAll("[data-pending]").forEach(swapWhenReady);

// ---- upload page ----------------------------------------------------------

// With JavaScript the upload form becomes a queue: files dropped on the zone
// (or chosen with the picker) upload at once, two at a time, each with its
// own progress bar and outcome. Refusals (too big, not a photo) say why;
// failures that may pass (network, server busy) offer a retry.
const PARALLEL_UPLOADS = 2;

function enhanceUpload(form) {
  const input = form.querySelector("input[type=file]");
  const zone = form.querySelector(".dropzone");
  const queue = document.getElementById("upload-queue");
  const maxBytes = Number(form.dataset.maxBytes) || Infinity;
  const waitingFiles = [];
  let running = 0;

  zone.hidden = false;
  queue.hidden = false;
  input.required = false;
  form.querySelector(".picker").classList.add("visually-hidden");
  form.querySelector("button[type=submit]").hidden = true;

  const pick = () => input.click();
  zone.addEventListener("click", pick);
  zone.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); pick(); }
  });
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (e) => { e.preventDefault(); zone.classList.add("over"); });
  }
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    addFiles(e.dataTransfer.files);
  });
  input.addEventListener("change", () => { addFiles(input.files); input.value = ""; });
  form.addEventListener("submit", (e) => { e.preventDefault(); addFiles(input.files); });

  function addFiles(files) {
    for (const file of files) {
      const item = newItem(file);
      if (file.size > maxBytes) {
        finish(item, "refused", `Refused: larger than ${Math.floor(maxBytes / 1048576)} MiB`);
        continue;
      }
      // The form's fields as they are now go with this file.
      const fields = new FormData(form);
      fields.delete("file");
      fields.append("file", file, file.name);
      waitingFiles.push({ item, fields });
    }
    next();
  }

  function newItem(file) {
    const li = document.createElement("li");
    li.className = "waiting";
    const thumb = document.createElement("span");
    thumb.className = "thumb";
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = file.name;
    const progress = document.createElement("progress");
    progress.max = 1;
    progress.value = 0;
    progress.setAttribute("aria-label", `Upload of ${file.name}`);
    const status = document.createElement("span");
    status.className = "status";
    status.textContent = "Waiting…";
    // A local preview until the rendered thumbnail arrives (blob: URLs are
    // allowed for this by the CSP).
    const preview = new Image();
    preview.alt = "";
    preview.src = URL.createObjectURL(file);
    const forget = () => URL.revokeObjectURL(preview.src);
    preview.addEventListener("load", forget);
    preview.addEventListener("error", () => { forget(); preview.remove(); });
    thumb.append(preview);
    li.append(thumb, name, progress, status);
    queue.append(li);
    return { li, thumb, progress, status, name: file.name };
  }

  function next() {
    while (running < PARALLEL_UPLOADS && waitingFiles.length) {
      const { item, fields } = waitingFiles.shift();
      running += 1;
      send(item, fields, () => { running -= 1; next(); });
    }
  }

  function send(item, fields, done) {
    item.li.className = "uploading";
    item.status.textContent = "Uploading…";
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/photos");
    xhr.responseType = "json";
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", (e) => {
      if (!e.lengthComputable) return;
      item.progress.value = e.loaded / e.total;
      item.status.textContent = `Uploading… ${Math.round((100 * e.loaded) / e.total)} %`;
    });
    xhr.addEventListener("load", () => {
      const body = xhr.response || {};
      if (xhr.status === 201 || xhr.status === 200) {
        item.progress.value = 1;
        finish(item, "done", xhr.status === 201 ? "Uploaded" : "Already uploaded", body);
      } else if (xhr.status === 401) {
        finish(item, "refused", "Your session has ended: log in again, then retry");
      } else if (xhr.status >= 400 && xhr.status < 500 && xhr.status !== 408 && xhr.status !== 429) {
        finish(item, "refused", `Refused: ${body.error || xhr.statusText}`);
      } else {
        retryable(item, fields, `Failed: ${body.error || `server answered ${xhr.status}`}`);
      }
      done();
    });
    xhr.addEventListener("error", () => { retryable(item, fields, "Failed: the connection broke"); done(); });
    xhr.send(fields);
  }

  function retryable(item, fields, message) {
    finish(item, "failed", message);
    const retry = document.createElement("button");
    retry.type = "button";
    retry.className = "link";
    retry.textContent = "Retry";
    retry.setAttribute("aria-label", `Retry ${item.name}`);
    retry.addEventListener("click", () => {
      retry.remove();
      item.progress.value = 0;
      item.li.className = "waiting";
      item.status.textContent = "Waiting…";
      waitingFiles.push({ item, fields });
      next();
    });
    item.status.append(" ", retry);
  }

  function finish(item, outcome, message, photo) {
    item.li.className = outcome;
    item.status.textContent = message;
    if (!photo || !photo.id) return;
    const link = document.createElement("a");
    link.href = photo.page_url || `/photos/${photo.id}`;
    link.textContent = "View";
    item.status.append(" · ", link);
    item.li.append(describeFields(item, photo));
    // The thumbnail appears when the render is done (the same live swap as
    // the gallery's).
    const picture = photo.status === "ready" && pictureFor(photo, "thumb", "64px");
    if (picture) {
      item.thumb.append(picture);
    } else if (photo.status === "pending") {
      // The preview (if the browser could show the file) stands in while
      // the render runs; the live swap replaces it.
      const ph = document.createElement("span");
      ph.className = "placeholder";
      ph.dataset.pending = photo.id;
      ph.dataset.variant = "thumb";
      ph.dataset.sizes = "64px";
      ph.title = "Rendering…";
      ph.append(...item.thumb.childNodes);
      if (!ph.childNodes.length) ph.textContent = "Rendering…";
      item.thumb.append(ph);
      swapWhenReady(ph);
    }
  }
}

// Each uploaded file's own title and caption, saved as they are changed
// (the form's title and caption above are what every file starts with).
function describeFields(item, photo) {
  const box = document.createElement("div");
  box.className = "describe";
  const note = document.createElement("span");
  note.className = "saved";
  note.setAttribute("role", "status");
  for (const [name, label, tag] of [["title", "Title", "input"], ["caption", "Caption", "textarea"]]) {
    const field = document.createElement(tag);
    if (tag === "input") field.type = "text";
    field.name = name;
    field.value = photo[name] || "";
    field.maxLength = name === "title" ? 200 : 2000;
    if (tag === "textarea") field.rows = 1;
    if (name === "title") field.placeholder = photo.filename || "";
    field.setAttribute("aria-label", `${label} of ${item.name}`);
    field.addEventListener("change", () => save(name, field.value.trim()));
    const wrap = document.createElement("label");
    wrap.append(label, " ", field);
    box.append(wrap);
  }
  box.append(note);

  async function save(name, value) {
    note.textContent = "Saving…";
    try {
      const resp = await fetch(`/api/photos/${encodeURIComponent(photo.id)}`, {
        method: "PATCH",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ [name]: value }),
      });
      const body = await resp.json().catch(() => ({}));
      note.textContent = resp.ok ? "Saved" : `Not saved: ${body.error || resp.statusText}`;
    } catch {
      note.textContent = "Not saved: the connection broke";
    }
  }
  return box;
}

const uploadForm = document.querySelector("form[data-upload]");
if (uploadForm) enhanceUpload(uploadForm);

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

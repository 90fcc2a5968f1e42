// Scoot's progressive enhancement. Pages work without it; with it, photos
// that are still rendering swap their placeholder for the image when ready.
"use strict";

function swapWhenReady(el) {
  const id = el.dataset.pending;
  const wanted = el.dataset.variant || "thumb";
  let delay = 800;
  const poll = async () => {
    try {
      const res = await fetch(`/api/photos/${encodeURIComponent(id)}`, { headers: { Accept: "application/json" } });
      if (res.ok) {
        const photo = await res.json();
        if (photo.status === "ready") {
          // The universal format for <img>, WebP offered next to it.
          const sizes = photo.variants.filter((x) => x.name === wanted);
          const v = sizes.find((x) => x.format !== "webp") || photo.variants[0];
          const webp = sizes.find((x) => x.format === "webp");
          if (v) {
            const img = new Image(v.width, v.height);
            img.src = v.url;
            img.alt = photo.title || photo.caption || "Photo";
            img.decoding = "async";
            const picture = document.createElement("picture");
            if (webp) {
              const source = document.createElement("source");
              source.type = "image/webp";
              source.srcset = webp.url;
              picture.append(source);
            }
            picture.append(img);
            el.replaceWith(picture);
          }
          return;
        }
        if (photo.status === "failed") {
          el.classList.add("failed");
          el.textContent = "Could not render" + (photo.error ? `: ${photo.error}` : "");
          return;
        }
      } else if (res.status === 404) {
        el.textContent = "Deleted";
        return;
      }
    } catch (_) { /* network hiccup: try again */ }
    delay = Math.min(delay * 1.5, 5000);
    setTimeout(poll, delay);
  };
  setTimeout(poll, delay);
}

document.querySelectorAll("[data-pending]").forEach(swapWhenReady);

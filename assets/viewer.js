// The photo viewer: clicking a photo in the gallery, an album or on its own
// page opens it full screen, over the page, in a modal dialog.
//
// - The largest size that fits the screen (the `srcset` of the page's image,
//   with `sizes` set to the box it fits), neighbours preloaded.
// - ← / → and swipes move, Esc closes, F goes full screen, S starts or stops
//   a slideshow; double-click, pinch, the wheel or + / − zoom, up to the
//   original's own pixels (fetched when first zoomed in); 0 fits again.
// - The address follows the photo shown (its page), so Back closes the
//   viewer and a copied link opens that photo. Without JavaScript every
//   link still opens the photo's page.
"use strict";

(function () {
  const SLIDE_MS = 4000;
  const SWIPE_PX = 50;

  // Everything on the page the viewer can show, in page order: a tile's
  // link, or the photo page's frame, carrying `data-original`.
  function items() {
    return [...document.querySelectorAll("[data-original]")]
      .filter((el) => el.querySelector("picture img:not(.ph)"))
      .map((el) => {
        const img = el.querySelector("picture img:not(.ph)");
        const [width, height] = el.dataset.size.split("x").map(Number);
        return {
          el,
          href: el.getAttribute("href"),
          alt: img.alt,
          srcset: img.srcset,
          webp: el.querySelector("picture source")?.srcset || "",
          original: el.dataset.original,
          width,
          height,
        };
      });
  }

  let view = null;

  document.addEventListener("click", (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.altKey || e.ctrlKey || e.metaKey || e.shiftKey) return;
    const el = e.target.closest("[data-original]");
    if (!el || !el.querySelector("picture img:not(.ph)")) return;
    const list = items();
    const at = list.findIndex((item) => item.el === el);
    if (at < 0) return;
    e.preventDefault();
    open(list, at, el);
  });

  function open(list, at, opener) {
    if (view) return;
    const ui = build();
    document.body.append(ui.root);
    document.documentElement.classList.add("viewing");
    // A tile leads to another address: the viewer takes its place in the
    // history, so Back closes it. The photo page is that address already.
    const pushed = Boolean(list[at].href);
    if (pushed) history.pushState({ scootViewer: true }, "", list[at].href);
    view = { list, at, ui, opener, pushed, zoom: 1, x: 0, y: 0, slideshow: null };
    show(at);
    ui.close.focus();
  }

  function close(fromHistory) {
    if (!view) return;
    const { ui, opener, pushed } = view;
    stopSlideshow();
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
    ui.root.remove();
    document.documentElement.classList.remove("viewing");
    view = null;
    if (pushed && !fromHistory) history.back();
    opener?.focus();
  }

  window.addEventListener("popstate", () => close(true));

  function build() {
    const root = document.createElement("div");
    root.className = "viewer";
    root.setAttribute("role", "dialog");
    root.setAttribute("aria-modal", "true");
    root.setAttribute("aria-label", "Photo viewer");
    const bar = document.createElement("div");
    bar.className = "viewer-bar";
    const counter = document.createElement("p");
    counter.className = "viewer-title";
    counter.setAttribute("aria-live", "polite");
    const button = (label, text, act, keys) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "viewer-button";
      b.textContent = text;
      b.setAttribute("aria-label", label);
      b.title = label;
      if (keys) b.setAttribute("aria-keyshortcuts", keys);
      b.addEventListener("click", act);
      return b;
    };
    const slideshow = button("Slideshow", "▶", () => (view.slideshow ? stopSlideshow() : startSlideshow()), "S");
    slideshow.setAttribute("aria-pressed", "false");
    const zoomIn = button("Zoom in", "+", () => zoomBy(1.5), "+");
    const zoomOut = button("Zoom out", "−", () => zoomBy(1 / 1.5), "-");
    const full = button("Full screen", "", toggleFullscreen, "F");
    full.append(cornersIcon());
    const closeButton = button("Close", "✕", () => close(false), "Escape");
    bar.append(counter, slideshow, zoomOut, zoomIn, full, closeButton);

    const stage = document.createElement("div");
    stage.className = "viewer-stage";
    const pic = picture();
    const img = pic.querySelector("img");
    img.className = "viewer-image";
    img.decoding = "async";
    img.draggable = false;
    stage.append(pic);
    const prev = button("Previous photo", "‹", () => step(-1), "ArrowLeft");
    prev.classList.add("viewer-prev");
    const next = button("Next photo", "›", () => step(1), "ArrowRight");
    next.classList.add("viewer-next");
    stage.append(prev, next);
    root.append(bar, stage);
    gestures(stage);
    stage.addEventListener("dblclick", (e) => {
      if (view.zoom > 1) fit();
      else zoomTo(maxZoom(), e);
    });
    stage.addEventListener("wheel", (e) => {
      e.preventDefault();
      zoomBy(e.deltaY < 0 ? 1.25 : 1 / 1.25, e);
    }, { passive: false });
    return { root, counter, stage, picture: pic, img, prev, next, slideshow, zoomIn, zoomOut, close: closeButton };
  }

  // Four corners: the full-screen icon (fonts rarely have one).
  function cornersIcon() {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 16 16");
    svg.setAttribute("width", "18");
    svg.setAttribute("height", "18");
    svg.setAttribute("aria-hidden", "true");
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", "M1 5V1h4M11 1h4v4M15 11v4h-4M5 15H1v-4");
    path.setAttribute("fill", "none");
    path.setAttribute("stroke", "currentColor");
    path.setAttribute("stroke-width", "2");
    svg.append(path);
    return svg;
  }

  // The box the photo fits in on this screen, in CSS px: no larger than
  // the original shown pixel for pixel.
  function fitted(item) {
    const box = view.ui.stage.getBoundingClientRect();
    const scale = Math.min(box.width / item.width, box.height / item.height, 1);
    const width = Math.max(1, Math.round(item.width * scale));
    return { width, height: Math.max(1, Math.round((width * item.height) / item.width)) };
  }

  // Points a <picture> at an item's sizes for a box `width` px wide: the
  // browser takes the smallest size that fills it, in WebP if it can.
  function aim(picture, item, width) {
    const [source, img] = [picture.querySelector("source"), picture.querySelector("img")];
    source.srcset = item.webp || item.srcset;
    source.type = item.webp ? "image/webp" : "";
    source.sizes = `${width}px`;
    img.removeAttribute("src");
    img.sizes = `${width}px`;
    img.srcset = item.srcset;
  }

  function picture() {
    const p = document.createElement("picture");
    p.append(document.createElement("source"), document.createElement("img"));
    return p;
  }

  function show(at) {
    const { list, ui } = view;
    view.at = at;
    const item = list[at];
    view.zoom = 1;
    view.x = 0;
    view.y = 0;
    view.fullRes = false;
    ui.img.alt = item.alt;
    fitToStage();
    ui.counter.textContent = list.length > 1 ? `${item.alt} · ${at + 1} of ${list.length}` : item.alt;
    ui.prev.hidden = at === 0;
    ui.next.hidden = at === list.length - 1;
    if (view.pushed && item.href && location.pathname !== item.href) {
      history.replaceState({ scootViewer: true }, "", item.href);
    }
    // The neighbours, at the same size, so a step shows at once.
    for (const n of [list[at - 1], list[at + 1]]) {
      if (n) aim(picture(), n, fitted(n).width);
    }
  }

  function step(by) {
    if (!view) return;
    const at = view.at + by;
    if (at < 0 || at >= view.list.length) return false;
    show(at);
    return true;
  }

  // ---- zoom and pan ----------------------------------------------------------

  // How far the photo zooms: until one pixel of the original is one pixel
  // of the screen.
  function maxZoom() {
    const item = view.list[view.at];
    return Math.max(1, item.width / devicePixelRatio / view.fit.width);
  }

  function zoomBy(factor, around) {
    zoomTo(view.zoom * factor, around);
  }

  function zoomTo(zoom, around) {
    const z = Math.min(Math.max(zoom, 1), maxZoom());
    if (around && around.clientX !== undefined) {
      // Keep the point under the pointer where it is.
      const box = view.ui.stage.getBoundingClientRect();
      const px = around.clientX - (box.left + box.width / 2);
      const py = around.clientY - (box.top + box.height / 2);
      view.x = px - ((px - view.x) * z) / view.zoom;
      view.y = py - ((py - view.y) * z) / view.zoom;
    }
    view.zoom = z;
    if (z > 1 && !view.fullRes) {
      // The original, once, swapped in when it has loaded.
      view.fullRes = true;
      const item = view.list[view.at];
      const full = new Image();
      full.onload = () => {
        if (view && view.list[view.at] === item) {
          view.ui.picture.querySelector("source").srcset = "";
          view.ui.img.srcset = "";
          view.ui.img.src = item.original;
        }
      };
      full.src = item.original;
    }
    place();
  }

  function fit() {
    view.zoom = 1;
    view.x = 0;
    view.y = 0;
    place();
  }

  function place() {
    const { fit: size, zoom, ui } = view;
    const box = ui.stage.getBoundingClientRect();
    // Pan no further than the photo's edges.
    const limitX = Math.max(0, (size.width * zoom - box.width) / 2);
    const limitY = Math.max(0, (size.height * zoom - box.height) / 2);
    view.x = Math.min(limitX, Math.max(-limitX, view.x));
    view.y = Math.min(limitY, Math.max(-limitY, view.y));
    ui.img.style.transform = `translate(${view.x}px, ${view.y}px) scale(${zoom})`;
    ui.root.classList.toggle("zoomed", zoom > 1);
    ui.zoomOut.disabled = zoom <= 1;
    ui.zoomIn.disabled = zoom >= maxZoom();
  }

  // Swipe to step, drag to pan a zoomed photo, pinch to zoom.
  function gestures(stage) {
    const pointers = new Map();
    let start = null;
    stage.addEventListener("pointerdown", (e) => {
      if (e.target.closest("button")) return;
      stage.setPointerCapture(e.pointerId);
      pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
      start = { x: e.clientX, y: e.clientY, panX: view.x, panY: view.y, zoom: view.zoom, spread: spread() };
    });
    stage.addEventListener("pointermove", (e) => {
      if (!pointers.has(e.pointerId) || !start) return;
      pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
      if (pointers.size === 2 && start.spread) {
        zoomTo((start.zoom * spread()) / start.spread);
      } else if (pointers.size === 1 && view.zoom > 1) {
        view.x = start.panX + e.clientX - start.x;
        view.y = start.panY + e.clientY - start.y;
        place();
      }
    });
    const end = (e) => {
      if (!pointers.delete(e.pointerId) || !start) return;
      const dx = e.clientX - start.x;
      const dy = e.clientY - start.y;
      if (pointers.size === 0 && view && view.zoom === 1 && !start.spread && Math.abs(dx) > SWIPE_PX && Math.abs(dx) > Math.abs(dy)) {
        step(dx < 0 ? 1 : -1);
      }
      start = pointers.size ? { ...start, spread: spread(), zoom: view.zoom } : null;
    };
    stage.addEventListener("pointerup", end);
    stage.addEventListener("pointercancel", end);
    function spread() {
      if (pointers.size !== 2) return 0;
      const [a, b] = [...pointers.values()];
      return Math.hypot(a.x - b.x, a.y - b.y);
    }
  }

  // ---- slideshow and full screen ---------------------------------------------

  function startSlideshow() {
    stopSlideshow();
    view.slideshow = setInterval(() => {
      if (!step(1)) stopSlideshow();
    }, SLIDE_MS);
    view.ui.slideshow.setAttribute("aria-pressed", "true");
    view.ui.slideshow.textContent = "❚❚";
  }

  function stopSlideshow() {
    if (!view || !view.slideshow) return;
    clearInterval(view.slideshow);
    view.slideshow = null;
    view.ui.slideshow.setAttribute("aria-pressed", "false");
    view.ui.slideshow.textContent = "▶";
  }

  function toggleFullscreen() {
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
    else view.ui.root.requestFullscreen?.().catch(() => {});
  }

  // ---- keys --------------------------------------------------------------------

  // Taken before the page's own keys (app.js steps photo pages with ← →).
  window.addEventListener("keydown", (e) => {
    if (!view || e.altKey || e.ctrlKey || e.metaKey) return;
    const act = {
      ArrowLeft: () => { stopSlideshow(); step(-1); },
      ArrowRight: () => { stopSlideshow(); step(1); },
      Escape: () => close(false),
      f: toggleFullscreen,
      F: toggleFullscreen,
      s: () => (view.slideshow ? stopSlideshow() : startSlideshow()),
      S: () => (view.slideshow ? stopSlideshow() : startSlideshow()),
      "+": () => zoomBy(1.5),
      "=": () => zoomBy(1.5),
      "-": () => zoomBy(1 / 1.5),
      0: fit,
      Tab: () => trapFocus(e.shiftKey),
    }[e.key];
    if (!act) return;
    e.preventDefault();
    e.stopImmediatePropagation();
    act();
  }, true);

  // Tab and Shift+Tab go round the viewer's buttons, never behind it.
  function trapFocus(back) {
    const focusable = [...view.ui.root.querySelectorAll("button:not([hidden]):not(:disabled)")];
    const at = focusable.indexOf(document.activeElement);
    const next = back ? (at <= 0 ? focusable.length - 1 : at - 1) : (at + 1) % focusable.length;
    focusable[next]?.focus();
  }

  // Sizes the photo to the stage (and, until the original is shown, picks
  // the size that fills it), keeping the zoom.
  function fitToStage() {
    const item = view.list[view.at];
    view.fit = fitted(item);
    const { img, picture } = view.ui;
    img.style.width = `${view.fit.width}px`;
    img.style.height = `${view.fit.height}px`;
    if (!view.fullRes) aim(picture, item, view.fit.width);
    place();
  }

  window.addEventListener("resize", () => {
    if (view) fitToStage();
  });
})();

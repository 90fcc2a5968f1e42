// Selecting photos in a grid and acting on them, for a logged-in owner.
// Loaded only for someone logged in; acts only on a timeline marked
// `data-select` whose tiles carry `data-own`. Without it every page still
// works one photo at a time.
//
// - Each of the owner's tiles gets a check button (Space or Enter toggles
//   it; Shift with a click, Space or Enter selects the range from the last
//   one toggled). While anything is selected, clicking a photo selects it
//   instead of opening it, and Esc clears the selection.
// - A toolbar then offers: add to an album (an existing one, or a new one
//   made of the selection), change who can see them, move them to the
//   trash, download them as a ZIP.
// - Every share link gets a "Copy link" button.
"use strict";

(function () {
  const grid = document.querySelector("[data-select]");
  if (grid) selectable(grid);

  document.querySelectorAll("[data-copy]").forEach((button) => {
    const input = document.getElementById(button.dataset.copy);
    if (!input) return;
    button.hidden = false;
    button.addEventListener("click", () => copy(input, button));
  });
})();

// Copies the URL in `input`, and says so on `button`.
async function copy(input, button) {
  const url = new URL(input.value, location.href).href;
  input.value = url;
  let done = false;
  try {
    await navigator.clipboard.writeText(url);
    done = true;
  } catch {
    // No clipboard API (or no permission): the old way, from the field.
    input.select();
    done = document.execCommand && document.execCommand("copy");
  }
  button.textContent = done ? "Copied" : "Select and copy the link";
  button.dataset.copied = done ? "1" : "";
}

function selectable(grid) {
  const tiles = [...grid.querySelectorAll(".tile[data-own]")];
  if (!tiles.length) return;
  const chosen = new Set();
  let last = null;

  const bar = toolbar();
  document.querySelector("main").append(bar.root);

  for (const tile of tiles) {
    const pick = document.createElement("button");
    pick.type = "button";
    pick.className = "pick";
    pick.setAttribute("aria-pressed", "false");
    pick.setAttribute("aria-label", `Select ${tile.querySelector("a")?.getAttribute("aria-label") || "photo"}`);
    pick.textContent = "✓";
    // Shift with Space or Enter selects a range from the keyboard; the
    // click the key would then make is not a second toggle.
    let byKey = false;
    pick.addEventListener("click", (e) => {
      if (byKey) { byKey = false; return; }
      toggle(tile, e.shiftKey);
    });
    pick.addEventListener("keydown", (e) => {
      if (e.shiftKey && (e.key === " " || e.key === "Enter")) {
        e.preventDefault();
        byKey = true;
        toggle(tile, true);
      }
    });
    pick.addEventListener("keyup", () => setTimeout(() => { byKey = false; }, 0));
    tile.prepend(pick);
    // While something is selected, a click on a photo selects it.
    tile.querySelector("a")?.addEventListener("click", (e) => {
      if (!chosen.size) return;
      e.preventDefault();
      toggle(tile, e.shiftKey);
    });
  }
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && chosen.size && !bar.busy()) clear();
  });

  function toggle(tile, range) {
    const on = !chosen.has(tile.dataset.id);
    const span = range && last ? between(last, tile) : [tile];
    for (const t of span) set(t, range ? true : on);
    last = tile;
    bar.update(chosen.size);
  }

  function between(a, b) {
    const [i, j] = [tiles.indexOf(a), tiles.indexOf(b)].sort((x, y) => x - y);
    return tiles.slice(i, j + 1);
  }

  function set(tile, on) {
    if (on) chosen.add(tile.dataset.id);
    else chosen.delete(tile.dataset.id);
    tile.classList.toggle("chosen", on);
    tile.querySelector(".pick").setAttribute("aria-pressed", String(on));
  }

  function clear() {
    for (const t of tiles) set(t, false);
    last = null;
    bar.update(0);
  }

  // The selection, in the grid's order.
  function ids() {
    return tiles.map((t) => t.dataset.id).filter((id) => chosen.has(id));
  }

  function toolbar() {
    const root = document.createElement("div");
    root.className = "selection-bar";
    root.setAttribute("role", "region");
    root.setAttribute("aria-label", "Selected photos");
    root.hidden = true;
    root.innerHTML = `
      <div class="row">
        <span class="count" role="status"></span>
        <button type="button" data-act="album">Add to album…</button>
        <label>Who can see them
          <select data-act="visibility">
            <option value="">Keep</option>
            <option value="public">Everyone</option>
            <option value="unlisted">People with the link</option>
            <option value="private">Only me</option>
          </select>
        </label>
        <button type="button" data-act="trash">Move to trash</button>
        <a data-act="download" href="#" download>Download ZIP</a>
        <button type="button" class="link" data-act="clear">Clear</button>
      </div>
      <form class="album-pick row" hidden>
        <label>Album <select name="album"><option value="">New album</option></select></label>
        <label class="new-only">Title <input type="text" name="title" maxlength="200"></label>
        <label class="new-only">Who can see it
          <select name="visibility">
            <option value="private">Only me</option>
            <option value="unlisted">People with the link</option>
            <option value="public">Everyone</option>
          </select>
        </label>
        <button type="submit">Add</button>
      </form>
      <p class="outcome" role="status"></p>`;
    const $ = (css) => root.querySelector(css);
    const form = $(".album-pick");
    const outcome = $(".outcome");
    let working = false;

    $("[data-act=clear]").addEventListener("click", clear);
    $("[data-act=album]").addEventListener("click", async () => {
      form.hidden = !form.hidden;
      if (form.hidden) return;
      const albums = await call("GET", "/api/albums");
      const select = form.elements.album;
      select.length = 1;
      for (const a of (albums && albums.albums) || []) {
        if (a.mine) select.add(new Option(a.title, a.id));
      }
      showNewOnly();
      form.elements.title.focus();
    });
    form.elements.album.addEventListener("change", showNewOnly);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const album = form.elements.album.value;
      let done;
      if (album) {
        done = await call("POST", `/api/albums/${encodeURIComponent(album)}/photos`, { ids: ids() });
        if (done) report(`Added ${done.added} photo${done.added === 1 ? "" : "s"} to “${form.elements.album.selectedOptions[0].text}”.`, `/albums/${album}`);
      } else {
        const title = form.elements.title.value.trim();
        if (!title) { outcome.textContent = "Give the new album a title."; return; }
        done = await call("POST", "/api/albums", { title, visibility: form.elements.visibility.value, photos: ids() });
        if (done) report(`Made the album “${done.title}”.`, done.url, done.share_url);
      }
      if (done) form.hidden = true;
    });
    $("[data-act=visibility]").addEventListener("change", async (e) => {
      const visibility = e.target.value;
      if (!visibility) return;
      const done = await call("PATCH", "/api/photos", { ids: ids(), visibility });
      e.target.value = "";
      if (done) {
        report(`Changed who can see ${done.photos.length} photo${done.photos.length === 1 ? "" : "s"}.`);
        for (const p of done.photos) {
          const tile = tiles.find((t) => t.dataset.id === p.id);
          const badge = tile && tile.querySelector(".badge.visibility");
          if (badge) badge.remove();
          if (tile && p.visibility !== "public") {
            const b = document.createElement("span");
            b.className = "badge visibility";
            b.textContent = p.visibility === "unlisted" ? "Unlisted" : "Private";
            tile.append(b);
          }
        }
      }
    });
    $("[data-act=trash]").addEventListener("click", async () => {
      const chosenIds = ids();
      const done = await call("POST", "/api/trash", { ids: chosenIds });
      if (!done) return;
      for (const id of chosenIds) {
        const tile = tiles.find((t) => t.dataset.id === id);
        if (tile) { tile.remove(); tiles.splice(tiles.indexOf(tile), 1); }
        chosen.delete(id);
      }
      report(`Moved ${done.trashed} photo${done.trashed === 1 ? "" : "s"} to the trash.`, "/trash");
      update(0);
    });
    $("[data-act=download]").addEventListener("click", (e) => {
      e.currentTarget.href = `/api/photos/download?ids=${ids().join(",")}`;
    });

    function showNewOnly() {
      const isNew = !form.elements.album.value;
      form.querySelectorAll(".new-only").forEach((el) => { el.hidden = !isNew; });
    }

    // `text`, with a link to `href` and a copy button for `share`.
    function report(text, href, share) {
      outcome.textContent = text + " ";
      if (href) {
        const a = document.createElement("a");
        a.href = href;
        a.textContent = "Open";
        outcome.append(a);
      }
      if (share) {
        const input = document.createElement("input");
        input.type = "text";
        input.readOnly = true;
        input.id = "selection-share";
        input.value = new URL(share, location.href).href;
        input.setAttribute("aria-label", "Share link");
        const button = document.createElement("button");
        button.type = "button";
        button.className = "link";
        button.textContent = "Copy link";
        button.addEventListener("click", () => copy(input, button));
        outcome.append(" ", input, " ", button);
      }
    }

    async function call(method, url, body) {
      working = true;
      try {
        const resp = await fetch(url, {
          method,
          headers: { Accept: "application/json", ...(body ? { "Content-Type": "application/json" } : {}) },
          body: body ? JSON.stringify(body) : undefined,
        });
        const json = await resp.json().catch(() => ({}));
        if (!resp.ok) {
          outcome.textContent = `Not done: ${json.error || resp.statusText}`;
          return null;
        }
        return json;
      } catch {
        outcome.textContent = "Not done: the connection broke";
        return null;
      } finally {
        working = false;
      }
    }

    function update(count) {
      root.hidden = count === 0 && !outcome.textContent;
      $(".count").textContent = `${count} selected`;
      root.querySelectorAll(".row:first-child [data-act]:not([data-act=clear])").forEach((el) => {
        if ("disabled" in el) el.disabled = count === 0;
      });
      grid.classList.toggle("selecting", count > 0);
    }

    return { root, update, busy: () => working };
  }
}

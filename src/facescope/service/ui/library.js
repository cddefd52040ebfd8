// facescope web UI, "Photo library" view: the people found in a library of photos.
//
// Upload photos (their faces are grouped into people), then name people, split
// wrong faces off, accept or reject merge suggestions, and promote a person into
// the gallery collection chosen at the top of the page. Plain JavaScript over
// /v1/library, no build step; every text goes in through textContent / el().
"use strict";

(() => {
  const ui = window.facescopeUI;
  if (!ui) return; // app.js did not load: it reports that itself
  const { $, el, setText, showError, setStatus, api, apiKey, imageForm, dropzone, state } = ui;

  const LIB = "/v1/library";
  /** Thumbnails fetched at once (each is a small request). */
  const THUMB_CONCURRENCY = 4;

  const lib = {
    built: false,
    clusters: [], // GET /v1/library/clusters
    open: null, // GET /v1/library/clusters/{id} of the person shown, or null
    wanted: null, // id of the person last asked for (shown once its faces arrive)
    openRun: 0, // counts openings: only the latest one's answer is shown
    selected: new Set(), // face ids ticked in the open person
    run: 0, // counts loads: only the latest one's answer is shown
  };

  const json = (value) => new Blob([JSON.stringify(value)], { type: "application/json" });
  const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
  const personName = (cluster) => cluster.name || "Unnamed";
  const clusterPath = (id) => `${LIB}/clusters/${encodeURIComponent(String(id))}`;

  // ---- thumbnails: fetched with the API key, shown as blob: URLs ----------------------

  const thumbs = new Map(); // face id -> Promise of an object URL (or null)
  const queue = [];
  let fetching = 0;

  function pump() {
    while (fetching < THUMB_CONCURRENCY && queue.length) {
      const { id, resolve } = queue.shift();
      fetching += 1;
      const headers = {};
      const key = apiKey();
      if (key) headers.Authorization = `Bearer ${key}`;
      fetch(`${LIB}/faces/${encodeURIComponent(String(id))}/thumbnail`, { headers })
        .then((response) => (response.ok ? response.blob() : null))
        .then((blob) => resolve(blob ? URL.createObjectURL(blob) : null))
        .catch(() => resolve(null))
        .finally(() => {
          fetching -= 1;
          pump();
        });
    }
  }

  function thumbnailUrl(id) {
    if (!thumbs.has(id)) {
      const promise = new Promise((resolve) => {
        queue.push({ id, resolve });
        pump();
      });
      thumbs.set(id, promise);
      promise.then((url) => {
        if (!url) thumbs.delete(id); // try again next time (a key may be entered meanwhile)
      });
    }
    return thumbs.get(id);
  }

  /** An <img> of a face thumbnail, filled in when it arrives; a grey disc without one. */
  function thumb(faceId, alt, className = "lib-thumb") {
    const img = el("img", { class: className, alt, width: 96, height: 96, "data-testid": "library-thumb" });
    if (faceId === null || faceId === undefined) {
      img.classList.add("missing");
      return img;
    }
    img.dataset.face = String(faceId);
    thumbnailUrl(faceId).then((url) => {
      if (url) img.src = url;
      else img.classList.add("missing");
    });
    return img;
  }

  // ---- the view's markup (built once, on first show) ----------------------------------

  function build() {
    const view = $("view-library");
    const files = el("input", {
      type: "file",
      id: "library-files",
      "data-testid": "library-files",
      accept: "image/*",
      multiple: true,
    });
    view.replaceChildren(
      el(
        "div",
        { class: "grid two" },
        el(
          "div",
          { class: "stack" },
          el(
            "div",
            { class: "card" },
            el(
              "div",
              { class: "card-head" },
              el("h2", {}, "Photo library"),
              el("span", { class: "muted small", id: "library-summary", "data-testid": "library-summary" }),
            ),
            el(
              "p",
              { class: "muted small" },
              "Add photos: every face is found and grouped with the faces of the same person. " +
                "Photos are not kept, only a small thumbnail of each face.",
            ),
            el(
              "label",
              { class: "dropzone small", id: "library-drop", "data-testid": "library-drop" },
              files,
              el("span", { class: "dz-title" }, "Drop photos here or ", el("u", {}, "choose files")),
              el("span", { class: "dz-hint" }, "Group photos are welcome: each face counts."),
            ),
            el("div", { class: "status", id: "library-status", "data-testid": "library-status", "aria-live": "polite" }),
            el("div", { class: "error", id: "library-error", "data-testid": "library-error", role: "alert", hidden: true }),
          ),
          el(
            "div",
            { class: "card" },
            el(
              "div",
              { class: "card-head" },
              el("h2", {}, "People ", el("span", { class: "count", id: "library-count", "data-testid": "library-count" })),
              el(
                "button",
                { type: "button", class: "secondary", id: "library-refresh", "data-testid": "library-refresh", onclick: () => loadAll() },
                "Refresh",
              ),
            ),
            el("p", { class: "muted", id: "library-empty", "data-testid": "library-empty", hidden: true }, "No people yet: add photos above."),
            el("p", { class: "muted small", id: "library-unclustered", "data-testid": "library-unclustered", hidden: true }),
            el("ul", { class: "lib-grid", id: "library-people", "data-testid": "library-people", "aria-label": "People" }),
          ),
          el(
            "div",
            { class: "card" },
            el("h2", {}, "Suggestions"),
            el("p", { class: "muted small" }, "People who may be the same person. Accept merges them; reject keeps them apart for good."),
            el("div", { class: "error", id: "library-suggestions-error", "data-testid": "library-suggestions-error", role: "alert", hidden: true }),
            el("p", { class: "muted", id: "library-suggestions-empty", "data-testid": "library-suggestions-empty" }, "No suggestions."),
            el("ul", { class: "lib-suggestions", id: "library-suggestions", "data-testid": "library-suggestions" }),
          ),
        ),
        el(
          "div",
          { class: "stack" },
          el(
            "div",
            { class: "card tips", id: "library-hint", "data-testid": "library-hint" },
            el("h2", {}, "A person"),
            el(
              "p",
              { class: "muted" },
              "Choose a person to see their faces: name them, split off faces that are " +
                "someone else, or promote them into the gallery so that Identify recognises them.",
            ),
          ),
          buildDetail(),
        ),
      ),
    );
    dropzone("library-drop", files, addPhotos);
    // the promote button names the collection chosen at the top of the page
    $("collection").addEventListener("change", () => setText("library-collection", state.collection));
    lib.built = true;
  }

  function buildDetail() {
    return el(
      "div",
      { class: "card", id: "library-detail", "data-testid": "library-detail", hidden: true },
      el(
        "div",
        { class: "card-head" },
        el("h2", { id: "library-detail-title", "data-testid": "library-detail-title", tabindex: "-1" }),
        el(
          "button",
          { type: "button", class: "secondary", id: "library-close", "data-testid": "library-close", onclick: closePerson },
          "Close",
        ),
      ),
      el(
        "form",
        { class: "lib-rename", id: "library-rename-form", "data-testid": "library-rename-form", onsubmit: rename },
        el(
          "label",
          { class: "field" },
          el("span", {}, "Name"),
          el("input", { type: "text", id: "library-name", "data-testid": "library-name", maxlength: "200", placeholder: "Who is this?", autocomplete: "off" }),
        ),
        el("button", { type: "submit", class: "secondary", id: "library-rename", "data-testid": "library-rename" }, "Rename"),
      ),
      el(
        "div",
        { class: "actions" },
        el(
          "button",
          { type: "button", class: "primary", id: "library-promote", "data-testid": "library-promote", onclick: promote },
          "Promote to gallery",
        ),
        el(
          "span",
          { class: "muted small" },
          "into collection ",
          el("strong", { id: "library-collection", "data-testid": "library-collection" }, state.collection),
          ", so that Identify recognises this person",
        ),
      ),
      el("div", { class: "status", id: "library-detail-status", "data-testid": "library-detail-status", "aria-live": "polite" }),
      el("div", { class: "error", id: "library-detail-error", "data-testid": "library-detail-error", role: "alert", hidden: true }),
      el("h3", {}, "Faces"),
      el("p", { class: "muted small" }, "Tick the faces that are someone else, then split them off into a new person."),
      el("ul", { class: "lib-faces", id: "library-faces", "data-testid": "library-faces", "aria-label": "Faces" }),
      el(
        "div",
        { class: "actions" },
        el(
          "button",
          { type: "button", class: "secondary", id: "library-split", "data-testid": "library-split", disabled: true, onclick: split },
          "Split selected into a new person",
        ),
      ),
    );
  }

  // ---- loading ------------------------------------------------------------------------

  async function loadAll() {
    const run = ++lib.run;
    showError("library-error", null);
    showError("library-suggestions-error", null);
    const [summary, clusters, suggestions] = await Promise.allSettled([
      api("GET", LIB),
      api("GET", `${LIB}/clusters`),
      api("GET", `${LIB}/suggestions`),
    ]);
    if (run !== lib.run) return; // a newer load is under way
    if (summary.status === "fulfilled") renderSummary(summary.value);
    if (clusters.status === "fulfilled") renderPeople(clusters.value);
    else showError("library-error", clusters.reason);
    if (suggestions.status === "fulfilled") renderSuggestions(suggestions.value);
    else showError("library-suggestions-error", suggestions.reason);
    if (lib.wanted !== null) {
      const still = lib.clusters.some((c) => c.id === lib.wanted);
      if (still) await openPerson(lib.wanted, { keepSelection: true, focus: false });
      else closePerson();
    }
  }

  function renderSummary(summary) {
    setText(
      "library-summary",
      summary.library
        ? `${plural(summary.files, "photo")}, ${plural(summary.faces, "face")}`
        : "empty",
    );
    const note = $("library-unclustered");
    note.hidden = !summary.unclustered;
    note.textContent = summary.unclustered
      ? `${plural(summary.unclustered, "face")} not grouped yet: a person needs a few ` +
        "photos before they appear here."
      : "";
  }

  function renderPeople(clusters) {
    lib.clusters = clusters;
    setText("library-count", String(clusters.length));
    $("library-empty").hidden = clusters.length !== 0;
    $("library-people").replaceChildren(
      ...clusters.map((cluster) =>
        el(
          "li",
          {},
          el(
            "button",
            {
              type: "button",
              class: "lib-card",
              "data-testid": "library-card",
              "data-cluster": String(cluster.id),
              "data-name": cluster.name || "",
              "aria-pressed": String(lib.wanted === cluster.id),
              "aria-label": `${personName(cluster)}, ${plural(cluster.size, "face")}`,
              onclick: () => openPerson(cluster.id),
            },
            thumb(cluster.representative, ""),
            el("span", { class: cluster.name ? "lib-name" : "lib-name unnamed", "data-testid": "library-card-name" }, personName(cluster)),
            el("span", { class: "lib-count", "data-testid": "library-card-count" }, `${plural(cluster.size, "face")} · #${cluster.id}`),
            cluster.promoted
              ? el("span", { class: "lib-badge", "data-testid": "library-card-promoted" }, "in gallery")
              : null,
          ),
        ),
      ),
    );
  }

  function renderSuggestions(suggestions) {
    $("library-suggestions-empty").hidden = suggestions.length !== 0;
    $("library-suggestions").replaceChildren(
      ...suggestions.map((suggestion) => {
        const [a, b] = suggestion.clusters;
        const names = `${personName(a)} (#${a.id}) and ${personName(b)} (#${b.id})`;
        const why = [];
        if (suggestion.score !== null && suggestion.score !== undefined) {
          why.push(`similarity ${suggestion.score.toFixed(2)}`);
        }
        if (suggestion.faces) why.push(`${plural(suggestion.faces, "face")} close to both`);
        return el(
          "li",
          {
            class: "lib-suggestion",
            "data-testid": "library-suggestion",
            "data-a": String(suggestion.a),
            "data-b": String(suggestion.b),
          },
          el("span", { class: "lib-pair" }, thumb(a.representative, personName(a), "lib-thumb small"), thumb(b.representative, personName(b), "lib-thumb small")),
          el(
            "span",
            { class: "lib-text" },
            el("span", { class: "block" }, `${names}: the same person?`),
            el("span", { class: "muted small block" }, why.join(", ")),
          ),
          el(
            "span",
            { class: "actions" },
            el(
              "button",
              {
                type: "button",
                class: "primary small",
                "data-testid": "library-accept",
                "aria-label": `Accept: ${names} are one person`,
                onclick: (event) => decide(event.currentTarget, suggestion, "accept"),
              },
              "Accept",
            ),
            el(
              "button",
              {
                type: "button",
                class: "secondary small",
                "data-testid": "library-reject",
                "aria-label": `Reject: ${names} are different people`,
                onclick: (event) => decide(event.currentTarget, suggestion, "reject"),
              },
              "Reject",
            ),
          ),
        );
      }),
    );
  }

  // ---- adding photos ------------------------------------------------------------------

  async function addPhotos(files) {
    showError("library-error", null);
    let added = 0;
    let skipped = 0;
    let faces = 0;
    const failed = [];
    // one photo per request: each is within the body limit, and progress shows
    for (const [index, file] of files.entries()) {
      setStatus("library-status", `Adding ${file.name} (${index + 1} of ${files.length})…`, true);
      try {
        const result = await api("POST", `${LIB}/photos`, {
          query: { cluster: "false" },
          form: imageForm({ image: file }),
        });
        added += result.added.length;
        skipped += result.skipped.length;
        faces += result.faces.length;
        for (const [name, why] of Object.entries(result.failed)) failed.push(`${name}: ${why}`);
      } catch (err) {
        failed.push(`${file.name}: ${err.describe ? err.describe() : err.message || err}`);
      }
    }
    let people = "";
    if (added) {
      setStatus("library-status", "Grouping faces into people…", true);
      try {
        const run = await api("POST", `${LIB}/cluster`);
        const fresh = run.new_clusters.length;
        people = fresh ? ` ${plural(fresh, "new person", "new people")} found.` : "";
      } catch (err) {
        failed.push(`grouping: ${err.describe ? err.describe() : err.message || err}`);
      }
    }
    await loadAll(); // first: it clears the error box, which may get this upload's failures
    const parts = [`Added ${plural(added, "photo")} with ${plural(faces, "face")}.`];
    if (skipped) parts.push(`${plural(skipped, "photo")} already in the library.`);
    setStatus("library-status", parts.join(" ") + people);
    if (failed.length) showError("library-error", new Error(failed.join("; ")));
  }

  // ---- one person: faces, rename, split, promote --------------------------------------

  async function openPerson(id, { keepSelection = false, focus = true } = {}) {
    showError("library-detail-error", null);
    const ticket = ++lib.openRun;
    lib.wanted = id;
    let detail;
    try {
      detail = await api("GET", clusterPath(id));
    } catch (err) {
      if (ticket === lib.openRun) showError("library-error", err);
      return;
    }
    if (ticket !== lib.openRun) return; // another person was asked for meanwhile
    const switched = lib.open?.id !== detail.id;
    lib.open = detail;
    if (switched || !keepSelection) lib.selected = new Set();
    const present = new Set(detail.faces.map((f) => f.id));
    for (const faceId of [...lib.selected]) if (!present.has(faceId)) lib.selected.delete(faceId);
    for (const card of document.querySelectorAll("#library-people .lib-card")) {
      card.setAttribute("aria-pressed", String(card.dataset.cluster === String(detail.id)));
    }
    $("library-detail").hidden = false;
    $("library-hint").hidden = true;
    setText("library-detail-title", `${personName(detail)} · ${plural(detail.size, "face")}`);
    $("library-detail-title").classList.toggle("unnamed", !detail.name);
    if (switched || !keepSelection) {
      $("library-name").value = detail.name || "";
      setStatus("library-detail-status", detail.promoted ? `In the gallery as ${detail.subject}.` : "");
    }
    setText("library-collection", state.collection);
    $("library-faces").replaceChildren(...detail.faces.map(faceItem));
    updateSplit();
    if (focus) $("library-detail-title").focus();
  }

  function faceItem(face) {
    const box = el("input", {
      type: "checkbox",
      "data-testid": "library-face-select",
      value: String(face.id),
      checked: lib.selected.has(face.id),
      onchange: (event) => {
        if (event.target.checked) lib.selected.add(face.id);
        else lib.selected.delete(face.id);
        event.target.closest("label").classList.toggle("selected", event.target.checked);
        updateSplit();
      },
    });
    const where = face.box ? `${face.source}` : face.frame !== null ? `${face.source}, frame ${face.frame}` : face.source;
    return el(
      "li",
      { class: "lib-face", "data-testid": "library-face", "data-face": String(face.id) },
      el(
        "label",
        { class: lib.selected.has(face.id) ? "selected" : "", title: `face ${face.id} in ${where}` },
        thumb(face.id, `face ${face.id}`, "lib-face-img"),
        el("span", { class: "lib-face-caption" }, box, ` #${face.id}`),
        el("span", { class: "lib-face-source" }, where),
      ),
    );
  }

  function updateSplit() {
    const n = lib.selected.size;
    const button = $("library-split");
    button.disabled = n === 0 || !lib.open || n >= lib.open.size;
    button.textContent = n ? `Split ${plural(n, "face")} into a new person` : "Split selected into a new person";
  }

  function closePerson() {
    lib.openRun += 1;
    lib.wanted = null;
    lib.open = null;
    lib.selected = new Set();
    $("library-detail").hidden = true;
    $("library-hint").hidden = false;
    for (const card of document.querySelectorAll("#library-people .lib-card")) {
      card.setAttribute("aria-pressed", "false");
    }
  }

  /** Run a change of the open person with its button disabled; report errors in the panel. */
  async function change(button, work) {
    showError("library-detail-error", null);
    button.disabled = true;
    try {
      const done = await work();
      await loadAll();
      if (done) setStatus("library-detail-status", done);
    } catch (err) {
      showError("library-detail-error", err);
    } finally {
      button.disabled = false;
      updateSplit();
    }
  }

  function rename(event) {
    event.preventDefault();
    if (!lib.open) return;
    const id = lib.open.id;
    const name = $("library-name").value.trim();
    return change($("library-rename"), async () => {
      const cluster = await api("PATCH", clusterPath(id), { form: json({ name: name || null }) });
      return cluster.name ? `Renamed to ${cluster.name}.` : "Name cleared.";
    });
  }

  function split() {
    if (!lib.open || !lib.selected.size) return;
    const id = lib.open.id;
    const faceIds = [...lib.selected].sort((a, b) => a - b);
    return change($("library-split"), async () => {
      const result = await api("POST", `${clusterPath(id)}/split`, { form: json({ face_ids: faceIds }) });
      lib.selected = new Set();
      return `Moved ${plural(faceIds.length, "face")} to a new person (#${result.new_cluster.id}).`;
    });
  }

  function promote() {
    if (!lib.open) return;
    const id = lib.open.id;
    const typed = $("library-name").value.trim();
    const name = typed || lib.open.name;
    if (!name) {
      showError("library-detail-error", new Error("give this person a name first"));
      $("library-name").focus();
      return;
    }
    const collection = state.collection;
    return change($("library-promote"), async () => {
      const result = await api("POST", `${clusterPath(id)}/promote`, {
        form: json({ collection, name }),
      });
      return (
        `Enrolled ${plural(result.added, "face")} as ${result.subject} in collection ` +
        `${result.collection}.`
      );
    });
  }

  // ---- suggestions --------------------------------------------------------------------

  async function decide(button, suggestion, verdict) {
    showError("library-suggestions-error", null);
    button.disabled = true;
    const path = `${LIB}/suggestions/${suggestion.a}/${suggestion.b}/${verdict}`;
    try {
      const result = await api("POST", path);
      const [a, b] = suggestion.clusters;
      setStatus(
        "library-status",
        verdict === "accept"
          ? `Merged ${personName(a)} (#${a.id}) and ${personName(b)} (#${b.id}) into #${result.id}.`
          : `Kept ${personName(a)} (#${a.id}) and ${personName(b)} (#${b.id}) apart.`,
      );
      await loadAll();
    } catch (err) {
      button.disabled = false;
      showError("library-suggestions-error", err);
    }
  }

  // ---- start: when the tab is shown ---------------------------------------------------

  document.addEventListener("facescope:view", (event) => {
    if (event.detail?.view !== "library") return;
    if (!lib.built) build();
    loadAll();
  });
})();

// facescope web UI: plain JavaScript over the JSON API under /v1 (no build step, no CDN).
//
// Every piece of text that comes from the server or the user goes into the page
// through textContent / text nodes, never innerHTML.
"use strict";

(() => {
  const KEY_STORE = "facescope.apiKey";
  const COLLECTION_STORE = "facescope.collection";
  const DEFAULT_COLLECTION = "default";
  const DEFAULT_FPIR = 0.01;

  const state = {
    info: null, // GET /v1/info
    collection: DEFAULT_COLLECTION,
    detail: null, // GET /v1/collections/{c}
    compareFiles: { a: null, b: null },
    enrolFiles: [],
    lastIdentify: null, // the last identify response shown
    livenessRun: 0, // counts liveness checks: only the latest one's answer is shown
  };

  const $ = (id) => document.getElementById(id);

  // ---- DOM helpers ---------------------------------------------------------------

  /** Build an element; strings among `children` become text nodes (escaped by construction). */
  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props)) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else if (name === "dataset") Object.assign(node.dataset, value);
      else if (name === "style") Object.assign(node.style, value);
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function setText(id, text) {
    $(id).textContent = text;
  }

  function showError(id, error) {
    const box = $(id);
    box.replaceChildren();
    if (!error) {
      box.hidden = true;
      return;
    }
    const message = error instanceof ApiError ? error.describe() : String(error.message || error);
    box.append(el("strong", {}, "Error: "), message);
    if (error instanceof ApiError && error.status === 401) {
      box.append(el("span", { class: "hint" }, ". Enter an API key at the top of the page."));
    }
    box.hidden = false;
  }

  function setStatus(id, text, busy = false) {
    const node = $(id);
    node.textContent = text || "";
    node.classList.toggle("busy", Boolean(busy && text));
  }

  // ---- formatting ----------------------------------------------------------------

  const fmtScore = (value) => (value === null || value === undefined ? "–" : value.toFixed(3));

  /** 0.001 -> "1,000" (as in "1 in 1,000"). */
  const oneIn = (rate) => Math.round(1 / rate).toLocaleString("en-US");

  /** 0.01 -> "1%", 0.001 -> "0.1%". */
  const percent = (rate) => `${Number((rate * 100).toPrecision(3))}%`;

  /** 0.001 -> "1e-3". */
  const sci = (rate) => rate.toExponential(0);

  function fmtDate(seconds) {
    if (!seconds) return "";
    const date = new Date(seconds * 1000);
    return Number.isNaN(date.getTime()) ? "" : date.toLocaleString();
  }

  // ---- API -----------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }

    describe() {
      if (!this.status) return this.message;
      return `${this.message} (HTTP ${this.status}, ${this.code})`;
    }
  }

  function apiKey() {
    return sessionStorage.getItem(KEY_STORE) || "";
  }

  /** Call the API; resolves to the JSON body, rejects with an ApiError carrying the server's message. */
  async function api(method, path, { query, form } = {}) {
    const url = new URL(path, window.location.origin);
    for (const [name, value] of Object.entries(query || {})) url.searchParams.set(name, value);
    const headers = { Accept: "application/json" };
    const key = apiKey();
    if (key) headers.Authorization = `Bearer ${key}`;
    let response;
    try {
      response = await fetch(url, { method, headers, body: form });
    } catch (err) {
      throw new ApiError(0, "network", `cannot reach the server: ${err.message || err}`);
    }
    const text = await response.text();
    let body = null;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        body = null;
      }
    }
    if (!response.ok) {
      const error = body && body.error;
      if (error && typeof error.message === "string") {
        throw new ApiError(error.status || response.status, error.code || "error", error.message);
      }
      const detail = text && body === null ? `: ${text.slice(0, 200)}` : "";
      throw new ApiError(
        response.status,
        "http_error",
        `${response.statusText || "request failed"}${detail}`,
      );
    }
    if (body === null && text) {
      throw new ApiError(response.status, "bad_response", "the server's answer is not JSON");
    }
    return body;
  }

  /** A path segment: URL-encoded; refuses what no URL can carry as one segment. */
  function segment(name, what) {
    if (name === "." || name === ".." || name.includes("/")) {
      throw new Error(
        `the ${what} name ${JSON.stringify(name)} cannot be used in a URL path ` +
          "('/', '.' and '..' are not allowed)",
      );
    }
    return encodeURIComponent(name);
  }

  const collectionPath = (collection = state.collection) =>
    `/v1/collections/${segment(collection, "collection")}`;

  const subjectPath = (subject) =>
    `${collectionPath()}/subjects/${segment(subject, "subject")}`;

  function imageForm(fields) {
    const form = new FormData();
    for (const [name, file] of Object.entries(fields)) form.append(name, file, file.name);
    return form;
  }

  // ---- images and canvases -------------------------------------------------------

  async function decode(file) {
    try {
      return await createImageBitmap(file, { imageOrientation: "from-image" });
    } catch {
      return null; // the server's answer says why; we just cannot preview it
    }
  }

  const COLORS = { match: "#16a34a", unknown: "#f59e0b", attack: "#dc2626", neutral: "#2563eb" };

  /**
   * Draw `bitmap` scaled into its container, then a box and label per face.
   * faces: [{box: [x1, y1, x2, y2], label, kind: "match"|"unknown"|"attack"|"neutral"}]
   */
  const drawn = new Map(); // canvas -> the arguments of its last drawing, to redraw on resize

  function drawFaces(canvas, bitmap, faces, options = {}) {
    drawn.set(canvas, [bitmap, faces, options]);
    let { maxHeight = 0 } = options;
    const { maxScale = 2.5 } = options;
    const wrap = canvas.parentElement;
    wrap.hidden = false;
    if (!maxHeight) {
      // fit what is left of the window below the canvas's top, within 320-640 px
      const top = wrap.getBoundingClientRect().top + window.scrollY;
      maxHeight = Math.min(640, Math.max(320, window.innerHeight - top - 40));
    }
    const maxWidth = Math.max(200, wrap.clientWidth || 640);
    const scale = Math.min(maxWidth / bitmap.width, maxHeight / bitmap.height, maxScale);
    const width = Math.round(bitmap.width * scale);
    const height = Math.round(bitmap.height * scale);
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    canvas.style.width = `${width}px`;
    canvas.style.height = `${height}px`;
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.drawImage(bitmap, 0, 0, width, height);
    const fontSize = 15;
    ctx.font = `600 ${fontSize}px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif`;
    ctx.textBaseline = "middle";
    for (const face of faces) {
      const [x1, y1, x2, y2] = face.box.map((v) => v * scale);
      const color = COLORS[face.kind] || COLORS.neutral;
      ctx.lineWidth = 3;
      ctx.strokeStyle = "rgba(0, 0, 0, 0.45)";
      ctx.strokeRect(x1 - 1, y1 - 1, x2 - x1 + 2, y2 - y1 + 2);
      ctx.strokeStyle = color;
      ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
      if (!face.label) continue;
      const padX = 7;
      const labelH = fontSize + 10;
      const labelW = Math.min(ctx.measureText(face.label).width + padX * 2, width);
      const lx = Math.min(Math.max(0, x1 - 1.5), width - labelW);
      let ly = y1 - labelH - 1.5;
      if (ly < 0) ly = Math.min(y2 + 1.5, height - labelH); // no room above: below the box
      ctx.fillStyle = color;
      ctx.fillRect(lx, ly, labelW, labelH);
      ctx.fillStyle = "#ffffff";
      ctx.fillText(face.label, lx + padX, ly + labelH / 2 + 0.5, labelW - padX * 2);
    }
  }

  /** Make a <label class="dropzone"> accept dropped files into its <input type=file>. */
  function dropzone(zoneId, input, onFiles) {
    const zone = $(zoneId);
    const stop = (event) => {
      event.preventDefault();
      event.stopPropagation();
    };
    for (const type of ["dragenter", "dragover"]) {
      zone.addEventListener(type, (event) => {
        stop(event);
        zone.classList.add("over");
      });
    }
    for (const type of ["dragleave", "dragend"]) {
      zone.addEventListener(type, () => zone.classList.remove("over"));
    }
    zone.addEventListener("drop", (event) => {
      stop(event);
      zone.classList.remove("over");
      const files = [...(event.dataTransfer?.files || [])];
      if (files.length) onFiles(input.multiple ? files : files.slice(0, 1));
    });
    input.addEventListener("change", () => {
      const files = [...(input.files || [])];
      input.value = ""; // choosing the same file again fires "change" again
      if (files.length) onFiles(files);
    });
  }

  // ---- header: key, info, collections --------------------------------------------

  async function loadInfo() {
    const badge = $("auth-status");
    try {
      const info = await api("GET", "/v1/info");
      state.info = info;
      setText("version", `v${info.version}`);
      if (info.auth_required) {
        badge.textContent = apiKey() ? "key accepted" : "key required";
        badge.className = apiKey() ? "badge is-ok" : "badge is-warn";
      } else {
        badge.textContent = "open: no key needed";
        badge.className = "badge is-ok";
      }
      badge.dataset.authRequired = String(info.auth_required);
      showError("global-error", null);
      return true;
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        badge.textContent = apiKey() ? "key refused" : "key required";
        badge.className = "badge is-error";
        badge.dataset.authRequired = "true";
      } else {
        badge.textContent = err instanceof ApiError && err.code === "network" ? "offline" : "error";
        badge.className = "badge is-error";
      }
      showError("global-error", err);
      return false;
    }
  }

  async function loadCollections() {
    const select = $("collection");
    const wanted = sessionStorage.getItem(COLLECTION_STORE) || state.collection;
    try {
      const collections = await api("GET", "/v1/collections");
      const names = collections.map((c) => c.name);
      if (!names.length) names.push(DEFAULT_COLLECTION);
      select.replaceChildren(
        ...collections.map((c) =>
          el("option", { value: c.name }, `${c.name} (${c.subjects} ${c.subjects === 1 ? "person" : "people"})`),
        ),
      );
      state.collection = names.includes(wanted)
        ? wanted
        : names.includes(DEFAULT_COLLECTION)
          ? DEFAULT_COLLECTION
          : names[0];
      select.value = state.collection;
    } catch (err) {
      showError("global-error", err);
    }
  }

  async function loadDetail() {
    try {
      state.detail = await api("GET", collectionPath());
    } catch (err) {
      state.detail = null;
      showError("global-error", err);
    }
    renderOperatingPoints();
    if (!state.lastIdentify) renderThreshold(null);
  }

  async function refreshAll() {
    const ok = await loadInfo();
    if (!ok) return;
    await loadCollections();
    await Promise.all([loadDetail(), loadPeople()]);
  }

  function renderOperatingPoints() {
    const body = $("operating-points");
    body.replaceChildren();
    const points = [...(state.detail?.operating_points || [])].sort((a, b) => b.fmr - a.fmr);
    if (!points.length) {
      body.append(el("tr", {}, el("td", { colspan: 3, class: "muted" }, "not available")));
      return;
    }
    for (const point of points) {
      body.append(
        el(
          "tr",
          { dataset: { testid: "operating-point", fmr: String(point.fmr) } },
          el("td", {}, `${sci(point.fmr)}`),
          el("td", {}, `1 in ${oneIn(point.fmr)}`),
          el("td", { class: "num" }, point.threshold.toFixed(3)),
        ),
      );
    }
  }

  /** Explain identify's open-set threshold, from an identify response or the collection. */
  function renderThreshold(response) {
    const box = $("identify-threshold");
    box.replaceChildren();
    const fpir = response ? response.fpir : state.info?.default_fpir || DEFAULT_FPIR;
    const threshold = response ? response.threshold : state.detail?.open_set_threshold;
    const rule = response ? response.decision_rule : state.detail?.open_set_rule;
    if (threshold === undefined || threshold === null) {
      box.append("The threshold appears once the collection has loaded.");
      return;
    }
    box.append(
      el("span", { class: "big", dataset: { testid: "threshold-value" } }, threshold.toFixed(3)),
      el(
        "span",
        {},
        `Threshold ${threshold.toFixed(3)}: a stranger is taken for someone enrolled in about ` +
          `${percent(fpir)} of searches (FPIR ${percent(fpir)}, 1 in ${oneIn(fpir)}). ` +
          "A face whose best score is below it is reported as unknown.",
      ),
    );
    if (rule) {
      box.append(
        el(
          "span",
          { class: "small block", dataset: { testid: "identify-rule" } },
          `Rule: ${rule.text}. The threshold rises with the number of people enrolled, so ` +
            "that strangers stay at this rate (calibrated on " + `${rule.calibration}).`,
        ),
      );
    }
    if (!response) {
      box.append(el("span", { class: "muted small block" }, "Before any search, for this collection."));
    }
  }

  // ---- Identify ------------------------------------------------------------------

  async function identify(file) {
    showError("identify-error", null);
    const list = $("identify-faces");
    list.replaceChildren();
    $("identify-empty").hidden = true;
    setStatus("identify-status", `Identifying ${file.name}…`, true);
    const canvas = $("identify-canvas");
    const [bitmap, result] = await Promise.allSettled([
      decode(file),
      (async () => api("POST", `${collectionPath()}/identify`, { form: imageForm({ image: file }) }))(),
    ]);
    const image = bitmap.status === "fulfilled" ? bitmap.value : null;
    if (result.status === "rejected") {
      setStatus("identify-status", "");
      showError("identify-error", result.reason);
      if (image) drawFaces(canvas, image, []);
      else $("identify-canvas-wrap").hidden = true;
      $("identify-empty").hidden = false;
      return;
    }
    const response = result.value;
    state.lastIdentify = response;
    const faces = response.faces;
    const known = faces.filter((f) => f.identity !== null).length;
    setStatus(
      "identify-status",
      `${file.name}: ${faces.length} face${faces.length === 1 ? "" : "s"}, ` +
        `${known} recognised, in "${response.collection}" ` +
        `(${response.subjects} ${response.subjects === 1 ? "person" : "people"}).`,
    );
    $("identify-status").dataset.done = "true";
    if (image) {
      drawFaces(
        canvas,
        image,
        faces.map((f, i) => ({
          box: f.box,
          kind: f.identity !== null ? "match" : "unknown",
          label: `${i + 1}  ${f.identity ?? "unknown"}  ${fmtScore(f.score)}`,
        })),
      );
    } else {
      $("identify-canvas-wrap").hidden = true;
    }
    renderFaces(response);
    renderThreshold(response);
  }

  function renderFaces(response) {
    const list = $("identify-faces");
    list.replaceChildren();
    if (!response.faces.length) {
      list.append(el("li", { class: "face none", "data-testid": "identify-noface" }, "No face found in this photo."));
      return;
    }
    if (!response.subjects) {
      list.append(
        el(
          "li",
          { class: "note" },
          "This collection is empty, so nobody can be recognised: enrol people first.",
        ),
      );
    }
    const threshold = response.threshold;
    const ruleText = response.decision_rule ? ` (rule: ${response.decision_rule.text})` : "";
    response.faces.forEach((face, index) => {
      const recognised = face.identity !== null;
      const verdict = recognised
        ? `score ${fmtScore(face.score)} ≥ threshold ${fmtScore(threshold)}${ruleText}`
        : face.score === null
          ? "nobody to compare with"
          : `best score ${fmtScore(face.score)} < threshold ${fmtScore(threshold)}${ruleText}`;
      const candidates = el("table", { class: "candidates" });
      for (const candidate of face.candidates) {
        const above = candidate.score >= threshold;
        const width = `${Math.max(0, Math.min(1, candidate.score)) * 100}%`;
        const tick = `${Math.max(0, Math.min(1, threshold)) * 100}%`;
        candidates.append(
          el(
            "tr",
            { "data-testid": "candidate", class: above ? "above" : "below" },
            el("td", { class: "cand-name" }, candidate.identity),
            el(
              "td",
              { class: "cand-bar" },
              el(
                "div",
                { class: "bar", title: `threshold ${fmtScore(threshold)}` },
                el("div", { class: "fill", style: { width } }),
                el("div", { class: "tick", style: { left: tick } }),
              ),
            ),
            el("td", { class: "num" }, fmtScore(candidate.score)),
          ),
        );
      }
      list.append(
        el(
          "li",
          {
            class: `face ${recognised ? "match" : "unknown"}`,
            "data-testid": "identify-face",
            "data-identity": face.identity ?? "",
            "data-recognised": String(recognised),
          },
          el(
            "div",
            { class: "face-head" },
            el("span", { class: "face-no" }, String(index + 1)),
            el("span", { class: "face-name", "data-testid": "face-identity" }, face.identity ?? "unknown"),
            el("span", { class: `pill ${recognised ? "ok" : "warn"}` }, recognised ? "recognised" : "not enrolled"),
          ),
          el("div", { class: "face-verdict", "data-testid": "face-verdict" }, verdict),
          face.candidates.length
            ? el("div", { class: "cand-title muted small" }, "Top candidates (the mark on each bar is the threshold)")
            : null,
          face.candidates.length ? candidates : null,
        ),
      );
    });
  }

  // ---- Enrol ---------------------------------------------------------------------

  function chooseEnrolFiles(files) {
    state.enrolFiles = files;
    $("enrol-chosen").replaceChildren(
      ...files.map((f) => el("li", {}, `${f.name} (${Math.round(f.size / 1024)} KiB)`)),
    );
  }

  async function enrol(event) {
    event.preventDefault();
    showError("enrol-error", null);
    const name = $("enrol-name").value.trim();
    const files = state.enrolFiles;
    if (!name) {
      showError("enrol-error", new Error("enter the person's name"));
      return;
    }
    if (!files.length) {
      showError("enrol-error", new Error("choose at least one photo"));
      return;
    }
    let path;
    try {
      path = `${subjectPath(name)}/faces`;
    } catch (err) {
      showError("enrol-error", err);
      return;
    }
    const largest = $("enrol-largest").checked;
    const results = $("enrol-results");
    results.replaceChildren();
    const button = $("enrol-submit");
    button.disabled = true;
    let ok = 0;
    try {
      for (const file of files) {
        const item = el("li", { class: "pending", "data-testid": "enrol-result", "data-status": "pending" });
        const label = el("span", { class: "file" }, file.name);
        const message = el("span", { class: "msg" }, "enrolling…");
        item.append(el("span", { class: "mark" }, "…"), label, message);
        results.append(item);
        try {
          const response = await api("POST", path, {
            query: largest ? { largest_face: "true" } : {},
            form: imageForm({ image: file }),
          });
          ok += 1;
          item.className = "ok";
          item.dataset.status = "ok";
          item.firstChild.textContent = "✓";
          message.textContent = `enrolled for ${response.subject} (template #${response.template_ids.join(", #")})`;
          for (const warning of response.warnings || []) {
            item.dataset.warning = "true";
            item.append(el("span", { class: "msg warning", "data-testid": "enrol-warning" }, ` ⚠ ${warning}`));
          }
        } catch (err) {
          item.className = "error";
          item.dataset.status = "error";
          item.firstChild.textContent = "✗";
          message.textContent = err instanceof ApiError ? err.describe() : String(err.message || err);
        }
      }
    } finally {
      button.disabled = false;
    }
    results.append(
      el(
        "li",
        { class: "summary", "data-testid": "enrol-summary" },
        `${ok} of ${files.length} photo${files.length === 1 ? "" : "s"} enrolled for ${name}.`,
      ),
    );
    if (ok) chooseEnrolFiles([]);
    await Promise.all([loadPeople(), loadDetail(), loadCollections()]);
  }

  // ---- People --------------------------------------------------------------------

  async function loadPeople() {
    showError("people-error", null);
    setText("people-collection", state.collection);
    setStatus("people-status", "Loading…", true);
    let subjects;
    try {
      subjects = await api("GET", `${collectionPath()}/subjects`);
    } catch (err) {
      setStatus("people-status", "");
      showError("people-error", err);
      return;
    }
    setStatus("people-status", "");
    setText("people-count", String(subjects.length));
    const body = $("people-list");
    body.replaceChildren(
      ...subjects.map((subject) =>
        el(
          "tr",
          { "data-testid": "person", "data-name": subject.name },
          el("td", { class: "person-name", "data-testid": "person-name" }, subject.name),
          el("td", { class: "num", "data-testid": "person-templates" }, String(subject.templates)),
          el("td", { class: "muted" }, fmtDate(subject.created_at)),
          el(
            "td",
            { class: "end" },
            el(
              "button",
              {
                type: "button",
                class: "danger small",
                "data-testid": "person-delete",
                "aria-label": `Delete ${subject.name}`,
                onclick: () => deletePerson(subject),
              },
              "Delete",
            ),
          ),
        ),
      ),
    );
    $("people-table").hidden = subjects.length === 0;
    $("people-empty").hidden = subjects.length !== 0;
  }

  /** An in-page confirmation dialog; resolves to true on "Delete". */
  function confirmDialog(title, text) {
    const dialog = $("confirm-dialog");
    setText("confirm-title", title);
    setText("confirm-text", text);
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
      dialog.returnValue = "cancel";
      dialog.showModal();
      $("confirm-cancel").focus();
    });
  }

  async function deletePerson(subject) {
    showError("people-error", null);
    const templates = `${subject.templates} face template${subject.templates === 1 ? "" : "s"}`;
    const yes = await confirmDialog(
      `Delete ${subject.name}?`,
      `This erases ${subject.name} and their ${templates} from "${state.collection}". It cannot be undone.`,
    );
    if (!yes) return;
    let error = null;
    let done = "";
    try {
      const result = await api("DELETE", subjectPath(subject.name));
      const n = result.templates_removed;
      done = `Deleted ${result.deleted} (${n} template${n === 1 ? "" : "s"}).`;
    } catch (err) {
      error = err;
    }
    await Promise.all([loadPeople(), loadDetail(), loadCollections()]);
    if (error) showError("people-error", error);
    else setStatus("people-status", done);
  }

  // ---- Compare -------------------------------------------------------------------

  async function chooseCompare(side, file) {
    state.compareFiles[side] = file;
    setText(`compare-name-${side}`, file.name);
    const bitmap = await decode(file);
    state.compareFiles[`${side}Bitmap`] = bitmap;
    if (bitmap) drawFaces($(`compare-canvas-${side}`), bitmap, [], { maxHeight: 300 });
    $("compare-result").hidden = true;
  }

  async function compare(event) {
    event.preventDefault();
    showError("compare-error", null);
    $("compare-result").hidden = true;
    const { a, b } = state.compareFiles;
    if (!a || !b) {
      showError("compare-error", new Error("choose two photos, A and B"));
      return;
    }
    const fmr = Number($("compare-fmr").value);
    setStatus("compare-status", "Comparing…", true);
    const button = $("compare-submit");
    button.disabled = true;
    let response;
    try {
      response = await api("POST", "/v1/verify", {
        query: { fmr: String(fmr) },
        form: imageForm({ image_a: a, image_b: b }),
      });
    } catch (err) {
      setStatus("compare-status", "");
      showError("compare-error", err);
      return;
    } finally {
      button.disabled = false;
    }
    setStatus("compare-status", "");
    const same = response.same_person;
    const verdict = $("compare-verdict");
    verdict.textContent = same ? "Same person" : "Different people";
    verdict.className = `verdict-title ${same ? "ok" : "warn"}`;
    $("compare-result").dataset.same = String(same);
    setText("compare-score", fmtScore(response.score));
    setText("compare-threshold", fmtScore(response.threshold));
    setText("compare-model", response.model);
    setText(
      "compare-meaning",
      `Score ${fmtScore(response.score)} is ${same ? "at or above" : "below"} the threshold ` +
        `${fmtScore(response.threshold)} (FMR ${sci(response.fmr)}): at this threshold about ` +
        `1 in ${oneIn(response.fmr)} pairs of different people would be accepted.` +
        (response.comparisons > 1
          ? ` Every face was compared (${response.faces.image_a} in A, ${response.faces.image_b} ` +
            `in B: ${response.comparisons} pairs); the boxed faces scored best, and the threshold ` +
            `is raised so that the ${response.comparisons} comparisons together keep this rate.`
          : ""),
    );
    setText("compare-rule", response.decision_rule ? `Rule: ${response.decision_rule.text}` : "");
    $("compare-result").hidden = false;
    for (const [side, field] of [["a", "image_a"], ["b", "image_b"]]) {
      const bitmap = state.compareFiles[`${side}Bitmap`];
      const box = response.boxes[field];
      if (bitmap && box) {
        drawFaces($(`compare-canvas-${side}`), bitmap, [{ box, kind: same ? "match" : "unknown", label: side.toUpperCase() }], {
          maxHeight: 300,
        });
      }
    }
  }

  // ---- Liveness ------------------------------------------------------------------

  /** decision -> badge text, badge class and the box colour (COLORS) drawn around the face. */
  const PAD_DECISIONS = {
    live: { badge: "LIVE", kind: "match" },
    attack: { badge: "ATTACK", kind: "attack" },
    uncertain: { badge: "UNCERTAIN", kind: "unknown" },
  };

  /** +0.42 / -0.31: a cue's pull on the live log-odds, sign first. */
  const fmtPull = (weight) => `${weight > 0 ? "+" : ""}${weight.toFixed(2)}`;

  async function liveness(file) {
    const run = ++state.livenessRun;
    showError("liveness-error", null);
    $("liveness-result").hidden = true;
    $("liveness-empty").hidden = true;
    setStatus("liveness-status", `Checking ${file.name}…`, true);
    const canvas = $("liveness-canvas");
    const [bitmap, result] = await Promise.allSettled([
      decode(file),
      (async () => api("POST", "/v1/pad", { form: imageForm({ image: file }) }))(),
    ]);
    if (run !== state.livenessRun) return; // a newer photo was chosen meanwhile
    const image = bitmap.status === "fulfilled" ? bitmap.value : null;
    if (result.status === "rejected") {
      setStatus("liveness-status", "");
      showError("liveness-error", result.reason);
      if (image) drawFaces(canvas, image, []);
      else $("liveness-canvas-wrap").hidden = true;
      $("liveness-empty").hidden = false;
      return;
    }
    const response = result.value;
    const decision = Object.hasOwn(PAD_DECISIONS, response.decision) ? response.decision : "uncertain";
    const shown = PAD_DECISIONS[decision];
    setStatus("liveness-status", `${file.name}: ${shown.badge.toLowerCase()}.`);
    $("liveness-status").dataset.done = "true";
    if (image && response.box) {
      drawFaces(canvas, image, [
        { box: response.box, kind: shown.kind, label: `${shown.badge}  ${fmtScore(response.live_probability)}` },
      ]);
    } else if (image) {
      drawFaces(canvas, image, []);
    } else {
      $("liveness-canvas-wrap").hidden = true;
    }
    renderLiveness(response, decision, shown);
  }

  function renderLiveness(response, decision, shown) {
    const result = $("liveness-result");
    result.dataset.decision = response.decision;
    result.dataset.calibrated = String(response.calibrated);
    const badge = $("liveness-badge");
    badge.textContent = shown.badge;
    badge.className = `pad-badge ${decision}`;
    setText("liveness-probability", fmtScore(response.live_probability));
    setText("liveness-threshold", fmtScore(response.threshold));
    setText("liveness-attack-type", response.attack_type);

    const band = $("liveness-band");
    const [low, high] = response.uncertain_band || [];
    if (response.decision === "uncertain" && low !== undefined && high !== undefined) {
      band.textContent =
        `The live probability ${fmtScore(response.live_probability)} lies in the band ` +
        `[${fmtScore(low)}, ${fmtScore(high)}) where the model is not reliable on a camera ` +
        "it has not been calibrated for, so it is answered neither live nor attack.";
      band.hidden = false;
    } else {
      band.textContent = "";
      band.hidden = true;
    }

    const calibration = $("liveness-calibration");
    const source = response.threshold_source || "the shipped model";
    if (response.calibrated) {
      calibration.className = "calibration is-ok";
      calibration.replaceChildren(`Calibrated on this deployment's captures (${source})`);
    } else {
      calibration.className = "calibration is-warn";
      calibration.replaceChildren(
        el("strong", {}, "Not calibrated for this camera"),
        `: threshold from ${source}. Run `,
        el("code", {}, "facescope pad calibrate"),
        " with ~50 captures from your camera and restart the service with ",
        el("code", {}, "FACESCOPE_PAD_MODEL"),
        ".",
      );
    }

    setText("liveness-explanation", response.explanation);
    $("liveness-evidence").replaceChildren(
      ...(response.evidence || []).map((item) =>
        el(
          "tr",
          { "data-testid": "liveness-cue", "data-indicates": item.indicates },
          el("td", { title: item.why }, item.cue),
          el("td", {}, el("span", { class: `pill ${{ live: "ok", attack: "bad" }[item.indicates] || "warn"}` }, item.indicates)),
          el("td", { class: "num" }, fmtPull(item.weight)),
        ),
      ),
    );
    if (!response.evidence?.length) {
      $("liveness-evidence").append(el("tr", {}, el("td", { colspan: 3, class: "muted" }, "no evidence reported")));
    }
    result.hidden = false;
  }

  // ---- tabs and start-up -----------------------------------------------------------

  function showView(view) {
    for (const tab of document.querySelectorAll(".tab")) {
      const selected = tab.dataset.view === view;
      tab.setAttribute("aria-selected", String(selected));
      tab.classList.toggle("active", selected);
      $(`view-${tab.dataset.view}`).hidden = !selected;
    }
    if (view === "people") loadPeople();
    // the other scripts (library.js, analysis.js) load their view when it is shown
    document.dispatchEvent(new CustomEvent("facescope:view", { detail: { view } }));
  }

  // what library.js and analysis.js share with this script (loaded after it, deferred)
  window.facescopeUI = {
    $, el, setText, showError, setStatus, fmtDate, api, apiKey, segment, imageForm, decode,
    drawFaces, dropzone, confirmDialog, state, refreshAll, renderLiveness,
  };

  function start() {
    for (const tab of document.querySelectorAll(".tab")) {
      tab.addEventListener("click", () => showView(tab.dataset.view));
    }
    showView("identify");
    renderOperatingPoints();
    renderThreshold(null);

    const keyInput = $("api-key");
    keyInput.value = apiKey();
    $("settings-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const key = keyInput.value.trim();
      if (key) sessionStorage.setItem(KEY_STORE, key);
      else sessionStorage.removeItem(KEY_STORE);
      refreshAll();
    });
    keyInput.addEventListener("change", () => {
      const key = keyInput.value.trim();
      if (key) sessionStorage.setItem(KEY_STORE, key);
      else sessionStorage.removeItem(KEY_STORE);
    });
    $("collection").addEventListener("change", (event) => {
      state.collection = event.target.value;
      sessionStorage.setItem(COLLECTION_STORE, state.collection);
      state.lastIdentify = null;
      loadDetail();
      loadPeople();
    });

    dropzone("identify-drop", $("identify-file"), (files) => identify(files[0]));
    dropzone("enrol-drop", $("enrol-files"), chooseEnrolFiles);
    dropzone("compare-drop-a", $("compare-file-a"), (files) => chooseCompare("a", files[0]));
    dropzone("compare-drop-b", $("compare-file-b"), (files) => chooseCompare("b", files[0]));
    dropzone("liveness-drop", $("liveness-file"), (files) => liveness(files[0]));
    $("enrol-form").addEventListener("submit", enrol);
    $("compare-form").addEventListener("submit", compare);
    $("people-refresh").addEventListener("click", loadPeople);

    let resizing = 0;
    window.addEventListener("resize", () => {
      clearTimeout(resizing);
      resizing = setTimeout(() => {
        for (const [canvas, args] of drawn) {
          if (canvas.offsetParent !== null) drawFaces(canvas, ...args);
        }
      }, 150);
    });

    // a file dropped outside a drop zone must not navigate away from the page
    window.addEventListener("dragover", (event) => event.preventDefault());
    window.addEventListener("drop", (event) => event.preventDefault());

    refreshAll().finally(() => {
      document.body.dataset.ready = "true";
    });
  }

  start();
})();

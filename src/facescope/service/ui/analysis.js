// facescope web UI, Analysis view: a photo's mesh, head pose, gaze, expressions and
// quality drawn on it (POST /v1/analyze), its table as CSV, an optional liveness check
// (POST /v1/pad), and a short video as a job (POST /v1/jobs/video, polled).
//
// Plain JavaScript, no build step, no CDN. Every text from the server or the user goes
// into the page through textContent / el(), never innerHTML.
"use strict";

(() => {
  const ui = window.facescopeUI;
  if (!ui) return; // app.js failed to start: nothing to extend
  const { $, el, setText, showError, setStatus, api, apiKey, imageForm, decode, drawFaces, dropzone, state } = ui;

  /** One colour per expression, as facescope.analysis.plot draws them. */
  const EXPRESSION_COLOURS = {
    anger: "rgb(231, 76, 60)",
    disgust: "rgb(39, 174, 96)",
    fear: "rgb(142, 68, 173)",
    happiness: "rgb(241, 196, 15)",
    sadness: "rgb(52, 152, 219)",
    surprise: "rgb(230, 126, 34)",
    neutral: "rgb(149, 165, 166)",
  };
  const EXPRESSIONS = Object.keys(EXPRESSION_COLOURS);
  const MESH_COLOUR = "rgb(120, 220, 255)";
  const IRIS_COLOUR = "rgb(255, 255, 255)";
  const GAZE_COLOUR = "rgb(255, 64, 255)";
  /** Head axes: x to the person's left (red), y down (green), z out of the face (blue). */
  const AXIS_COLOURS = ["rgb(255, 0, 0)", "rgb(0, 200, 0)", "rgb(0, 90, 255)"];
  const VIDEO_SUFFIXES = [".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"];
  const POLL_MS = 500;

  /** The measure names of `missing`, in words. */
  const MEASURES = {
    face: "face",
    partial: "partly outside the image",
    mesh: "mesh",
    pose: "head pose",
    gaze: "gaze",
    eye_openness: "eye openness",
    mouth_openness: "mouth openness",
    action_units: "action units",
    expressions: "expressions",
    quality: "quality",
  };

  const view = {
    run: 0, // counts photo/video choices: only the latest one's answers are shown
    file: null, // the photo last analysed (for the CSV)
    bitmap: null,
    response: null,
    job: null, // the video job being polled: {id, timer}
  };

  const num = (value, digits = 1) =>
    value === null || value === undefined || !Number.isFinite(value) ? "–" : value.toFixed(digits);
  const deg = (value) => (value === null || value === undefined ? "–" : `${num(value, 1)}°`);
  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

  /** 2 -> "2nd", 3 -> "3rd", 11 -> "11th". */
  function ordinal(n) {
    const tens = n % 100;
    const suffix = tens >= 11 && tens <= 13 ? "th" : { 1: "st", 2: "nd", 3: "rd" }[n % 10] || "th";
    return `${n}${suffix}`;
  }

  function isVideo(file) {
    if ((file.type || "").startsWith("video/")) return true;
    const name = (file.name || "").toLowerCase();
    return VIDEO_SUFFIXES.some((suffix) => name.endsWith(suffix));
  }

  // ---- the view ------------------------------------------------------------------

  function checkbox(id, label, checked, hint) {
    return el(
      "label",
      { class: "check", title: hint || null },
      el("input", { type: "checkbox", id, "data-testid": id, checked }),
      el("span", {}, label),
    );
  }

  function build() {
    const section = $("view-analysis");
    const strideSelect = el(
      "select",
      { id: "analysis-stride", "data-testid": "analysis-stride" },
      el("option", { value: "1" }, "every frame"),
      el("option", { value: "2", selected: true }, "every 2nd frame"),
      el("option", { value: "3" }, "every 3rd frame"),
      el("option", { value: "5" }, "every 5th frame"),
    );
    section.replaceChildren(
      el(
        "div",
        { class: "grid two" },
        el(
          "div",
          { class: "card" },
          el("h2", {}, "Analyse a photo or a short video"),
          el(
            "label",
            { class: "dropzone an-drop", id: "analysis-drop", "data-testid": "analysis-drop" },
            el("input", {
              type: "file",
              id: "analysis-file",
              "data-testid": "analysis-file",
              accept: "image/*,video/*,.mp4,.mov,.avi,.mkv,.webm",
            }),
            el("span", { class: "dz-title" }, "Drop a photo or a short video here or ", el("u", {}, "choose a file")),
            el(
              "span",
              { class: "dz-hint" },
              "A photo: each face's mesh, head pose, gaze, expressions and quality. " +
                "A video: a job that tracks the faces and names them from the selected collection.",
            ),
          ),
          el(
            "fieldset",
            { class: "an-options" },
            el("legend", { class: "muted small" }, "Options"),
            checkbox("analysis-expressions", "Expressions", true, "run the expression models (the slowest part)"),
            checkbox("analysis-liveness", "Also check liveness (photos)", false, "POST /v1/pad on the largest face"),
            checkbox("analysis-track-analysis", "Per-track analysis (videos)", true),
            el("label", { class: "field inline" }, el("span", {}, "Video: detect"), strideSelect),
          ),
          el("div", { class: "status", id: "analysis-status", "data-testid": "analysis-status", "aria-live": "polite" }),
          el("div", { class: "error", id: "analysis-error", "data-testid": "analysis-error", role: "alert", hidden: true }),
          el(
            "div",
            { class: "an-job", id: "analysis-job", "data-testid": "analysis-job", hidden: true },
            el("progress", { id: "analysis-progress", "data-testid": "analysis-progress", max: "1", value: "0" }),
            el("span", { class: "an-job-text", id: "analysis-progress-text", "data-testid": "analysis-progress-text", "aria-live": "polite" }),
            el(
              "button",
              { type: "button", class: "secondary small", id: "analysis-cancel", "data-testid": "analysis-cancel", onclick: cancelJob },
              "Cancel",
            ),
          ),
          el(
            "div",
            { class: "canvas-wrap", id: "analysis-canvas-wrap", hidden: true },
            el("canvas", { id: "analysis-canvas", "data-testid": "analysis-canvas", role: "img", "aria-label": "the photo with each face's analysis drawn on it" }),
          ),
          el(
            "p",
            { class: "an-legend muted small", id: "analysis-legend", hidden: true },
            legendItem(MESH_COLOUR, "mesh"),
            legendItem(AXIS_COLOURS[0], "head x"),
            legendItem(AXIS_COLOURS[1], "head y"),
            legendItem(AXIS_COLOURS[2], "head z (facing)"),
            legendItem(GAZE_COLOUR, "gaze"),
          ),
          el(
            "div",
            { class: "actions" },
            el(
              "button",
              { type: "button", class: "secondary", id: "analysis-csv", "data-testid": "analysis-csv", disabled: true, onclick: downloadCsv },
              "Download CSV",
            ),
            el("span", { class: "muted small" }, "The table of every measure, one row per face (py-feat's column names)."),
          ),
        ),
        el(
          "div",
          { class: "stack" },
          el(
            "div",
            { class: "card" },
            el("h2", {}, "Faces"),
            el("p", { class: "muted", id: "analysis-empty", "data-testid": "analysis-empty" }, "Results appear here after you choose a photo."),
            el("ol", { class: "an-faces", id: "analysis-faces", "data-testid": "analysis-faces" }),
          ),
          el(
            "div",
            { class: "card", id: "analysis-liveness-card", "data-testid": "analysis-liveness-card", hidden: true },
            el("h2", {}, "Liveness"),
            el("div", { class: "error", id: "analysis-pad-error", "data-testid": "analysis-pad-error", role: "alert", hidden: true }),
            el("div", { id: "analysis-pad", "data-testid": "analysis-pad" }),
          ),
          el(
            "div",
            { class: "card", id: "analysis-tracks-card", "data-testid": "analysis-tracks-card", hidden: true },
            el("h2", {}, "Tracks"),
            el("p", { class: "explain small", id: "analysis-tracks-note", "data-testid": "analysis-tracks-note" }),
            el(
              "table",
              { class: "points an-tracks", "data-testid": "analysis-tracks" },
              el(
                "thead",
                {},
                el(
                  "tr",
                  {},
                  el("th", {}, "Track"),
                  el("th", {}, "Time (s)"),
                  el("th", {}, "Who"),
                  el("th", { class: "num" }, "Score"),
                  el("th", {}, "Analysis"),
                ),
              ),
              el("tbody", { id: "analysis-track-rows" }),
            ),
          ),
        ),
      ),
    );
    dropzone("analysis-drop", $("analysis-file"), (files) => choose(files[0]));
  }

  function legendItem(colour, text) {
    return el("span", { class: "an-key" }, el("span", { class: "an-swatch", style: { background: colour } }), text);
  }

  function choose(file) {
    const run = ++view.run;
    const previous = view.job;
    if (previous && !previous.finished) {
      // a new file replaces the video being processed: do not leave its job running
      api("DELETE", `/v1/jobs/${encodeURIComponent(previous.id)}`).catch(() => {});
    }
    stopPolling();
    showError("analysis-error", null);
    if (isVideo(file)) submitVideo(file, run);
    else analysePhoto(file, run);
  }

  // ---- a photo -------------------------------------------------------------------

  async function analysePhoto(file, run) {
    view.file = null;
    view.response = null;
    $("analysis-csv").disabled = true;
    $("analysis-job").hidden = true;
    $("analysis-tracks-card").hidden = true;
    $("analysis-faces").replaceChildren();
    $("analysis-empty").hidden = true;
    $("analysis-canvas").dataset.drawn = "false";
    const wantPad = $("analysis-liveness").checked;
    $("analysis-liveness-card").hidden = !wantPad;
    $("analysis-pad").replaceChildren();
    showError("analysis-pad-error", null);
    setStatus("analysis-status", `Analysing ${file.name}…`, true);
    const expressions = $("analysis-expressions").checked;
    const [bitmap, result, pad] = await Promise.allSettled([
      decode(file),
      api("POST", "/v1/analyze", { query: { expressions: String(expressions) }, form: imageForm({ image: file }) }),
      wantPad ? api("POST", "/v1/pad", { form: imageForm({ image: file }) }) : Promise.resolve(null),
    ]);
    if (run !== view.run) return; // a newer file was chosen meanwhile
    const image = bitmap.status === "fulfilled" ? bitmap.value : null;
    if (wantPad) renderPad(pad);
    if (result.status === "rejected") {
      setStatus("analysis-status", "");
      showError("analysis-error", result.reason);
      $("analysis-empty").hidden = false;
      $("analysis-legend").hidden = true;
      if (image) drawFaces($("analysis-canvas"), image, []);
      else $("analysis-canvas-wrap").hidden = true;
      return;
    }
    const response = result.value;
    view.file = file;
    view.bitmap = image;
    view.response = response;
    const faces = response.faces;
    const missing = faces.filter((f) => Object.keys(f.missing || {}).length).length;
    setStatus(
      "analysis-status",
      `${file.name}: ${plural(faces.length, "face")} analysed` +
        (missing ? `, ${missing} with measures missing (see below).` : "."),
    );
    $("analysis-status").dataset.done = "true";
    $("analysis-csv").disabled = false;
    draw();
    renderFaces(response);
  }

  /** The photo, then each face's box and number, mesh, head axes and gaze arrows. */
  function draw() {
    const canvas = $("analysis-canvas");
    const { bitmap, response } = view;
    if (!bitmap || !response) {
      $("analysis-canvas-wrap").hidden = true;
      return;
    }
    const faces = response.faces;
    drawFaces(
      canvas,
      bitmap,
      faces.map((face, index) => ({
        box: face.box,
        kind: "neutral",
        label: `${index + 1}${face.expressions ? `  ${face.expressions.top}` : ""}`,
      })),
    );
    // drawFaces scaled the photo to the canvas's CSS size (transform: device pixels)
    const scale = parseFloat(canvas.style.width) / bitmap.width;
    const ctx = canvas.getContext("2d");
    for (const face of faces) {
      const side = Math.max(face.box[2] - face.box[0], face.box[3] - face.box[1]) * scale;
      if (face.mesh) {
        // whole-pixel dots: crisp (not smeared over four pixels) however the photo is scaled
        const dot = side > 260 ? 2 : 1;
        ctx.fillStyle = MESH_COLOUR;
        face.mesh.forEach(([x, y], index) => {
          if (index >= 468) return;
          ctx.fillRect(Math.round(x * scale) - (dot >> 1), Math.round(y * scale) - (dot >> 1), dot, dot);
        });
        ctx.fillStyle = IRIS_COLOUR;
        for (const [x, y] of face.mesh.slice(468)) ctx.fillRect(Math.round(x * scale) - 1, Math.round(y * scale) - 1, 2, 2);
      }
      const width = Math.max(2, Math.min(4, side / 60));
      if (face.pose && face.pose.axes.length === 4) {
        const [origin, ...tips] = face.pose.axes;
        tips.forEach((tip, axis) => arrow(ctx, origin, tip, scale, AXIS_COLOURS[axis], width));
      }
      if (face.gaze) {
        for (const [start, end] of face.gaze.rays) arrow(ctx, start, end, scale, GAZE_COLOUR, Math.max(1.5, width - 1));
      }
    }
    canvas.dataset.drawn = "true";
    canvas.dataset.faces = String(faces.length);
    $("analysis-legend").hidden = !faces.length;
  }

  function arrow(ctx, [x0, y0], [x1, y1], scale, colour, width) {
    const [ax, ay, bx, by] = [x0 * scale, y0 * scale, x1 * scale, y1 * scale];
    const length = Math.hypot(bx - ax, by - ay);
    if (length < 1) return;
    const head = Math.max(5, length * 0.18);
    const angle = Math.atan2(by - ay, bx - ax);
    ctx.strokeStyle = colour;
    ctx.fillStyle = colour;
    ctx.lineWidth = width;
    ctx.lineCap = "round";
    ctx.beginPath();
    ctx.moveTo(ax, ay);
    ctx.lineTo(bx, by);
    ctx.stroke();
    ctx.beginPath();
    ctx.moveTo(bx, by);
    ctx.lineTo(bx - head * Math.cos(angle - 0.45), by - head * Math.sin(angle - 0.45));
    ctx.lineTo(bx - head * Math.cos(angle + 0.45), by - head * Math.sin(angle + 0.45));
    ctx.closePath();
    ctx.fill();
  }

  function renderFaces(response) {
    const list = $("analysis-faces");
    list.replaceChildren();
    if (!response.faces.length) {
      list.append(el("li", { class: "an-face none", "data-testid": "analysis-noface" }, "No face found in this photo."));
      return;
    }
    response.faces.forEach((face, index) => list.append(facePanel(face, index)));
  }

  function facePanel(face, index) {
    const quality = face.quality;
    const top = face.expressions ? face.expressions.top : null;
    const item = el(
      "li",
      {
        class: "an-face",
        "data-testid": "analysis-face",
        "data-expression": top || "",
        "data-quality": quality ? String(quality.score) : "",
      },
      el(
        "div",
        { class: "face-head" },
        el("span", { class: "face-no" }, String(index + 1)),
        el("span", { class: "face-name" }, top ? `mostly ${top}` : "expressions not measured"),
        quality
          ? el(
              "span",
              { class: `pill ${quality.score >= 0.5 ? "ok" : "warn"}`, "data-testid": "analysis-quality", title: "recognition quality, 0–1" },
              `quality ${num(quality.score, 2)}`,
            )
          : null,
      ),
    );
    if (face.expressions) {
      const bars = el("table", { class: "an-bars", "data-testid": "analysis-expressions" });
      for (const name of EXPRESSIONS) {
        const p = face.expressions.probabilities[name] ?? 0;
        bars.append(
          el(
            "tr",
            { "data-testid": "analysis-expression", "data-name": name, class: name === top ? "top" : null },
            el("td", { class: "an-bar-name" }, name),
            el(
              "td",
              { class: "an-bar-cell" },
              el(
                "div",
                { class: "bar", role: "meter", "aria-valuemin": "0", "aria-valuemax": "1", "aria-valuenow": p.toFixed(3), "aria-label": name },
                el("div", { class: "fill", style: { width: `${(Math.min(Math.max(p, 0), 1) * 100).toFixed(1)}%`, background: EXPRESSION_COLOURS[name] } }),
              ),
            ),
            el("td", { class: "num" }, p.toFixed(2)),
          ),
        );
      }
      item.append(bars);
    }
    const facts = el("dl", { class: "facts an-facts" });
    const fact = (term, value, testid) => facts.append(el("dt", {}, term), el("dd", { "data-testid": testid || null }, value));
    if (quality) {
      fact("Quality", `${num(quality.score, 2)}${quality.reasons.length ? "" : " (no problem found)"}`, "analysis-quality-score");
    }
    if (face.pose) fact("Head pose", `yaw ${deg(face.pose.yaw)}, pitch ${deg(face.pose.pitch)}, roll ${deg(face.pose.roll)}`, "analysis-pose");
    if (face.gaze) fact("Gaze", `yaw ${deg(face.gaze.yaw)}, pitch ${deg(face.gaze.pitch)} (eyes vs head ${deg(face.gaze.eye_yaw)}, ${deg(face.gaze.eye_pitch)})`, "analysis-gaze");
    if (face.eye_openness) fact("Eyes open (EAR)", `right ${num(face.eye_openness.right, 2)}, left ${num(face.eye_openness.left, 2)}`);
    if (face.mouth_openness !== null && face.mouth_openness !== undefined) fact("Mouth open", num(face.mouth_openness, 2));
    if (face.valence !== null && face.valence !== undefined) {
      fact("Valence, arousal", `${num(face.valence, 2)}, ${num(face.arousal, 2)} (derived from the expressions)`);
    }
    fact("Detector score", num(face.detector_score, 3));
    item.append(facts);
    if (quality && quality.reasons.length) {
      item.append(
        el(
          "ul",
          { class: "an-reasons", "data-testid": "analysis-quality-reasons" },
          ...quality.reasons.map((reason) => el("li", {}, reason)),
        ),
      );
    }
    const missing = Object.entries(face.missing || {});
    if (missing.length) {
      item.append(
        el(
          "div",
          { class: "an-missing", "data-testid": "analysis-missing" },
          el("strong", {}, "Not measured: "),
          el(
            "ul",
            {},
            ...missing.map(([measure, why]) => el("li", { "data-measure": measure }, `${MEASURES[measure] || measure}: ${why}`)),
          ),
        ),
      );
    }
    return item;
  }

  /** Fetch the CSV table of the photo (with the key) and save it through a Blob URL. */
  async function downloadCsv() {
    const file = view.file;
    if (!file) return;
    const button = $("analysis-csv");
    button.disabled = true;
    showError("analysis-error", null);
    try {
      const url = new URL("/v1/analyze", window.location.origin);
      url.searchParams.set("format", "csv");
      url.searchParams.set("expressions", String($("analysis-expressions").checked));
      const headers = { Accept: "text/csv" };
      const key = apiKey();
      if (key) headers.Authorization = `Bearer ${key}`;
      let response;
      try {
        response = await fetch(url, { method: "POST", headers, body: imageForm({ image: file }) });
      } catch (err) {
        throw new Error(`cannot reach the server: ${err.message || err}`);
      }
      if (!response.ok) {
        let message = `${response.status} ${response.statusText}`;
        try {
          const body = await response.json();
          if (body && body.error) message = `${body.error.message} (HTTP ${body.error.status}, ${body.error.code})`;
        } catch {
          // not JSON: keep the status line
        }
        throw new Error(message);
      }
      const blob = await response.blob();
      const disposition = response.headers.get("content-disposition") || "";
      const match = /filename="([^"]+)"/.exec(disposition);
      const name = match ? match[1] : "analysis.csv";
      const link = el("a", { href: URL.createObjectURL(blob), download: name, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
      setStatus("analysis-status", `Saved ${name}.`);
    } catch (err) {
      showError("analysis-error", err);
    } finally {
      button.disabled = !view.file;
    }
  }

  // ---- liveness (the Liveness tab's wording) --------------------------------------

  const PAD_DECISIONS = {
    live: { badge: "LIVE", kind: "match" },
    attack: { badge: "ATTACK", kind: "attack" },
    uncertain: { badge: "UNCERTAIN", kind: "unknown" },
  };

  function renderPad(settled) {
    const box = $("analysis-pad");
    box.replaceChildren();
    if (settled.status === "rejected") {
      showError("analysis-pad-error", settled.reason);
      return;
    }
    const response = settled.value;
    const decision = Object.hasOwn(PAD_DECISIONS, response.decision) ? response.decision : "uncertain";
    const shown = PAD_DECISIONS[decision];
    box.dataset.decision = response.decision;
    box.dataset.calibrated = String(response.calibrated);
    box.append(
      el("div", { class: `pad-badge ${decision}`, "data-testid": "analysis-pad-badge" }, shown.badge),
      el(
        "dl",
        { class: "facts" },
        el("dt", {}, "Live probability"),
        el("dd", { "data-testid": "analysis-pad-probability" }, num(response.live_probability, 3)),
        el("dt", {}, "Threshold"),
        el("dd", {}, num(response.threshold, 3)),
        el("dt", {}, "Attack type"),
        el("dd", {}, response.attack_type),
      ),
    );
    const [low, high] = response.uncertain_band || [];
    if (response.decision === "uncertain" && low !== undefined && high !== undefined) {
      box.append(
        el(
          "p",
          { class: "explain", "data-testid": "analysis-pad-band" },
          `The live probability ${num(response.live_probability, 3)} lies in the band ` +
            `[${num(low, 3)}, ${num(high, 3)}) where the model is not reliable on a camera ` +
            "it has not been calibrated for, so it is answered neither live nor attack.",
        ),
      );
    }
    const source = response.threshold_source || "the shipped model";
    box.append(
      response.calibrated
        ? el("p", { class: "calibration is-ok", "data-testid": "analysis-pad-calibration" }, `Calibrated on this deployment's captures (${source})`)
        : el(
            "p",
            { class: "calibration is-warn", "data-testid": "analysis-pad-calibration" },
            el("strong", {}, "Not calibrated for this camera"),
            `: threshold from ${source}. Run `,
            el("code", {}, "facescope pad calibrate"),
            " with ~50 captures from your camera and restart the service with ",
            el("code", {}, "FACESCOPE_PAD_MODEL"),
            ".",
          ),
      el("p", { class: "explain", "data-testid": "analysis-pad-explanation" }, response.explanation),
      el(
        "p",
        { class: "muted small" },
        "Only the largest face is checked. The evidence behind the verdict is in the Liveness tab.",
      ),
    );
  }

  // ---- a video: a job, polled ---------------------------------------------------------

  async function submitVideo(file, run) {
    view.file = null;
    view.response = null;
    $("analysis-csv").disabled = true;
    $("analysis-canvas-wrap").hidden = true;
    $("analysis-legend").hidden = true;
    $("analysis-liveness-card").hidden = true;
    $("analysis-faces").replaceChildren();
    $("analysis-empty").hidden = false;
    $("analysis-tracks-card").hidden = true;
    $("analysis-track-rows").replaceChildren();
    const people = state.detail && state.detail.name === state.collection ? state.detail.subjects : 0;
    const query = {
      stride: $("analysis-stride").value,
      analysis: String($("analysis-track-analysis").checked),
    };
    if (people) query.collection = state.collection;
    setStatus("analysis-status", `Uploading ${file.name}…`, true);
    let job;
    try {
      job = await api("POST", "/v1/jobs/video", { query, form: imageForm({ video: file }) });
    } catch (err) {
      if (run !== view.run) return;
      setStatus("analysis-status", "");
      showError("analysis-error", err);
      return;
    }
    if (run !== view.run) {
      api("DELETE", `/v1/jobs/${encodeURIComponent(job.id)}`).catch(() => {});
      return;
    }
    view.job = { id: job.id, file: file.name, collection: query.collection || null, people, timer: 0 };
    $("analysis-job").hidden = false;
    $("analysis-job").dataset.status = job.status;
    $("analysis-cancel").disabled = false;
    $("analysis-cancel").hidden = false;
    showProgress(job);
    poll(run);
  }

  async function poll(run) {
    const current = view.job;
    if (!current || run !== view.run) return;
    let job;
    try {
      job = await api("GET", `/v1/jobs/${encodeURIComponent(current.id)}`);
    } catch (err) {
      if (run !== view.run) return;
      stopPolling();
      setStatus("analysis-status", "");
      showError("analysis-error", err);
      return;
    }
    if (run !== view.run || view.job !== current) return;
    showProgress(job);
    if (job.status === "done") {
      finishJob();
      renderTracks(job, current);
    } else if (job.status === "failed" || job.status === "cancelled") {
      finishJob();
      setStatus("analysis-status", "");
      showError("analysis-error", new Error(`the video job ${job.status}: ${job.error || "no reason given"}`));
    } else {
      current.timer = setTimeout(() => poll(run), POLL_MS);
    }
  }

  function showProgress(job) {
    const bar = $("analysis-progress");
    const { frames_done: done, frames_total: total, fraction } = job.progress;
    $("analysis-job").dataset.status = job.status;
    if (fraction === null || fraction === undefined) bar.removeAttribute("value");
    else bar.value = fraction;
    const text =
      job.status === "queued"
        ? `Queued${job.queue_position ? ` (${plural(job.queue_position, "job")} ahead)` : ""}…`
        : total
          ? `${job.status === "done" ? "Read" : "Reading"} frame ${done} of ${total}`
          : `${done} frames read`;
    setText("analysis-progress-text", text);
    if (job.status === "queued" || job.status === "running") {
      setStatus("analysis-status", `${view.job ? view.job.file : "video"}: ${job.status}…`, true);
    }
  }

  function finishJob() {
    if (view.job) {
      clearTimeout(view.job.timer);
      view.job.finished = true;
    }
    $("analysis-cancel").disabled = true;
    $("analysis-cancel").hidden = true;
  }

  function stopPolling() {
    if (view.job) clearTimeout(view.job.timer);
    view.job = null;
    $("analysis-job").hidden = true;
  }

  async function cancelJob() {
    const current = view.job;
    if (!current) return;
    $("analysis-cancel").disabled = true;
    clearTimeout(current.timer);
    try {
      await api("DELETE", `/v1/jobs/${encodeURIComponent(current.id)}`);
      setStatus("analysis-status", `Cancelled the job for ${current.file}.`);
    } catch (err) {
      showError("analysis-error", err);
    }
    view.job = null;
    $("analysis-job").dataset.status = "cancelled";
  }

  function renderTracks(job, submitted) {
    const result = job.result;
    const tracks = result.tracks;
    const named = tracks.filter((t) => t.identity !== null).length;
    setStatus(
      "analysis-status",
      `${job.filename}: ${plural(result.frames, "frame")} read, ${plural(tracks.length, "track")}` +
        (result.collection ? `, ${named} recognised in "${result.collection}".` : "."),
    );
    $("analysis-status").dataset.done = "true";
    const notes = [];
    if (!result.collection) {
      notes.push(
        submitted.people === 0
          ? `Nobody is enrolled in "${state.collection}", so the tracks are not named.`
          : "The tracks were not identified.",
      );
    } else {
      notes.push(
        `Each track's faces were averaged and searched in "${result.collection}" at FPIR ` +
          `${Number(((result.fpir || 0.01) * 100).toPrecision(3))}%; a track below the threshold is unknown.`,
      );
    }
    notes.push(`Faces detected in every ${result.stride === 1 ? "" : `${ordinal(result.stride)} `}frame.`);
    if (result.ended_early) notes.push(`The video ended early: ${result.ended_early}.`);
    setText("analysis-tracks-note", notes.join(" "));
    const rows = $("analysis-track-rows");
    rows.replaceChildren(
      ...tracks.map((track) =>
        el(
          "tr",
          { "data-testid": "analysis-track", "data-identity": track.identity ?? "" },
          el("td", {}, `#${track.track_id}`),
          el("td", { class: "num" }, `${num(track.start, 1)}–${num(track.end, 1)}`),
          el(
            "td",
            { "data-testid": "analysis-track-identity" },
            result.collection ? track.identity ?? "unknown" : "not identified",
          ),
          el("td", { class: "num" }, track.score === null ? "–" : num(track.score, 3)),
          el("td", { class: "small" }, trackSummary(track)),
        ),
      ),
    );
    if (!tracks.length) {
      rows.append(el("tr", {}, el("td", { colspan: 5, class: "muted" }, "No face was tracked in this video.")));
    }
    $("analysis-tracks-card").hidden = false;
  }

  function trackSummary(track) {
    const summary = track.analysis;
    if (!summary) return `${plural(track.detections, "detection")}; no analysis`;
    const parts = [`${plural(track.detections, "detection")}`];
    if (summary.top_expression) parts.push(`mostly ${summary.top_expression}`);
    if (summary.quality !== null) parts.push(`quality ${num(summary.quality, 2)}`);
    if (summary.yaw !== null) parts.push(`yaw ${deg(summary.yaw)}`);
    parts.push(`${plural(summary.blinks, "blink")} seen`);
    const missing = Object.entries(summary.missing || {});
    if (missing.length) {
      parts.push(`missing: ${missing.map(([name, n]) => `${MEASURES[name] || name} ×${n}`).join(", ")}`);
    }
    return parts.join("; ");
  }

  // ---- start ------------------------------------------------------------------------

  build();
  let resizing = 0;
  window.addEventListener("resize", () => {
    // app.js redraws the plain photo after 150 ms; draw the analysis over it after that
    clearTimeout(resizing);
    resizing = setTimeout(() => {
      if (view.response && $("analysis-canvas").offsetParent !== null) draw();
    }, 250);
  });
  document.addEventListener("facescope:view", (event) => {
    if (event.detail && event.detail.view === "analysis" && view.response) draw();
  });
})();

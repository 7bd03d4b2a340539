// Jobs: follow a job live (its log, its stage, and for training jobs the progress events: the loss chart, the
// progress bar, ETA and evaluation metrics), and the Fine-tune form (Check the dataset, Start: the recipe is sent
// to the hub's API with the session's X-CSRF-Token). Text is added as text, never HTML. Without JavaScript the
// pages show the state they were rendered with.
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var meta = document.querySelector("meta[name=csrf-token]");
  var csrf = meta ? meta.getAttribute("content") : "";
  var TONE = { SCHEDULING: "busy", RUNNING: "busy", COMPLETED: "ok", CANCELED: "idle", ERROR: "bad" };
  var TERMINAL = { COMPLETED: 1, CANCELED: 1, ERROR: 1, DELETED: 1 };

  function $(id) { return document.getElementById(id); }
  function num(v) { return typeof v === "number" && isFinite(v) ? v : null; }
  function fmt(v) { var n = num(v); return n === null ? String(v) : String(Number(n.toPrecision(4))); }
  function duration(s) {
    s = Math.max(0, Math.round(s));
    if (s >= 3600) { return Math.floor(s / 3600) + "h " + String(Math.floor(s % 3600 / 60)).padStart(2, "0") + "m"; }
    if (s >= 60) { return Math.floor(s / 60) + "m " + String(s % 60).padStart(2, "0") + "s"; }
    return s + "s";
  }

  // ------------------------------------------------------------------------------------------- the log
  function followLog(box) { window.modelyardFollowLog(box, $("log-live")); }  // app.js

  // ------------------------------------------------------------------------------------------- the chart
  var history = [];
  function drawChart() {
    var svg = $("loss-chart");
    if (!svg) { return; }
    var box = svg.viewBox.baseVal, w = box.width, h = box.height, pad = 8;
    var train = [], evals = [];
    history.forEach(function (p) {
      var s = num(p.step);
      if (s === null) { return; }
      if (num(p.loss) !== null) { train.push([s, p.loss]); }
      if (p.eval && num(p.eval.loss) !== null) { evals.push([s, p.eval.loss]); }
    });
    var all = train.concat(evals);
    if (!all.length) { return; }
    var maxStep = Math.max.apply(null, all.map(function (q) { return q[0]; })) || 1;
    var lo = Math.min.apply(null, all.map(function (q) { return q[1]; }));
    var hi = Math.max.apply(null, all.map(function (q) { return q[1]; }));
    var span = (hi - lo) || 1;
    function xy(q) {
      return [Math.round((pad + q[0] / maxStep * (w - 2 * pad)) * 10) / 10,
              Math.round((pad + (1 - (q[1] - lo) / span) * (h - 2 * pad)) * 10) / 10];
    }
    $("loss-line").setAttribute("points", train.map(function (q) { return xy(q).join(","); }).join(" "));
    var dots = $("eval-dots");
    while (dots.firstChild) { dots.removeChild(dots.firstChild); }
    evals.forEach(function (q) {
      var c = document.createElementNS(SVG, "circle"), p = xy(q);
      c.setAttribute("cx", p[0]); c.setAttribute("cy", p[1]); c.setAttribute("r", "3");
      dots.appendChild(c);
    });
    svg.setAttribute("data-points", String(all.length));
    var range = $("loss-range");
    if (range) {
      range.textContent = fmt(lo) + " – " + fmt(hi) + (train.length ? ", last " + fmt(train[train.length - 1][1]) : "");
    }
  }

  function setText(id, text) { var el = $(id); if (el) { el.textContent = text; } }

  function showProgress(p) {
    var step = num(p.step), max = num(p.max_steps);
    if (step !== null) { setText("job-step", String(step)); }
    if (max) { setText("job-max-steps", String(max)); }
    if (step !== null && max) {
      var bar = $("job-bar");
      if (bar) { bar.value = Math.max(0, Math.min(100, step / max * 100)); }
    }
    if (p.phase) {
      setText("job-phase", String(p.phase));
      if (p.phase === "done") { var b = $("job-bar"); if (b) { b.value = 100; } }
    }
    if (num(p.epoch) !== null) { setText("job-epoch", p.epoch.toFixed(2)); }
    if (num(p.learning_rate) !== null) { setText("job-lr", String(Number(p.learning_rate.toPrecision(3)))); }
    if (num(p.eta_seconds) !== null) { setText("job-eta", duration(p.eta_seconds)); }
    if (p.eval && typeof p.eval === "object") {
      var table = $("eval-table"), section = $("job-eval");
      if (table && section) {
        var body = table.tBodies[0] || table.appendChild(document.createElement("tbody"));
        while (body.firstChild) { body.removeChild(body.firstChild); }
        Object.keys(p.eval).sort().forEach(function (k) {
          var tr = document.createElement("tr"), th = document.createElement("th"), td = document.createElement("td");
          th.scope = "row"; th.textContent = k; td.textContent = fmt(p.eval[k]);
          tr.appendChild(th); tr.appendChild(td); body.appendChild(tr);
        });
        section.hidden = false;
      }
    }
  }

  function showStatus(s) {
    var badge = $("job-stage");
    if (!badge || !s || !s.stage) { return; }
    var stage = String(s.stage);
    badge.className = "stage-badge stage-" + (TONE[stage] || "idle");
    badge.setAttribute("data-stage", stage);
    while (badge.firstChild) { badge.removeChild(badge.firstChild); }
    if (!TERMINAL[stage]) {
      var spin = document.createElement("span");
      spin.className = "spinner"; spin.setAttribute("aria-hidden", "true");
      badge.appendChild(spin);
    }
    var label = document.createElement("span");
    label.className = "label";
    label.textContent = stage.charAt(0) + stage.slice(1).toLowerCase();
    badge.appendChild(label);
    var msg = $("job-message");
    if (msg) {
      msg.textContent = s.message ? String(s.message) : "";
      msg.hidden = !s.message;
      msg.classList.toggle("error", stage === "ERROR");
    }
    if (TERMINAL[stage]) { var cf = $("cancel-form"); if (cf) { cf.hidden = true; } }
  }

  function followEvents(live) {
    if (!window.EventSource || !live) { return; }
    var rendered = live.dataset.stage;
    var source = new EventSource(live.dataset.events);
    var fresh = true, ended = false;
    source.addEventListener("open", function () { fresh = true; });
    source.addEventListener("progress", function (ev) {
      var p;
      try { p = JSON.parse(ev.data); } catch (e) { return; }
      if (!p || typeof p !== "object") { return; }
      if (fresh) { history = []; fresh = false; }
      history.push(p);
      showProgress(p);
      drawChart();
    });
    source.addEventListener("status", function (ev) {
      try { showStatus(JSON.parse(ev.data)); } catch (e) { /* ignore */ }
    });
    source.addEventListener("end", function () {
      source.close();
      if (ended) { return; }
      ended = true;
      // the job ended while the page was open: load it again for its result and final timing
      if (!TERMINAL[rendered]) { window.location.reload(); }
    });
  }

  followLog($("job-log"));
  followEvents($("job-live"));

  // ------------------------------------------------------------------------------------ the Fine-tune form
  var form = $("fine-tune-form");
  if (!form) { return; }
  var taskSel = $("ft-task"), nsSel = $("ft-namespace"), output = $("ft-output"), errorBox = $("ft-error");
  var outputEdited = false;

  function showTask() {
    var task = taskSel.value;
    form.querySelectorAll("[data-task]").forEach(function (el) {
      var on = el.getAttribute("data-task") === task;
      el.hidden = !on;
      el.querySelectorAll("input, select").forEach(function (i) { i.disabled = !on; });
      if (el.tagName === "LABEL") { el.querySelectorAll("input").forEach(function (i) { i.disabled = !on; }); }
    });
  }
  $("ft-check-box").hidden = false;  // Check needs the API: shown with JavaScript only
  taskSel.addEventListener("change", showTask);
  showTask();

  output.addEventListener("input", function () { outputEdited = true; });
  nsSel.addEventListener("change", function () {
    if (outputEdited) { return; }
    var name = output.value.split("/").pop() || (form.getAttribute("data-model-name") + "-finetuned");
    output.value = nsSel.value + "/" + name;
  });

  function field(name) { var el = form.elements.namedItem(name); return el ? el : null; }
  function str(name) { var el = field(name); var v = el && !el.disabled ? String(el.value).trim() : ""; return v; }
  function checked(name) { var el = field(name); return Boolean(el && !el.disabled && el.checked); }

  function recipe() {
    var task = taskSel.value;
    var body = {
      task: task,
      base_model: form.getAttribute("data-model"),
      dataset: str("dataset"),
      output_repo: str("output_repo"),
      columns: {},
      train_split: str("train_split") || "train",
      eval_split: str("eval_split") || null,
      dataset_config: str("dataset_config") || null,
      hyperparameters: {},
      early_stopping_patience: str("early_stopping_patience") ? Number(str("early_stopping_patience")) : null,
      seed: str("seed") ? Number(str("seed")) : 42,
      private: checked("private"),
      merge_adapter: task === "text-generation" && checked("merge_adapter"),
      deploy: checked("deploy")
    };
    var fraction = str("eval_fraction");
    if (fraction) { body.eval_fraction = Number(fraction); }
    var cols = $("columns-" + task);
    if (cols) {
      cols.querySelectorAll("input[data-role]").forEach(function (i) {
        if (String(i.value).trim()) { body.columns[i.getAttribute("data-role")] = String(i.value).trim(); }
      });
    }
    form.querySelectorAll("input[name^='hp.']").forEach(function (i) {
      if (i.disabled || !String(i.value).trim()) { return; }
      body.hyperparameters[i.name.slice(3)] = Number(i.value);
    });
    return body;
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        return { ok: r.ok, status: r.status, data: data, text: text };
      });
    });
  }

  function message(res) {
    if (res.data && typeof res.data === "object") {
      var m = res.data.error || res.data.message || res.data.detail;
      if (m) { return String(typeof m === "string" ? m : JSON.stringify(m)); }
    }
    return "The hub answered " + res.status + ".";
  }

  function showError(text) {
    errorBox.textContent = text || "";
    errorBox.hidden = !text;
    if (text) { errorBox.scrollIntoView({ block: "nearest" }); }
  }

  function api(path) { return "/api/training/" + encodeURIComponent(nsSel.value) + path; }

  $("ft-check").addEventListener("click", function () {
    var out = $("ft-check-result");
    out.textContent = "Checking…";
    out.className = "ft-check-result";
    showError("");
    post(api("/validate"), recipe()).then(function (res) {
      out.textContent = "";
      if (!res.ok) {
        out.className = "ft-check-result bad";
        out.textContent = message(res);
        return;
      }
      var d = res.data || {};
      out.className = "ft-check-result ok";
      var lines = ["The dataset fits this task."];
      if (d.columns && d.columns.length) { lines.push("Columns: " + d.columns.join(", ")); }
      if (d.splits && d.splits.length) {
        lines.push("Splits: " + d.splits.map(function (s) {
          var n = d.num_rows && d.num_rows[s] !== undefined ? " (" + d.num_rows[s] + " rows)" : "";
          return s + n;
        }).join(", "));
      }
      lines.forEach(function (t) { var p = document.createElement("div"); p.textContent = t; out.appendChild(p); });
    }).catch(function () {
      out.className = "ft-check-result bad";
      out.textContent = "The hub could not be reached.";
    });
  });

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var button = $("ft-submit");
    button.disabled = true;
    showError("");
    var ns = nsSel.value;
    post(api(""), recipe()).then(function (res) {
      if (res.ok && res.data && res.data.id) {
        window.location.assign("/jobs/" + encodeURIComponent(ns) + "/" + encodeURIComponent(res.data.id));
        return;
      }
      button.disabled = false;
      showError(message(res));
    }).catch(function () {
      button.disabled = false;
      showError("The hub could not be reached.");
    });
  });
})();

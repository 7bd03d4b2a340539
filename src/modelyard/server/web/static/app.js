// ModelYard web UI: snippet tabs, copy buttons and the inference widget. Pages work without it.
(function () {
  "use strict";

  document.querySelectorAll("[data-snippet]").forEach(function (btn) {
    btn.addEventListener("click", function () {
      document.querySelectorAll("[data-snippet]").forEach(function (b) { b.classList.toggle("active", b === btn); });
      document.querySelectorAll(".snippet").forEach(function (s) { s.hidden = s.id !== "snippet-" + btn.dataset.snippet; });
    });
  });

  // Selects that submit their form on change (sort order, dataset file); no inline handlers (the CSP forbids them).
  document.querySelectorAll("select[data-autosubmit]").forEach(function (sel) {
    sel.addEventListener("change", function () { if (sel.form) { sel.form.submit(); } });
  });

  // Branch/tag picker on the files page: go to the tree of the chosen revision.
  document.querySelectorAll("form[data-rev-nav]").forEach(function (form) {
    form.addEventListener("change", function () {
      var sel = form.querySelector("select[name=rev]");
      if (sel) { location.href = form.dataset.revNav + encodeURIComponent(sel.value); }
    });
  });

  document.querySelectorAll("[data-copy], [data-copy-target]").forEach(function (btn) {
    btn.addEventListener("click", function () {
      var text = btn.dataset.copy || (document.getElementById(btn.dataset.copyTarget) || {}).textContent || "";
      if (navigator.clipboard) { navigator.clipboard.writeText(text).catch(function () {}); }
      var old = btn.textContent; btn.textContent = "Copied"; setTimeout(function () { btn.textContent = old; }, 1200);
    });
  });

  // Inference widget: shown only when an endpoint serving this repo is deployed under /endpoints.
  var widget = document.getElementById("inference-widget");
  if (!widget || !window.fetch) { return; }
  var repo = (widget.dataset.repo || "").toLowerCase();
  var state = widget.querySelector(".ep-state");
  var out = widget.querySelector(".widget-output");

  function el(tag, cls, text) { var e = document.createElement(tag); if (cls) { e.className = cls; } if (text !== undefined) { e.textContent = text; } return e; }

  function show(result) {
    out.textContent = "";
    var items = Array.isArray(result) && Array.isArray(result[0]) ? result[0] : result;
    if (Array.isArray(items) && items.length && items[0] && typeof items[0].score === "number") {
      items.slice(0, 5).forEach(function (it) {
        var row = el("div", "row");
        row.appendChild(el("span", "", String(it.label !== undefined ? it.label : (it.token_str || it.answer || it.entity_group || "?"))));
        row.appendChild(el("span", "", it.score.toFixed(3)));
        out.appendChild(row);
        var bar = el("div", "bar"); bar.style.width = Math.max(2, Math.round(it.score * 100)) + "%"; out.appendChild(bar);
      });
    } else if (Array.isArray(items) && items.length && items[0] && typeof items[0].generated_text === "string") {
      out.appendChild(el("pre", "", items[0].generated_text));
    } else {
      var s = JSON.stringify(result, null, 2);
      out.appendChild(el("pre", "", s.length > 4000 ? s.slice(0, 4000) + "…" : s));
    }
  }

  fetch("/endpoints/-/api/endpoints", { credentials: "same-origin", headers: { "Accept": "application/json" } })
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (data) {
      var list = data && (Array.isArray(data) ? data : data.endpoints);
      if (!Array.isArray(list)) { return; }
      var ep = list.filter(function (e) { return String(e.repo_id || e.repository || "").toLowerCase() === repo; })[0];
      if (!ep) { return; }
      widget.hidden = false;
      widget.dataset.endpoint = ep.name;
      state.textContent = (ep.name || "") + (ep.state ? " · " + ep.state : "") + (ep.task ? " · " + ep.task : "");
      widget.querySelector("form").addEventListener("submit", function (ev) {
        ev.preventDefault();
        var text = widget.querySelector("textarea").value;
        out.textContent = "Computing…";
        fetch("/endpoints/" + encodeURIComponent(ep.name), {
          method: "POST", credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-Wait-For-Model": "true" },
          body: JSON.stringify({ inputs: text })
        }).then(function (r) {
          return r.json().catch(function () { return { error: "HTTP " + r.status }; }).then(function (body) {
            if (!r.ok) { throw new Error(body && body.error ? body.error : "HTTP " + r.status); }
            return body;
          });
        }).then(show).catch(function (err) { out.textContent = ""; out.appendChild(el("p", "error", "Inference failed: " + err.message)); });
      });
    })
    .catch(function () { /* no inference service: the widget stays hidden */ });
})();

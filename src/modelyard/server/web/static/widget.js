// Inference widget: #inference-widget on a model page (shown when an endpoint serving the repo is deployed) and on
// an endpoint's page (data-endpoint). Inputs and output fit the endpoint's task (docs/inference.md shapes). Calls
// are same-origin; a logged-in page sends its X-CSRF-Token so the endpoint of a private repo the user can read
// answers (server/endpoints.py WebSession); without it the call is anonymous.
(function () {
  "use strict";
  var widget = document.getElementById("inference-widget");
  if (!widget || !window.fetch) { return; }
  var meta = document.querySelector("meta[name=csrf-token]");
  var csrf = meta ? meta.getAttribute("content") : "";
  var form = widget.querySelector("form");
  var text = widget.querySelector("textarea");
  var button = form.querySelector("button[type=submit]");
  var out = widget.querySelector(".widget-output");
  var state = widget.querySelector(".ep-state");
  var repo = (widget.dataset.repo || "").toLowerCase();
  var configured = false;
  var presetName = widget.dataset.endpoint || "";

  function headers(extra) {
    var h = { "Accept": "application/json" };
    if (csrf) { h["X-CSRF-Token"] = csrf; }
    Object.keys(extra || {}).forEach(function (k) { h[k] = extra[k]; });
    return h;
  }
  function el(tag, cls, content) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (content !== undefined) { e.textContent = content; }
    return e;
  }
  function field(label, input) {
    var l = el("label", "widget-field");
    l.appendChild(el("span", "", label));
    l.appendChild(input);
    form.insertBefore(l, button);
    return input;
  }
  function textInput(name, label, value) {
    var i = el("input"); i.type = "text"; i.name = name; i.value = value || "";
    return field(label, i);
  }
  function fileInput(name, label, accept) {
    var i = el("input"); i.type = "file"; i.name = name; i.accept = accept;
    return field(label, i);
  }
  function bars(items, key) {
    items.slice(0, 10).forEach(function (it) {
      var row = el("div", "row");
      row.appendChild(el("span", "label", String(it[key] !== undefined ? it[key] : it.label)));
      row.appendChild(el("span", "score", Number(it.score).toFixed(3)));
      out.appendChild(row);
      var bar = el("div", "bar");
      bar.style.width = Math.max(2, Math.min(100, Math.round(Number(it.score) * 100))) + "%";
      out.appendChild(bar);
    });
  }
  function json(result) {
    var s = JSON.stringify(result, null, 2);
    out.appendChild(el("pre", "", s.length > 4000 ? s.slice(0, 4000) + "…" : s));
  }
  function fail(message) { out.textContent = ""; out.appendChild(el("p", "error", "Inference failed: " + message)); }
  function first(result) { return Array.isArray(result) && Array.isArray(result[0]) ? result[0] : result; }
  function dataUrl(blob, then) { var r = new FileReader(); r.onload = function () { then(String(r.result)); }; r.readAsDataURL(blob); }
  function showImage(blob, alt) { dataUrl(blob, function (src) { var img = el("img", "widget-image"); img.alt = alt; img.src = src; out.appendChild(img); }); }

  // ---------------------------------------------------------------------------------------------- by task
  function scoreTask() { return { body: function () { return { inputs: text.value }; }, show: function (r) { var items = first(r); if (Array.isArray(items) && items.length && typeof items[0].score === "number") { bars(items, "label"); } else { json(r); } } }; }

  function similarityTask() {
    text.setAttribute("aria-label", "Source sentence");
    if (!text.value || text.value === "I like this hub a lot!") { text.value = "That is a happy person"; }
    var others = el("textarea"); others.name = "sentences"; others.rows = 4;
    others.value = "That is a happy dog\nThat is a very happy person\nToday is a sunny day";
    field("Sentences to compare, one per line", others);
    var sentences = function () { return others.value.split("\n").map(function (s) { return s.trim(); }).filter(Boolean); };
    return {
      body: function () { return { inputs: { source_sentence: text.value, sentences: sentences() } }; },
      show: function (r) {
        var list = sentences();
        if (!Array.isArray(r)) { json(r); return; }
        bars(r.map(function (score, i) { return { label: list[i] || "#" + i, score: Number(score) }; }), "label");
        out.querySelectorAll(".row").forEach(function (row) { row.classList.add("similarity"); });
      }
    };
  }

  function tokenTask() {
    if (text.value === "I like this hub a lot!") { text.value = "My name is Sarah and I live in London"; }
    var sent = "";
    return {
      body: function () { sent = text.value; return { inputs: sent }; },
      show: function (r) {
        var ents = (Array.isArray(r) && Array.isArray(r[0]) ? r[0] : r) || [];
        if (!Array.isArray(ents)) { json(r); return; }
        var p = el("p", "entities");
        var pos = 0;
        ents.filter(function (e) { return typeof e.start === "number" && typeof e.end === "number"; })
          .sort(function (a, b) { return a.start - b.start; })
          .forEach(function (e) {
            if (e.start < pos) { return; }
            p.appendChild(document.createTextNode(sent.slice(pos, e.start)));
            var label = String(e.entity_group || e.entity || "?");
            var m = el("mark", "entity entity-" + label.replace(/^[BI]-/, "").toLowerCase().replace(/[^a-z0-9]/g, ""), sent.slice(e.start, e.end));
            m.dataset.entity = label;
            m.title = label + " " + Number(e.score).toFixed(3);
            m.appendChild(el("span", "entity-label", label));
            p.appendChild(m);
            pos = e.end;
          });
        p.appendChild(document.createTextNode(sent.slice(pos)));
        out.appendChild(p);
        if (!ents.length) { out.appendChild(el("p", "muted", "No entities found.")); }
      }
    };
  }

  function qaTask() {
    text.setAttribute("aria-label", "Context");
    if (text.value === "I like this hub a lot!") { text.value = "My name is Clara and I live in Berkeley."; }
    var q = textInput("question", "Question", "Where do I live?");
    return {
      body: function () { return { inputs: { question: q.value, context: text.value } }; },
      show: function (r) { var a = Array.isArray(r) ? r : [r]; if (a.length && a[0] && a[0].answer !== undefined) { bars(a, "answer"); } else { json(r); } }
    };
  }

  function zeroShotTask() {
    var labels = textInput("candidate_labels", "Possible labels, comma-separated", "positive, negative, neutral");
    return {
      body: function () { return { inputs: text.value, parameters: { candidate_labels: labels.value.split(",").map(function (s) { return s.trim(); }).filter(Boolean) } }; },
      show: function (r) { var items = first(r); if (Array.isArray(items) && items.length && items[0].label !== undefined) { bars(items, "label"); } else { json(r); } }
    };
  }

  function fillMaskTask() {
    if (text.value.indexOf("[MASK]") < 0 && text.value.indexOf("<mask>") < 0) { text.value = "Paris is the [MASK] of France."; }
    return {
      body: function () { return { inputs: text.value }; },
      show: function (r) { var items = first(r); if (Array.isArray(items) && items.length && items[0].score !== undefined) { bars(items, "token_str"); } else { json(r); } }
    };
  }

  function featuresTask() {
    return {
      body: function () { return { inputs: text.value }; },
      show: function (r) {
        var v = Array.isArray(r) && Array.isArray(r[0]) ? r[0] : r;
        if (!Array.isArray(v) || typeof v[0] !== "number") { json(r); return; }
        out.appendChild(el("p", "vector-length", "Vector of " + v.length + " dimensions"));
        out.appendChild(el("pre", "vector-preview", "[" + v.slice(0, 8).map(function (x) { return x.toFixed(4); }).join(", ") + (v.length > 8 ? ", …" : "") + "]"));
      }
    };
  }

  function textTask(key) {
    return {
      body: function () { return { inputs: text.value }; },
      show: function (r) { var o = Array.isArray(r) ? r[0] : r; if (o && typeof o[key] === "string") { out.appendChild(el("pre", "generated", o[key])); } else { json(r); } }
    };
  }

  function fileTask(accept, label, show) {
    text.parentNode.removeChild(text);
    var input = fileInput("file", label, accept);
    return {
      file: input,
      body: function () { return input.files && input.files[0] ? input.files[0] : null; },
      show: show
    };
  }

  // text generation streams: TGI server-sent events ({"token": {"text", "special"}, "generated_text"}, last one
  // with generated_text), read as they arrive
  function stream(ep, setup) {
    out.textContent = "";
    var pre = el("pre", "generated");
    pre.appendChild(el("span", "prompt", text.value));
    var gen = el("span", "completion");
    pre.appendChild(gen);
    out.appendChild(pre);
    out.dataset.tokens = "0";
    out.dataset.done = "";
    return fetch("/endpoints/" + encodeURIComponent(ep.name), {
      method: "POST", credentials: "same-origin",
      headers: headers({ "Content-Type": "application/json", "Accept": "text/event-stream", "X-Wait-For-Model": "true" }),
      body: JSON.stringify({ inputs: text.value, parameters: { max_new_tokens: 40 }, stream: true })
    }).then(function (r) {
      if (!r.ok) { return errorOf(r).then(function (msg) { throw new Error(msg); }); }
      var reader = r.body.getReader();
      var decoder = new TextDecoder();
      var buffer = "";
      function handle(block) {
        block.split("\n").forEach(function (line) {
          if (line.indexOf("data:") !== 0) { return; }
          var data = line.slice(5).trim();
          if (!data || data === "[DONE]") { return; }
          var ev = JSON.parse(data);
          if (ev.error) { throw new Error(ev.error); }
          if (ev.token && !ev.token.special) {
            gen.textContent += ev.token.text;
            out.dataset.tokens = String(Number(out.dataset.tokens) + 1);
          }
          if (typeof ev.generated_text === "string") { gen.textContent = ev.generated_text; out.dataset.done = "1"; }
        });
      }
      function pump() {
        return reader.read().then(function (chunk) {
          if (chunk.done) { if (buffer.trim()) { handle(buffer); } out.dataset.done = "1"; return; }
          buffer += decoder.decode(chunk.value, { stream: true });
          var blocks = buffer.split(/\r?\n\r?\n/);
          buffer = blocks.pop();
          blocks.forEach(handle);
          return pump();
        });
      }
      return pump();
    });
  }

  function errorOf(r) {
    return r.json().then(function (b) { return b && b.error ? String(b.error) : "HTTP " + r.status; },
      function () { return "HTTP " + r.status; });
  }

  function setupFor(task) {
    switch (task) {
      case "sentence-similarity": return similarityTask();
      case "token-classification": return tokenTask();
      case "question-answering": return qaTask();
      case "zero-shot-classification": return zeroShotTask();
      case "fill-mask": return fillMaskTask();
      case "feature-extraction": return featuresTask();
      case "summarization": return textTask("summary_text");
      case "translation": return textTask("translation_text");
      case "text2text-generation": return textTask("generated_text");
      case "text-generation": return { stream: true };
      case "automatic-speech-recognition":
        return fileTask("audio/*", "Audio file (WAV, FLAC, OGG)", function (r) { if (r && typeof r.text === "string") { out.appendChild(el("pre", "generated", r.text)); } else { json(r); } });
      case "image-classification":
        return fileTask("image/*", "Image file", function (r, file) { if (file) { showImage(file, "The image sent"); } var items = first(r); if (Array.isArray(items) && items.length && items[0].score !== undefined) { bars(items, "label"); } else { json(r); } });
      case "text-to-image":
        return textTask("generated_text");  // the answer is an image: rendered below whatever the task
      default: return scoreTask();
    }
  }

  function configure(ep, task) {
    configured = true;
    widget.hidden = false;
    widget.dataset.endpoint = ep.name;
    widget.dataset.task = task || "";
    if (state && presetName) {  // the endpoint page shows the live state itself
      state.textContent = task || "";
    } else if (state) {  // the model page: the endpoint's name links to its page (state, logs, charts)
      state.textContent = "";
      var link = el("a", "", ep.name || "");
      link.href = "/inference-endpoints/" + encodeURIComponent(ep.name || "");
      state.appendChild(link);
      state.appendChild(document.createTextNode((ep.state ? " · " + ep.state : "") + (task ? " · " + task : "")));
    }
    var setup = setupFor(task);
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (setup.stream) { stream(ep, setup).catch(function (err) { fail(err.message); }); return; }
      var body = setup.body();
      if (body === null) { fail("choose a file first"); return; }
      var isFile = typeof Blob !== "undefined" && body instanceof Blob;
      out.textContent = "Computing…";
      fetch("/endpoints/" + encodeURIComponent(ep.name), {
        method: "POST", credentials: "same-origin",
        headers: headers({ "Content-Type": isFile ? (body.type || "application/octet-stream") : "application/json", "X-Wait-For-Model": "true" }),
        body: isFile ? body : JSON.stringify(body)
      }).then(function (r) {
        if (!r.ok) { return errorOf(r).then(function (msg) { throw new Error(msg); }); }
        var type = r.headers.get("content-type") || "";
        if (type.indexOf("image/") === 0) { return r.blob().then(function (b) { out.textContent = ""; showImage(b, "The generated image"); }); }
        return r.json().then(function (result) { out.textContent = ""; setup.show(result, isFile ? body : null); });
      }).catch(function (err) { fail(err.message); });
    });
  }

  // the endpoint: the page's own (endpoint page), else the one the management list names for this repo
  var tries = 0;
  function find() {
    var name = widget.dataset.endpoint;
    var url = "/endpoints/-/api/endpoints" + (name ? "/" + encodeURIComponent(name) : "");
    fetch(url, { credentials: "same-origin", headers: headers() })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data || configured) { return; }
        var ep = data;
        if (!name) {
          var list = Array.isArray(data) ? data : data.endpoints;
          if (!Array.isArray(list)) { return; }
          ep = list.filter(function (e) { return String(e.repo_id || "").toLowerCase() === repo; })[0];
          if (!ep) { return; }
        }
        var task = ep.task || (ep.config && ep.config.task) || "";
        // the task is known once the model loaded (inferred from its card/config): wait a little for it
        if (!task && (ep.state === "loading") && tries++ < 30) { setTimeout(find, 1000); return; }
        configure(ep, task || widget.dataset.task || "");
      })
      .catch(function () { /* no inference service: the widget stays hidden */ });
  }
  find();
})();

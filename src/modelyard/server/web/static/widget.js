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
  // audio answers (text-to-speech): a blob: URL in an <audio controls> (the pages' CSP has media-src 'self' blob:)
  function showAudio(blob) {
    var audio = el("audio", "widget-audio");
    audio.controls = true;
    audio.src = URL.createObjectURL(blob);
    out.appendChild(audio);
    out.dataset.audioBytes = String(blob.size);
  }
  function loadImage(src, then) { var img = new Image(); img.onload = function () { then(img); }; img.src = src; }
  var COLORS = ["#ef4444", "#3b82f6", "#22c55e", "#f59e0b", "#a855f7", "#14b8a6", "#ec4899", "#84cc16"];
  function colorOf(labels, label) { if (labels.indexOf(label) < 0) { labels.push(label); } return COLORS[labels.indexOf(label) % COLORS.length]; }
  // the image sent, drawn on a canvas the task's picture is painted over (no inline style: CSSOM only)
  function imageCanvas(file, then) {
    dataUrl(file, function (src) {
      loadImage(src, function (img) {
        var canvas = el("canvas", "widget-image");
        canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
        canvas.setAttribute("role", "img");
        var ctx = canvas.getContext("2d");
        ctx.drawImage(img, 0, 0);
        out.insertBefore(canvas, out.firstChild);
        then(canvas, ctx);
      });
    });
  }
  function legend(label, color, score) {
    var row = el("div", "row legend");
    var name = el("span", "label", label);
    var swatch = el("span", "swatch", "\u25a0 ");
    swatch.style.color = color;
    name.insertBefore(swatch, name.firstChild);
    row.appendChild(name);
    row.appendChild(el("span", "score", typeof score === "number" ? score.toFixed(3) : ""));
    out.appendChild(row);
  }

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

  // object-detection: [{label, score, box: {xmin, ymin, xmax, ymax}}] drawn as boxes over the image
  function detectionTask() {
    return fileTask("image/*", "Image file", function (r, file) {
      if (!Array.isArray(r)) { json(r); return; }
      var labels = [];
      out.dataset.boxes = String(r.length);
      r.forEach(function (o) { legend(String(o.label), colorOf(labels, String(o.label)), Number(o.score)); });
      if (!r.length) { out.appendChild(el("p", "muted", "No objects found.")); }
      if (!file) { return; }
      imageCanvas(file, function (canvas, ctx) {
        ctx.lineWidth = Math.max(2, Math.round(canvas.width / 200));
        ctx.font = Math.max(10, Math.round(canvas.width / 40)) + "px sans-serif";
        r.forEach(function (o) {
          var b = o.box || {};
          var color = colorOf(labels, String(o.label));
          ctx.strokeStyle = color; ctx.fillStyle = color;
          ctx.strokeRect(b.xmin, b.ymin, Math.max(1, b.xmax - b.xmin), Math.max(1, b.ymax - b.ymin));
          ctx.fillText(String(o.label), b.xmin + 2, Math.max(10, b.ymin - 2));
        });
        canvas.setAttribute("aria-label", "The image with " + r.length + " detected objects");
        out.dataset.drawn = "1";
      });
    });
  }

  // image-segmentation: [{label, score, mask: base64 PNG}], each mask painted in its label's colour
  function segmentationTask() {
    return fileTask("image/*", "Image file", function (r, file) {
      if (!Array.isArray(r)) { json(r); return; }
      var labels = [];
      out.dataset.segments = String(r.length);
      r.forEach(function (s) { legend(String(s.label), colorOf(labels, String(s.label)), s.score === null ? null : Number(s.score)); });
      if (!file) { return; }
      imageCanvas(file, function (canvas, ctx) {
        var left = r.length;
        var done = function () { if (--left <= 0) { out.dataset.drawn = "1"; } };
        if (!left) { done(); }
        r.forEach(function (s) {
          loadImage("data:image/png;base64," + s.mask, function (mask) {
            var off = document.createElement("canvas");
            off.width = canvas.width; off.height = canvas.height;
            var octx = off.getContext("2d");
            octx.drawImage(mask, 0, 0, off.width, off.height);
            var px = octx.getImageData(0, 0, off.width, off.height);
            var hex = colorOf(labels, String(s.label));
            var rgb = [1, 3, 5].map(function (i) { return parseInt(hex.slice(i, i + 2), 16); });
            for (var i = 0; i < px.data.length; i += 4) {
              var on = px.data[i] > 127;
              px.data[i] = rgb[0]; px.data[i + 1] = rgb[1]; px.data[i + 2] = rgb[2];
              px.data[i + 3] = on ? 110 : 0;
            }
            octx.putImageData(px, 0, 0);
            ctx.drawImage(off, 0, 0);
            done();
          });
        });
        canvas.setAttribute("aria-label", "The image with " + r.length + " segments");
      });
    });
  }

  // zero-shot-image-classification: an image and candidate labels, sent as {"inputs": base64, "parameters"}
  function zeroShotImageTask() {
    var setup = fileTask("image/*", "Image file", function (r, file) {
      if (file) { showImage(file, "The image sent"); }
      if (Array.isArray(r) && r.length && r[0].label !== undefined) { bars(r, "label"); } else { json(r); }
    });
    var labels = textInput("candidate_labels", "Possible labels, comma-separated", "cat, dog, bird");
    return sendAsBase64(setup, function (b64) {
      var list = labels.value.split(",").map(function (s) { return s.trim(); }).filter(Boolean);
      return { inputs: b64, parameters: { candidate_labels: list } };
    });
  }

  // A file task whose body is JSON: the chosen file as base64 (no data: prefix), placed by `build(b64)`.
  function sendAsBase64(setup, build) {
    var pick = setup.body;
    setup.body = function () {
      var file = pick();
      if (!file) { return null; }
      return new Promise(function (resolve) {
        dataUrl(file, function (src) {
          var body = build(src.slice(src.indexOf(",") + 1));
          body.file = file;
          resolve(body);
        });
      });
    };
    return setup;
  }

  // document-question-answering: a document image and a question, sent as {"inputs": {"image": base64, "question"}}
  function documentQaTask() {
    var setup = fileTask("image/*", "Document image", function (r, file) {
      if (file) { showImage(file, "The document sent"); }
      if (Array.isArray(r) && r.length && r[0].answer !== undefined) { bars(r, "answer"); } else { json(r); }
    });
    var question = textInput("question", "Question", "What is the total?");
    return sendAsBase64(setup, function (b64) {
      return { inputs: { image: b64, question: question.value } };
    });
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
      case "object-detection": return detectionTask();
      case "image-segmentation": return segmentationTask();
      case "zero-shot-image-classification": return zeroShotImageTask();
      case "document-question-answering": return documentQaTask();
      case "image-to-text":
        return fileTask("image/*", "Image file", function (r, file) { if (file) { showImage(file, "The image sent"); } var o = Array.isArray(r) ? r[0] : r; if (o && typeof o.generated_text === "string") { out.appendChild(el("pre", "generated", o.generated_text)); } else { json(r); } });
      case "audio-classification":
        return fileTask("audio/*", "Audio file (WAV, FLAC, OGG)", function (r) { if (Array.isArray(r) && r.length && r[0].score !== undefined) { bars(r, "label"); } else { json(r); } });
      case "text-to-speech":
        if (text.value === "I like this hub a lot!") { text.value = "Hello! This voice comes from a model on the hub."; }
        return textTask("generated_text");  // the answer is audio: played below whatever the task
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
      var pending = setup.body();
      if (pending === null) { fail("choose a file first"); return; }
      out.textContent = "Computing…";
      var sentFile = null;
      Promise.resolve(pending).then(function (body) {
        var isFile = typeof Blob !== "undefined" && body instanceof Blob;
        sentFile = isFile ? body : (body && body.file) || null;
        if (body && body.file) { body = { inputs: body.inputs, parameters: body.parameters }; }
        return fetch("/endpoints/" + encodeURIComponent(ep.name), {
          method: "POST", credentials: "same-origin",
          headers: headers({ "Content-Type": isFile ? (body.type || "application/octet-stream") : "application/json", "X-Wait-For-Model": "true" }),
          body: isFile ? body : JSON.stringify(body)
        }).then(function (r) {
          if (!r.ok) { return errorOf(r).then(function (msg) { throw new Error(msg); }); }
          var type = r.headers.get("content-type") || "";
          if (type.indexOf("image/") === 0) { return r.blob().then(function (b) { out.textContent = ""; showImage(b, "The generated image"); }); }
          if (type.indexOf("audio/") === 0) { return r.blob().then(function (b) { out.textContent = ""; showAudio(b); }); }
          return r.json().then(function (result) { out.textContent = ""; setup.show(result, sentFile); });
        });
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

// Endpoint page: polls the management API for the state and logs, samples the endpoint's Prometheus metrics and
// draws requests/s, latency p50/p99 and queue depth as small SVG line charts (no chart library). Without
// JavaScript the page shows the state and logs of when it was loaded.
(function () {
  "use strict";
  var root = document.getElementById("endpoint-page");
  if (!root || !window.fetch) { return; }
  var meta = document.querySelector("meta[name=csrf-token]");
  var csrf = meta ? meta.getAttribute("content") : "";
  var every = Number(root.dataset.pollMs) || 2000;
  var name = root.dataset.name;
  var stateEl = document.getElementById("endpoint-state");
  var errorEl = document.getElementById("endpoint-error");
  var logsEl = document.getElementById("endpoint-logs");
  var taskEl = document.getElementById("endpoint-task");
  var totalsEl = document.getElementById("endpoint-totals");
  var SVG = "http://www.w3.org/2000/svg";
  var KEEP = 60;  // samples shown (2 minutes at the default rate)
  var gone = false;

  function headers() { var h = { "Accept": "application/json" }; if (csrf) { h["X-CSRF-Token"] = csrf; } return h; }
  function get(url) { return fetch(url, { credentials: "same-origin", headers: headers() }); }

  // ---------------------------------------------------------------------------------------- state and logs
  function showState(ep) {
    stateEl.textContent = ep.state;
    stateEl.dataset.state = ep.state;
    stateEl.className = "ep-badge state-" + ep.state;
    if (taskEl && ep.task) { taskEl.textContent = ep.task; }
    if (errorEl && !errorEl.dataset.fixed) {
      errorEl.textContent = ep.error || "";
      errorEl.hidden = !ep.error;
    }
    document.querySelectorAll("#endpoint-actions [data-show-when]").forEach(function (f) {
      f.hidden = f.dataset.showWhen.split(" ").indexOf(ep.state) < 0;
    });
    document.querySelectorAll("#endpoint-actions [data-show-unless]").forEach(function (f) {
      f.hidden = f.dataset.showUnless.split(" ").indexOf(ep.state) >= 0;
    });
    if (!logsEl || !Array.isArray(ep.logs)) { return; }
    logsEl.textContent = "";
    ep.logs.slice().reverse().forEach(function (line) {
      var li = document.createElement("li");
      li.className = "log-" + line.level;
      var t = document.createElement("time");
      var when = new Date(line.time * 1000);
      t.dateTime = when.toISOString();
      t.textContent = when.toLocaleTimeString();
      li.appendChild(t);
      li.appendChild(document.createTextNode(" " + line.message));
      logsEl.appendChild(li);
    });
    if (!ep.logs.length) { var li = document.createElement("li"); li.className = "empty"; li.textContent = "No events yet."; logsEl.appendChild(li); }
  }

  function pollState() {
    if (gone) { return; }
    get(root.dataset.api).then(function (r) {
      if (r.status === 404) { gone = true; stateEl.textContent = "deleted"; stateEl.dataset.state = "deleted"; return null; }
      return r.ok ? r.json() : null;
    }).then(function (ep) { if (ep) { showState(ep); } })
      .catch(function () {})
      .then(function () { setTimeout(pollState, every); });
  }

  // -------------------------------------------------------------------------------------------- metrics
  // the Prometheus text of this endpoint: requests (all statuses), the latency histogram, the queue gauge
  function parse(textBody) {
    var m = { total: 0, count: 0, buckets: [], queue: 0 };
    textBody.split("\n").forEach(function (line) {
      if (!line || line.charAt(0) === "#") { return; }
      var sp = line.lastIndexOf(" ");
      var key = line.slice(0, sp);
      var value = Number(line.slice(sp + 1));
      var metric = key.split("{")[0];
      if (metric === "modelyard_inference_requests_total") { m.total += value; }
      else if (metric === "modelyard_inference_request_duration_seconds_count") { m.count = value; }
      else if (metric === "modelyard_inference_queue_size") { m.queue = value; }
      else if (metric === "modelyard_inference_request_duration_seconds_bucket") {
        var le = /le="([^"]+)"/.exec(key);
        if (le) { m.buckets.push([le[1] === "+Inf" ? Infinity : Number(le[1]), value]); }
      }
    });
    m.buckets.sort(function (a, b) { return a[0] - b[0]; });
    return m;
  }

  // the q-quantile (seconds) of the requests answered between two samples, interpolated inside its bucket
  function quantile(q, prev, cur) {
    var n = cur.count - prev.count;
    if (n <= 0) { return null; }
    var before = {};
    prev.buckets.forEach(function (b) { before[b[0]] = b[1]; });
    var rank = q * n;
    var lower = 0;
    var lowerCount = 0;
    for (var i = 0; i < cur.buckets.length; i++) {
      var le = cur.buckets[i][0];
      var c = cur.buckets[i][1] - (before[le] || 0);
      if (c >= rank) {
        if (le === Infinity) { return lower; }
        var inBucket = c - lowerCount;
        return inBucket > 0 ? lower + (le - lower) * (rank - lowerCount) / inBucket : le;
      }
      lower = le;
      lowerCount = c;
    }
    return lower;
  }

  var samples = [];
  var points = { rps: [], p50: [], p99: [], queue: [] };

  function push(series, value) { points[series].push(value); if (points[series].length > KEEP) { points[series].shift(); } }

  function chart(figure, lines) {
    var w = 300, h = 90;
    var svg = figure.querySelector("svg");
    if (!svg) {
      svg = document.createElementNS(SVG, "svg");
      svg.setAttribute("viewBox", "0 0 " + w + " " + h);
      svg.setAttribute("role", "img");
      svg.setAttribute("preserveAspectRatio", "none");
      figure.insertBefore(svg, figure.firstChild);
    }
    svg.setAttribute("aria-label", figure.querySelector("figcaption").textContent);
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    var max = 0;
    lines.forEach(function (l) { l.values.forEach(function (v) { if (v !== null && v > max) { max = v; } }); });
    max = max > 0 ? max * 1.15 : 1;
    var grid = document.createElementNS(SVG, "line");
    grid.setAttribute("x1", "0"); grid.setAttribute("x2", String(w));
    grid.setAttribute("y1", String(h - 1)); grid.setAttribute("y2", String(h - 1));
    grid.setAttribute("class", "axis");
    svg.appendChild(grid);
    var top = document.createElementNS(SVG, "text");
    top.setAttribute("x", "2"); top.setAttribute("y", "10"); top.setAttribute("class", "scale");
    top.textContent = max < 10 ? max.toFixed(2) : String(Math.round(max));
    svg.appendChild(top);
    lines.forEach(function (l) {
      var pts = [];
      l.values.forEach(function (v, i) {
        if (v === null) { return; }
        var x = l.values.length > 1 ? (i / (KEEP - 1)) * w : 0;
        pts.push(x.toFixed(1) + "," + (h - 2 - (v / max) * (h - 14)).toFixed(1));
      });
      var poly = document.createElementNS(SVG, "polyline");
      poly.setAttribute("points", pts.join(" "));
      poly.setAttribute("class", "line " + l.cls);
      svg.appendChild(poly);
    });
  }

  function fmt(v, digits) { return v === null || v === undefined ? "–" : v.toFixed(digits); }

  function draw() {
    document.querySelectorAll("#endpoint-charts figure[data-series]").forEach(function (fig) {
      var s = fig.dataset.series;
      var latest = fig.querySelector(".latest");
      if (s === "rps") {
        chart(fig, [{ values: points.rps, cls: "rps" }]);
        latest.textContent = fmt(points.rps[points.rps.length - 1], 2);
        fig.dataset.last = String(points.rps[points.rps.length - 1] || 0);
        fig.dataset.max = String(Math.max.apply(null, [0].concat(points.rps)));
      } else if (s === "latency") {
        chart(fig, [{ values: points.p50, cls: "p50" }, { values: points.p99, cls: "p99" }]);
        var seen = points.p99.filter(function (v) { return v !== null; });
        latest.textContent = fmt(points.p50.filter(function (v) { return v !== null; }).pop(), 1);
        fig.querySelector(".latest2").textContent = fmt(seen[seen.length - 1], 1);
        fig.dataset.max = String(seen.length ? Math.max.apply(null, seen) : 0);
      } else {
        chart(fig, [{ values: points.queue, cls: "queue" }]);
        latest.textContent = fmt(points.queue[points.queue.length - 1], 0);
        fig.dataset.max = String(Math.max.apply(null, [0].concat(points.queue)));
      }
      fig.dataset.samples = String(points.rps.length);
    });
  }

  function sample() {
    if (gone) { return; }
    get(root.dataset.metrics).then(function (r) { return r.ok ? r.text() : null; }).then(function (body) {
      if (body === null) { return; }
      var cur = parse(body);
      cur.t = Date.now() / 1000;
      var prev = samples[samples.length - 1];
      samples.push(cur);
      if (samples.length > 2) { samples.shift(); }
      if (prev) {
        var dt = Math.max(cur.t - prev.t, 0.001);
        push("rps", Math.max(0, cur.total - prev.total) / dt);
        var p50 = quantile(0.5, prev, cur);
        var p99 = quantile(0.99, prev, cur);
        push("p50", p50 === null ? null : p50 * 1000);
        push("p99", p99 === null ? null : p99 * 1000);
        push("queue", cur.queue);
        draw();
      }
      if (totalsEl) { totalsEl.textContent = cur.total + " requests since the endpoint started; " + cur.queue + " in the queue now."; }
    }).catch(function () {}).then(function () { setTimeout(sample, every); });
  }

  pollState();
  sample();
})();

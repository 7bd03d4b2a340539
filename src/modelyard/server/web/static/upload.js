// ModelYard upload page: drag and drop of files and folders, a progress bar per file, and the same upload path as
// the official clients (huggingface_hub): POST .../preupload/{rev}, the LFS batch API (basic and multipart
// transfers) for large/binary files, then the NDJSON commit POST .../commit/{rev}. Requests carry the page's
// X-CSRF-Token, so the API acts as the logged-in user. Resumable: a retry asks the batch API again (objects the
// repo already holds need no upload) and skips multipart parts already sent (kept in localStorage).
// Without this script the form is a plain multipart POST.
(function () {
  "use strict";

  // --- SHA-256, streaming (crypto.subtle needs the whole file in memory, and a secure context) -------------
  var K = new Uint32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
  ]);

  function Sha256() {
    this.h = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
    this.buf = new Uint8Array(64);
    this.bufLen = 0;
    this.len = 0;
    this.w = new Uint32Array(64);
  }
  Sha256.prototype.block = function (d, o) {
    var w = this.w, h = this.h, t, x, y;
    for (t = 0; t < 16; t++) { w[t] = (d[o + 4 * t] << 24) | (d[o + 4 * t + 1] << 16) | (d[o + 4 * t + 2] << 8) | d[o + 4 * t + 3]; }
    for (t = 16; t < 64; t++) {
      x = w[t - 15]; y = w[t - 2];
      w[t] = (w[t - 16] + (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + w[t - 7] +
        (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10))) | 0;
    }
    var a = h[0], b = h[1], c = h[2], e4 = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (t = 0; t < 64; t++) {
      var t1 = (hh + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) +
        ((e & f) ^ (~e & g)) + K[t] + w[t]) | 0;
      var t2 = ((((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) +
        ((a & b) ^ (a & c) ^ (b & c))) | 0;
      hh = g; g = f; f = e; e = (e4 + t1) | 0; e4 = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += e4; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
  };
  Sha256.prototype.update = function (data) {
    var i = 0, n;
    this.len += data.length;
    if (this.bufLen) {
      n = Math.min(64 - this.bufLen, data.length);
      this.buf.set(data.subarray(0, n), this.bufLen);
      this.bufLen += n; i = n;
      if (this.bufLen === 64) { this.block(this.buf, 0); this.bufLen = 0; }
    }
    for (; i + 64 <= data.length; i += 64) { this.block(data, i); }
    if (i < data.length) { this.buf.set(data.subarray(i), 0); this.bufLen = data.length - i; }
    return this;
  };
  Sha256.prototype.hex = function () {
    var bits = this.len * 8, pad = new Uint8Array(((this.bufLen < 56 ? 56 : 120) - this.bufLen) + 8), out = "", i;
    pad[0] = 0x80;
    var hi = Math.floor(bits / 4294967296), lo = bits >>> 0, p = pad.length - 8;
    pad[p] = hi >>> 24; pad[p + 1] = hi >>> 16; pad[p + 2] = hi >>> 8; pad[p + 3] = hi;
    pad[p + 4] = lo >>> 24; pad[p + 5] = lo >>> 16; pad[p + 6] = lo >>> 8; pad[p + 7] = lo;
    var len = this.len;
    this.update(pad);
    this.len = len;
    for (i = 0; i < 8; i++) { out += ("00000000" + this.h[i].toString(16)).slice(-8); }
    return out;
  };

  var SUBTLE_MAX = 64 * 1024 * 1024; // past this (or without crypto.subtle, e.g. plain http), hash in slices
  var SLICE = 8 * 1024 * 1024;

  function hexOf(buf) {
    return Array.prototype.map.call(new Uint8Array(buf), function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  async function sha256File(file, onProgress) {
    if (window.crypto && crypto.subtle && file.size <= SUBTLE_MAX) {
      var digest = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
      if (onProgress) { onProgress(1); }
      return hexOf(digest);
    }
    var h = new Sha256();
    for (var off = 0; off < file.size; off += SLICE) {
      h.update(new Uint8Array(await file.slice(off, off + SLICE).arrayBuffer()));
      if (onProgress) { onProgress(Math.min(1, (off + SLICE) / file.size)); }
    }
    return h.hex();
  }
  window.ModelYardSha256 = { Sha256: Sha256, sha256File: sha256File }; // the tests check it against hashlib

  var form = document.getElementById("upload-form");
  if (!form) { return; }

  var csrf = (document.querySelector("meta[name=csrf-token]") || {}).content || "";
  var input = document.getElementById("upload-files");
  var folderInput = document.getElementById("upload-folder");
  var list = document.getElementById("upload-list");
  var zone = document.getElementById("dropzone");
  var errBox = document.getElementById("upload-error");
  var statusBox = document.getElementById("upload-status");
  var submit = form.querySelector("button[type=submit]");
  var items = [];
  var busy = false;

  document.querySelectorAll(".js-only").forEach(function (el) { el.hidden = false; });
  form.classList.add("js");

  function human(n) {
    var u = ["B", "kB", "MB", "GB", "TB"], i = 0;
    while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
    return (i ? n.toFixed(1) : n) + " " + u[i];
  }

  function addFile(file, path) {
    path = (path || file.webkitRelativePath || file.name).replace(/^\/+/, "");
    items = items.filter(function (it) { if (it.path === path) { it.row.remove(); return false; } return true; });
    var row = document.createElement("li");
    row.className = "upload-item";
    var name = document.createElement("span"); name.className = "upload-path"; name.textContent = path;
    var size = document.createElement("span"); size.className = "upload-size"; size.textContent = human(file.size);
    var bar = document.createElement("progress"); bar.className = "upload-progress"; bar.max = 100; bar.value = 0;
    bar.setAttribute("aria-label", "Upload progress of " + path);
    var note = document.createElement("span"); note.className = "upload-note";
    var rm = document.createElement("button"); rm.type = "button"; rm.className = "upload-remove"; rm.textContent = "×";
    rm.setAttribute("aria-label", "Remove " + path);
    var it = { file: file, path: path, row: row, bar: bar, note: note };
    rm.addEventListener("click", function () { if (!busy) { row.remove(); items = items.filter(function (x) { return x !== it; }); } });
    row.append(name, size, bar, note, rm);
    list.appendChild(row);
    items.push(it);
  }

  function progress(it, frac, text) {
    it.bar.value = Math.round(Math.max(0, Math.min(1, frac)) * 100);
    if (text !== undefined) { it.note.textContent = text; }
  }

  input.addEventListener("change", function () {
    Array.prototype.forEach.call(input.files, function (f) { addFile(f); });
    input.value = "";
  });
  folderInput.addEventListener("change", function () {
    Array.prototype.forEach.call(folderInput.files, function (f) { addFile(f, f.webkitRelativePath); });
    folderInput.value = "";
  });
  input.removeAttribute("name"); // the script sends the files itself

  function readAll(reader) {
    return new Promise(function (resolve, reject) {
      var out = [];
      (function more() {
        reader.readEntries(function (batch) {
          if (!batch.length) { resolve(out); return; }
          out = out.concat(Array.prototype.slice.call(batch)); more();
        }, reject);
      })();
    });
  }

  async function walk(entry, prefix) {
    if (entry.isFile) {
      var file = await new Promise(function (res, rej) { entry.file(res, rej); });
      addFile(file, prefix + entry.name);
    } else if (entry.isDirectory) {
      var children = await readAll(entry.createReader());
      for (var i = 0; i < children.length; i++) { await walk(children[i], prefix + entry.name + "/"); }
    }
  }

  ["dragenter", "dragover"].forEach(function (t) {
    zone.addEventListener(t, function (ev) { ev.preventDefault(); zone.classList.add("over"); });
  });
  zone.addEventListener("dragleave", function () { zone.classList.remove("over"); });
  zone.addEventListener("drop", function (ev) {
    ev.preventDefault();
    zone.classList.remove("over");
    var dt = ev.dataTransfer, pending = [];
    var entries = Array.prototype.map.call(dt.items || [], function (item) {
      return item.kind === "file" && item.webkitGetAsEntry ? item.webkitGetAsEntry() : null;
    });
    Array.prototype.forEach.call(dt.items && dt.items.length ? dt.items : dt.files, function (item, i) {
      if (entries[i]) { pending.push(walk(entries[i], "")); return; }
      var file = item.getAsFile ? item.getAsFile() : item;
      if (file) { addFile(file); }
    });
    Promise.all(pending).catch(function (e) { fail(e); });
  });

  // --- HTTP -----------------------------------------------------------------------------------------------
  function request(method, url, body, headers, onUpload) {
    return new Promise(function (resolve, reject) {
      var x = new XMLHttpRequest();
      x.open(method, url);
      Object.keys(headers || {}).forEach(function (k) { x.setRequestHeader(k, headers[k]); });
      if (onUpload) { x.upload.onprogress = function (e) { if (e.lengthComputable) { onUpload(e.loaded / e.total); } }; }
      x.onload = function () {
        if (x.status >= 200 && x.status < 300) { resolve(x); return; }
        var msg = x.getResponseHeader("X-Error-Message") || "";
        try { msg = JSON.parse(x.responseText).error || JSON.parse(x.responseText).message || msg; } catch (e) { /* not JSON */ }
        reject(new Error(method + " " + url.split("?")[0] + ": " + x.status + (msg ? " " + msg : "")));
      };
      x.onerror = function () { reject(new Error("Network error on " + url.split("?")[0])); };
      x.send(body === undefined ? null : body);
    });
  }

  function api(method, url, json, type) {
    var h = { "X-CSRF-Token": csrf, "Content-Type": type || "application/json", "Accept": type || "application/json" };
    return request(method, url, JSON.stringify(json), h).then(function (x) { return x.responseText ? JSON.parse(x.responseText) : {}; });
  }

  function b64(bytes) {
    var s = "";
    for (var i = 0; i < bytes.length; i += 0x8000) { s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000)); }
    return btoa(s);
  }

  function enc(rev) { return encodeURIComponent(rev); }

  // --- LFS transfers --------------------------------------------------------------------------------------
  async function basicUpload(it, action) {
    await request("PUT", action.href, it.file, Object.assign({ "Content-Type": "application/octet-stream" }, action.header || {}),
      function (f) { progress(it, f, "uploading"); });
  }

  async function multipartUpload(it, action) {
    var header = action.header, chunk = parseInt(header.chunk_size, 10);
    var key = "modelyard-mp:" + it.oid + ":" + it.file.size;
    var done = {};
    try { done = JSON.parse(localStorage.getItem(key) || "{}") || {}; } catch (e) { done = {}; }
    var nums = Object.keys(header).filter(function (k) { return /^\d+$/.test(k); }).map(Number).sort(function (a, b) { return a - b; });
    var parts = [];
    for (var i = 0; i < nums.length; i++) {
      var n = nums[i], start = (n - 1) * chunk, blob = it.file.slice(start, start + chunk);
      if (!done[n]) {
        var x = await request("PUT", header[String(n)], blob, {}, function (f) {
          progress(it, (start + f * blob.size) / it.file.size, "uploading part " + n + "/" + nums.length);
        });
        done[n] = x.getResponseHeader("ETag") || "";
        try { localStorage.setItem(key, JSON.stringify(done)); } catch (e) { /* private mode: not resumable */ }
      } else {
        progress(it, (start + blob.size) / it.file.size, "part " + n + " already sent");
      }
      parts.push({ partNumber: n, etag: done[n] });
    }
    try {
      await api("POST", action.href, { oid: it.oid, parts: parts });
    } catch (e) {
      localStorage.removeItem(key); // the server no longer has these parts: start over next time
      throw e;
    }
    localStorage.removeItem(key);
  }

  async function uploadLfs(lfsItems, createPr, rev) {
    var body = { operation: "upload", transfers: ["basic", "multipart"], hash_algo: "sha256",
      objects: lfsItems.map(function (it) { return { oid: it.oid, size: it.file.size }; }) };
    if (!createPr) { body.ref = { name: rev }; }
    var res = await api("POST", form.dataset.lfsBatch, body, "application/vnd.git-lfs+json");
    var byOid = {};
    lfsItems.forEach(function (it) { byOid[it.oid] = it; });
    for (var i = 0; i < (res.objects || []).length; i++) {
      var obj = res.objects[i], it = byOid[obj.oid];
      if (!it) { continue; }
      if (obj.error) { throw new Error(it.path + ": " + obj.error.message + " (" + obj.error.code + ")"); }
      var actions = obj.actions || {};
      if (!actions.upload) { progress(it, 1, "already on the hub"); continue; }
      if (actions.upload.header && actions.upload.header.chunk_size) { await multipartUpload(it, actions.upload); }
      else { await basicUpload(it, actions.upload); }
      if (actions.verify) {
        await request("POST", actions.verify.href, JSON.stringify({ oid: it.oid, size: it.file.size }),
          Object.assign({ "X-CSRF-Token": csrf, "Content-Type": "application/vnd.git-lfs+json" }, actions.verify.header || {}));
      }
      progress(it, 1, "uploaded");
    }
  }

  // --- the commit -----------------------------------------------------------------------------------------
  async function run() {
    if (!items.length) { throw new Error("Choose at least one file to upload."); }
    var rev = form.dataset.rev;
    var createPr = !!form.querySelector("input[name=create_pr][type=hidden], input[name=create_pr]:checked");
    var q = createPr ? "?create_pr=1" : "";
    var folder = (form.elements.folder.value || "").trim().replace(/^\/+|\/+$/g, "");
    items.forEach(function (it) { it.repoPath = folder ? folder + "/" + it.path : it.path; });
    statusBox.textContent = "Checking the files…";
    var asked = [];
    for (var i = 0; i < items.length; i++) {
      var sample = new Uint8Array(await items[i].file.slice(0, 512).arrayBuffer());
      asked.push({ path: items[i].repoPath, size: items[i].file.size, sample: b64(sample) });
    }
    var pre = await api("POST", form.dataset.api + "/preupload/" + enc(rev) + q, { files: asked });
    var modes = {};
    (pre.files || []).forEach(function (f) { modes[f.path] = f; });
    var lfsItems = [], lines = [];
    items.forEach(function (it) {
      var m = modes[it.repoPath] || {};
      it.mode = m.uploadMode || "regular";
      if (m.shouldIgnore) { progress(it, 0, "ignored (.gitignore)"); it.mode = "ignored"; }
      else if (it.mode === "lfs") { lfsItems.push(it); progress(it, 0, "LFS"); }
      else { progress(it, 0, "sent with the commit"); }
    });
    statusBox.textContent = "Hashing…";
    for (i = 0; i < lfsItems.length; i++) {
      var it = lfsItems[i];
      if (!it.oid) { it.oid = await sha256File(it.file, function (f) { progress(it, f * 0.05, "hashing"); }); }
    }
    if (lfsItems.length) { statusBox.textContent = "Uploading large files…"; await uploadLfs(lfsItems, createPr, rev); }
    statusBox.textContent = "Committing…";
    var header = { summary: form.elements.summary.value.trim() || "Upload files", description: form.elements.description.value };
    lines.push(JSON.stringify({ key: "header", value: header }));
    for (i = 0; i < items.length; i++) {
      it = items[i];
      if (it.mode === "lfs") {
        lines.push(JSON.stringify({ key: "lfsFile", value: { path: it.repoPath, algo: "sha256", oid: it.oid, size: it.file.size } }));
      } else if (it.mode === "regular") {
        var bytes = new Uint8Array(await it.file.arrayBuffer());
        lines.push(JSON.stringify({ key: "file", value: { path: it.repoPath, content: b64(bytes), encoding: "base64" } }));
      }
    }
    var regular = items.filter(function (x) { return x.mode === "regular"; });
    var x = await request("POST", form.dataset.api + "/commit/" + enc(rev) + q, lines.join("\n") + "\n",
      { "X-CSRF-Token": csrf, "Content-Type": "application/x-ndjson" },
      function (f) { regular.forEach(function (r) { progress(r, f, "uploading"); }); });
    regular.forEach(function (r) { progress(r, 1, "committed"); });
    var out = JSON.parse(x.responseText);
    statusBox.textContent = "Done.";
    if (out.pullRequestUrl) { location.href = new URL(out.pullRequestUrl, location.href).pathname; }
    else { location.href = form.dataset.repoUrl + "/tree/" + enc(rev); }
  }

  function fail(e) {
    errBox.hidden = false;
    errBox.textContent = (e && e.message ? e.message : String(e)) + " — press “Commit changes” again to resume.";
    statusBox.textContent = "";
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    if (busy) { return; }
    busy = true; submit.disabled = true; errBox.hidden = true;
    run().catch(fail).finally(function () { busy = false; submit.disabled = false; });
  });
})();

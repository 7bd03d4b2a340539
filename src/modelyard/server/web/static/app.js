// ModelYard web UI: snippet tabs, copy buttons. Pages work without it.
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
  // Boxes that scroll sideways on their own (code blocks, wide card tables) are reachable from the keyboard:
  // a focusable region scrolls with the arrow keys (axe: scrollable-region-focusable).
  function focusableScrollers() {
    document.querySelectorAll("main pre, main .markdown table, main .table-wrap, main .blob").forEach(function (box) {
      var scrolls = box.scrollWidth > box.clientWidth + 1 || box.scrollHeight > box.clientHeight + 1;
      if (scrolls && !box.hasAttribute("tabindex") && !box.querySelector("a, button, input, select, textarea")) {
        box.setAttribute("tabindex", "0");
      }
    });
  }
  focusableScrollers();

  // On a phone the repo tabs scroll sideways in their strip: bring the current one into view.
  document.querySelectorAll("nav.tabs").forEach(function (tabs) {
    var active = tabs.querySelector("a.active");
    if (active && tabs.scrollWidth > tabs.clientWidth) {
      tabs.scrollLeft = Math.max(0, active.offsetLeft - tabs.offsetLeft - 24);
    }
  });
  window.addEventListener("resize", focusableScrollers);
  // The inference widget lives in widget.js (loaded by the pages that show it).

  // Follow a log live (Server-Sent Events from the hub's web routes, with the session cookie) into a <pre> whose
  // data-stream names the stream; `live` (optional) shows the connection's state. Lines are added as text, never
  // HTML; at most 5000 are kept. Used by jobs.js and spaces.js (this file loads before them).
  window.modelyardFollowLog = function (box, live) {
    var MAX_LINES = 5000;
    if (!window.EventSource || !box) { return; }
    var source = new EventSource(box.dataset.stream);
    var fresh = true;  // the stream starts with every line kept so far: replace what the page showed
    function stick() { return box.scrollHeight - box.scrollTop - box.clientHeight < 40; }
    source.addEventListener("open", function () { fresh = true; if (live) { live.textContent = "· live"; } });
    source.addEventListener("message", function (ev) {
      var item;
      try { item = JSON.parse(ev.data); } catch (e) { return; }
      var follow = stick();
      if (fresh) { box.textContent = ""; fresh = false; }
      var line = document.createElement("span");
      line.className = "log-line";
      line.textContent = String(item.data);
      if (item.timestamp) { line.title = item.timestamp; }
      box.appendChild(line);
      box.appendChild(document.createTextNode("\n"));
      while (box.childNodes.length > 2 * MAX_LINES) { box.removeChild(box.firstChild); }
      if (follow) { box.scrollTop = box.scrollHeight; }
    });
    source.addEventListener("end", function () { source.close(); if (live) { live.textContent = "· ended"; } });
    source.addEventListener("error", function () {
      if (live) { live.textContent = source.readyState === EventSource.CLOSED ? "· disconnected" : "· reconnecting"; }
    });
    box.scrollTop = box.scrollHeight;
  };
})();

// Spaces: follow a Space's build or run log live (Server-Sent Events from the hub's own web route, with the
// session cookie). Lines are added as text, never HTML. Without JavaScript the page shows the current lines.
(function () {
  "use strict";
  var MAX_LINES = 5000;

  document.querySelectorAll("pre.space-log[data-stream]").forEach(function (box) {
    if (!window.EventSource) { return; }
    var source = new EventSource(box.dataset.stream);
    var live = document.querySelector("[data-live-for='" + (box.id || "").replace("space-log-", "") + "']");
    var fresh = true;  // the stream starts with every line kept so far: replace what the page showed

    function follow() { return box.scrollHeight - box.scrollTop - box.clientHeight < 40; }

    source.addEventListener("open", function () {
      fresh = true;
      if (live) { live.textContent = "· live"; }
    });
    source.addEventListener("message", function (ev) {
      var item;
      try { item = JSON.parse(ev.data); } catch (e) { return; }
      var stick = follow();
      if (fresh) { box.textContent = ""; fresh = false; }
      var line = document.createElement("span");
      line.className = "log-line";
      line.textContent = String(item.data);
      if (item.timestamp) { line.title = item.timestamp; }
      box.appendChild(line);
      box.appendChild(document.createTextNode("\n"));
      while (box.childNodes.length > 2 * MAX_LINES) { box.removeChild(box.firstChild); }
      if (stick) { box.scrollTop = box.scrollHeight; }
    });
    source.addEventListener("end", function () {
      source.close();
      if (fresh) { fresh = false; }
      if (live) { live.textContent = "· ended"; }
    });
    source.addEventListener("error", function () {
      if (live) { live.textContent = source.readyState === EventSource.CLOSED ? "· disconnected" : "· reconnecting"; }
    });
    box.scrollTop = box.scrollHeight;
  });
})();

// Spaces: follow a Space's build or run log live (app.js's modelyardFollowLog: Server-Sent Events from the hub's
// own web route, with the session cookie). Lines are added as text, never HTML. Without JavaScript the page shows
// the current lines.
(function () {
  "use strict";

  document.querySelectorAll("pre.space-log[data-stream]").forEach(function (box) {
    var live = document.querySelector("[data-live-for='" + (box.id || "").replace("space-log-", "") + "']");
    window.modelyardFollowLog(box, live);
  });
})();

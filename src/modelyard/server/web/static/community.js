// Community pages (discussions, pull requests, repo settings). Pages work without it: forms POST and redirect.
// With htmx (vendored, loaded by base.html) the comment form posts in place; this file resets the form after a
// successful post, reports errors in the form's alert, and asks for confirmation on forms marked data-confirm.
(function () {
  "use strict";

  function alertFor(form) {
    var id = form.getAttribute("data-error") || "comment-error";
    return document.getElementById(id);
  }

  document.body.addEventListener("htmx:afterRequest", function (evt) {
    var form = evt.detail && evt.detail.elt;
    if (!form || !form.hasAttribute || !form.hasAttribute("data-reset-after")) { return; }
    var box = alertFor(form);
    if (evt.detail.successful) {
      form.reset();
      if (box) { box.hidden = true; box.textContent = ""; }
      var last = document.querySelector("#thread-events > li:last-child");
      if (last && last.id) { last.scrollIntoView({ block: "nearest" }); }
    }
  });

  document.body.addEventListener("htmx:responseError", function (evt) {
    var form = evt.detail && evt.detail.elt;
    if (!form || !form.hasAttribute || !form.hasAttribute("data-reset-after")) { return; }
    var box = alertFor(form);
    if (!box) { return; }
    var xhr = evt.detail.xhr;
    var message = "";
    try {
      var doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
      var found = doc.querySelector("#thread-error, .error-message, [role=alert]:not([hidden])");
      message = found ? found.textContent.trim() : "";
    } catch (e) { message = ""; }
    box.textContent = message || ("The comment could not be posted (" + xhr.status + "). Reload the page and try again.");
    box.hidden = false;
  });

  document.body.addEventListener("htmx:sendError", function (evt) {
    var form = evt.detail && evt.detail.elt;
    var box = form && form.hasAttribute && form.hasAttribute("data-reset-after") ? alertFor(form) : null;
    if (box) { box.textContent = "The hub could not be reached: check your connection and try again."; box.hidden = false; }
  });

  // Typed confirmation (repo delete): the button stays disabled until the exact repo id is typed. The server
  // checks it again (a mismatch is a 400), so this is only a convenience.
  document.querySelectorAll("input[data-confirm-value]").forEach(function (input) {
    var form = input.form;
    var button = form ? form.querySelector("button[type=submit]") : null;
    if (!button) { return; }
    function sync() { button.disabled = input.value !== input.getAttribute("data-confirm-value"); }
    input.addEventListener("input", sync);
    sync();
  });
})();

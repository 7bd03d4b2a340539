// Account pages: the token form shows its fine-grained fields only for the fine-grained role. Works without it.
(function () {
  "use strict";
  document.querySelectorAll("[data-token-form]").forEach(function (form) {
    var fine = form.querySelector("[data-fine-grained]");
    if (!fine) return;
    function sync() {
      var role = form.querySelector("select[name=role]");
      fine.hidden = !role || role.value !== "fineGrained";
    }
    var select = form.querySelector("select[name=role]");
    if (select) select.addEventListener("change", sync);
    sync();
  });
})();

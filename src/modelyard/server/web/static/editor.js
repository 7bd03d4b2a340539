// ModelYard edit pages: the new-repo form's private default per owner, and the model-card editor's live preview
// and validation (POST {repo}/card-preview: the sanitised HTML and the validate-yaml messages of the README the
// form would commit). The pages work without it: the server validates again on commit (422 with the messages).
(function () {
  "use strict";

  // New repo: an organisation may make new repos private by default (Accounts.default_private).
  var owner = document.querySelector("#new-repo-form select[name=owner]");
  var priv = document.querySelector("#new-repo-form input[name=private]");
  if (owner && priv) {
    var touched = false;
    priv.addEventListener("change", function () { touched = true; });
    owner.addEventListener("change", function () {
      var opt = owner.options[owner.selectedIndex];
      if (!touched && opt) { priv.checked = opt.dataset.private === "1"; }
    });
  }

  var form = document.querySelector("form[data-preview-url]");
  if (!form) { return; }
  var preview = document.getElementById("card-preview");
  var errors = document.getElementById("card-errors");
  var timer = null, seq = 0;

  function showErrors(list) {
    errors.textContent = "";
    if (!list.length) { return; }
    var p = document.createElement("p"), b = document.createElement("b"), ul = document.createElement("ul");
    b.textContent = "The metadata is invalid:";
    p.appendChild(b);
    list.forEach(function (m) { var li = document.createElement("li"); li.textContent = m; ul.appendChild(li); });
    errors.append(p, ul);
  }

  function refresh() {
    var mine = ++seq;
    var body = new URLSearchParams(new FormData(form));
    fetch(form.dataset.previewUrl, {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded" }
    }).then(function (r) {
      if (!r.ok) { throw new Error("preview failed: " + r.status); }
      return r.json();
    }).then(function (data) {
      if (mine !== seq) { return; } // an older answer
      preview.innerHTML = data.html; // sanitised server-side (nh3), like every rendered card
      showErrors(data.errors || []);
      form.dataset.valid = (data.errors || []).length ? "false" : "true";
    }).catch(function (e) { showErrors([String(e.message || e)]); });
  }

  form.addEventListener("input", function (ev) {
    if (ev.target && (ev.target.name === "summary" || ev.target.name === "description")) { return; }
    clearTimeout(timer);
    timer = setTimeout(refresh, 300);
  });
  form.addEventListener("change", function () { clearTimeout(timer); timer = setTimeout(refresh, 300); });
})();

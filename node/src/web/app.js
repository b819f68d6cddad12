// The contribution form's live check of the direct line: the node answers with what
// the rules make of the number (a mobile is refused). The form works without this.
(function () {
  "use strict";
  var phone = document.getElementById("phone");
  var region = document.getElementById("region");
  var out = document.getElementById("phone-check");
  if (!phone || !out) { return; }
  var timer = null;
  var asked = 0;
  function check() {
    var n = phone.value.trim();
    if (n === "") { out.textContent = ""; return; }
    var mine = ++asked;
    var q = "number=" + encodeURIComponent(n) +
      "&region=" + encodeURIComponent(region ? region.value.trim() : "");
    fetch("/contribute/phone-check?" + q, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : ""; })
      .then(function (t) {
        if (mine !== asked) { return; }
        out.textContent = t;
        out.className = t.indexOf("Refused") === 0 ? "error" : "hint";
      })
      .catch(function () {});
  }
  function later() { clearTimeout(timer); timer = setTimeout(check, 250); }
  phone.addEventListener("input", later);
  if (region) { region.addEventListener("input", later); }
})();

// netrca report: filter and expand incidents. Reads text with textContent only.
(function () {
  "use strict";
  var list = document.querySelectorAll("details.incident");
  var text = document.getElementById("f-text");
  var cat = document.getElementById("f-category");
  var sev = document.getElementById("f-severity");
  var count = document.getElementById("f-count");
  function apply() {
    var q = (text && text.value || "").trim().toLowerCase();
    var c = cat ? cat.value : "";
    var s = sev ? sev.value : "";
    var shown = 0;
    for (var i = 0; i < list.length; i++) {
      var d = list[i];
      var ok = (!c || d.getAttribute("data-category") === c) &&
               (!s || d.getAttribute("data-severity") === s) &&
               (!q || (d.getAttribute("data-text") || "").indexOf(q) >= 0);
      d.hidden = !ok;
      if (ok) { shown++; }
    }
    if (count) { count.textContent = shown + " of " + list.length + " shown"; }
  }
  [text, cat, sev].forEach(function (e) { if (e) { e.addEventListener("input", apply); } });
  function setAll(open) {
    for (var i = 0; i < list.length; i++) { if (!list[i].hidden) { list[i].open = open; } }
  }
  var ex = document.getElementById("expand-all");
  var co = document.getElementById("collapse-all");
  if (ex) { ex.addEventListener("click", function () { setAll(true); }); }
  if (co) { co.addEventListener("click", function () { setAll(false); }); }
  var bands = document.querySelectorAll("[data-incident]");
  for (var j = 0; j < bands.length; j++) {
    bands[j].addEventListener("click", function (ev) {
      var id = ev.currentTarget.getAttribute("data-incident");
      var d = document.getElementById("inc-" + id);
      if (d) { d.hidden = false; d.open = true; d.scrollIntoView({block: "start"}); }
    });
  }
  apply();
})();

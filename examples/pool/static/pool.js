// Optional: a "select all" checkbox for the machines table. The page works without it.
document.addEventListener("DOMContentLoaded", function () {
  var all = document.getElementById("select-all");
  if (!all) return;
  all.hidden = false;
  all.addEventListener("change", function () {
    document.querySelectorAll('input[type=checkbox][name=mac]').forEach(function (c) { c.checked = all.checked; });
  });
});

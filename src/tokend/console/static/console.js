// Progressive enhancement only: every page works without this file.
// - forms with data-confirm ask before a dangerous action;
// - buttons with data-copy copy a shown-once secret to the clipboard.
"use strict";
document.documentElement.classList.add("js");
document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form.getAttribute && form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
document.addEventListener("click", function (event) {
  var button = event.target.closest && event.target.closest("[data-copy]");
  if (!button || !navigator.clipboard) {
    return;
  }
  var source = document.getElementById(button.getAttribute("data-copy"));
  if (source) {
    navigator.clipboard.writeText(source.textContent).then(function () {
      button.textContent = "Copied";
    });
  }
});

// Carehub: small progressive enhancements. Every page works without this file.
(function () {
  "use strict";
  // Menus built on <details data-dismiss> close on Escape and on a click elsewhere.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details[data-dismiss][open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.removeAttribute("open");
    });
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    document.querySelectorAll("details[data-dismiss][open]").forEach(function (menu) {
      menu.removeAttribute("open");
      var summary = menu.querySelector("summary");
      if (summary) summary.focus();
    });
  });

  // A navigation bar wider than a phone scrolls sideways: show the current section.
  var current = document.querySelector(".mainnav a[aria-current='page']");
  if (current && current.parentElement.scrollWidth > current.parentElement.clientWidth) {
    var bar = current.parentElement;
    var tab = current.getBoundingClientRect(), box = bar.getBoundingClientRect();
    bar.scrollLeft += tab.left - box.left - (box.width - tab.width) / 2;
  }

  // When an htmx update fails, say so where the results were, instead of silently doing nothing.
  function tell(event, message) {
    var target = event.detail && event.detail.target;
    if (!target) return;
    var old = target.querySelector(":scope > .notice-request");
    if (old) old.remove();
    var note = document.createElement("div");
    note.className = "notice notice-danger notice-request";
    note.setAttribute("role", "alert");
    note.textContent = message;
    target.prepend(note);
  }
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr ? event.detail.xhr.status : "";
    tell(event, "Carehub could not load this (error " + status + "). Nothing was changed; please try again.");
  });
  document.addEventListener("htmx:sendError", function (event) {
    tell(event, "Carehub could not be reached. Check the connection and try again.");
  });
})();

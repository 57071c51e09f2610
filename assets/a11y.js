/* Accessible names and states that the Dash, dbc and DataTable components cannot be given from
   Python (they accept no aria-* props): served by Dash with the other files of assets/.
   - a slider thumb or file input inside an element with data-a11y-label gets that text as aria-label;
   - the DataTable pager's icon buttons and page box get names;
   - the navbar's active link gets aria-current="page" (dbc marks it with the class only).
   Applied after each DOM change (batched), so it follows React's re-renders and page changes. */
(function () {
  "use strict";
  var PAGER = {"first-page": "First page", "previous-page": "Previous page", "next-page": "Next page",
               "last-page": "Last page", "current-page": "Page number"};

  function name(el, text) {
    if (text && el.getAttribute("aria-label") !== text) { el.setAttribute("aria-label", text); }
  }

  function apply() {
    document.querySelectorAll("[data-a11y-label]").forEach(function (box) {
      var text = box.getAttribute("data-a11y-label");
      box.querySelectorAll("[role=slider], input[type=file]").forEach(function (el) { name(el, text); });
    });
    document.querySelectorAll(".previous-next-container button, .previous-next-container input").forEach(
      function (el) { name(el, PAGER[el.classList[0]]); });
    document.querySelectorAll(".navbar .nav-link").forEach(function (a) {
      if (a.classList.contains("active")) {
        if (a.getAttribute("aria-current") !== "page") { a.setAttribute("aria-current", "page"); }
      } else if (a.hasAttribute("aria-current")) {
        a.removeAttribute("aria-current");
      }
    });
  }

  var queued = false;
  function schedule() {
    if (queued) { return; }
    queued = true;
    setTimeout(function () { queued = false; apply(); }, 30);
  }
  new MutationObserver(schedule).observe(document.documentElement, {
    subtree: true, childList: true, attributes: true, attributeFilter: ["class"]});
  schedule();
})();

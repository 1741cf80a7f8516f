// Live updates: the server sends "board" when any alert changes and "tick" every 30 s; the
// page then re-fetches its live parts (elements with data-live) and keeps keyboard focus.
(function () {
  "use strict";
  var parts = document.querySelectorAll("[data-live]");
  var status = document.getElementById("live-status");
  if (!parts.length || !window.EventSource) { return; }

  function focusKey() {
    var el = document.activeElement;
    if (!el || !el.closest("[data-live]")) { return null; }
    return el.getAttribute("href") || el.getAttribute("aria-label") || null;
  }

  function refocus(key) {
    if (!key) { return; }
    var all = document.querySelectorAll("[data-live] a, [data-live] button");
    for (var i = 0; i < all.length; i++) {
      if (all[i].getAttribute("href") === key || all[i].getAttribute("aria-label") === key) {
        all[i].focus(); return;
      }
    }
  }

  function refresh() {
    var key = focusKey();
    parts.forEach(function (part) {
      fetch(part.getAttribute("data-live"), { credentials: "same-origin" })
        .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.text(); })
        .then(function (html) {
          part.innerHTML = html;
          refocus(key);
          if (status) { status.textContent = "Live · updated " + new Date().toLocaleTimeString(); }
        })
        .catch(function () { if (status) { status.textContent = "Live updates paused; reload the page"; } });
    });
  }

  var source = new EventSource("/events");
  source.addEventListener("board", refresh);
  source.addEventListener("tick", refresh);
  source.onopen = function () { if (status) { status.textContent = "Live"; } };
  source.onerror = function () { if (status) { status.textContent = "Reconnecting…"; } };
})();

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

  // Someone else acted: an acknowledged alert offers no Acknowledge, a resolved one no actions.
  function followState(part) {
    var facts = part.querySelector("[data-state]");
    var actions = document.getElementById("actions");
    if (!facts || !actions) { return; }
    var state = facts.getAttribute("data-state");
    actions.setAttribute("data-state", state);
    actions.hidden = state === "resolved";
    var ack = actions.querySelector(".ack-form");
    if (ack) { ack.hidden = state !== "open" && state !== "escalated"; }
  }

  function refresh() {
    var key = focusKey();
    parts.forEach(function (part) {
      var opened = Array.prototype.map.call(part.querySelectorAll("details[open]"),
                                            function (d) { return d.id; });
      fetch(part.getAttribute("data-live"), { credentials: "same-origin" })
        .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.text(); })
        .then(function (html) {
          part.innerHTML = html;
          opened.forEach(function (id) {
            var again = id && document.getElementById(id);
            if (again) { again.open = true; }
          });
          followState(part);
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

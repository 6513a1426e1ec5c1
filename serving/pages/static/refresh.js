// Reload the page once the watcher has run another pass (the service answers /ops/pass with
// the latest pass's time). No library, no network beyond the service itself.
(function () {
  "use strict";
  var shown = document.body.getAttribute("data-watched") || "";
  var every = 15000;
  function check() {
    fetch("/ops/pass", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        if (body && (body.watched_at || "") !== shown) { window.location.reload(); }
      })
      .catch(function () { /* the service restarts: try again at the next tick */ })
      .finally(function () { window.setTimeout(check, every); });
  }
  window.setTimeout(check, every);
})();

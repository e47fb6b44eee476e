// Patrol web page: small progressive enhancements. Everything works without it.
(function () {
  "use strict";
  function ready(fn) {
    if (document.readyState !== "loading") fn(); else document.addEventListener("DOMContentLoaded", fn);
  }
  ready(function () {
    // Copy the one-time token. The button is hidden until this script runs:
    // without it, the token is still selectable in its field.
    var copy = document.getElementById("copy-token");
    if (copy) {
      copy.hidden = false;
      copy.addEventListener("click", function () {
        var input = document.getElementById(copy.getAttribute("data-copy"));
        var status = document.getElementById("copy-status");
        if (!input) return;
        var done = function (ok) {
          if (status) status.textContent = ok ? "Copied to the clipboard." : "Select the token and copy it (Ctrl+C).";
        };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(input.value).then(function () { done(true); }, function () { done(false); });
        } else {
          input.select();
          try { done(document.execCommand("copy")); } catch (e) { done(false); }
          copy.focus();
        }
      });
    }
    // Expiry: the date field only matters for "Custom date".
    var expiry = document.getElementById("expiry");
    var date = document.getElementById("expiry-date");
    if (expiry && date) {
      var syncDate = function () {
        var custom = expiry.value === "custom";
        date.hidden = !custom;
        date.required = custom;
      };
      expiry.addEventListener("change", function () { syncDate(); if (expiry.value === "custom") date.focus(); });
      syncDate();
    }
    // Scopes: the picker only matters for "Custom defined".
    var full = document.getElementById("scopes-full");
    var custom = document.getElementById("scopes-custom");
    var picker = document.getElementById("scope-picker");
    if (full && custom && picker) {
      var syncScopes = function () {
        var off = full.checked;
        picker.classList.toggle("disabled", off);
        picker.querySelectorAll("input[type=checkbox]").forEach(function (c) { c.disabled = off; });
      };
      full.addEventListener("change", syncScopes);
      custom.addEventListener("change", syncScopes);
      syncScopes();
    }
  });
})();

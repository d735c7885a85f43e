// Progressive enhancement only: every page works without it. A part of a form that depends
// on a box (the notifiable disease with criterion 4, a product's description) appears as soon
// as the box is ticked; without JavaScript the server shows it after "Continuer".
(function () {
  "use strict";
  var blocks = document.querySelectorAll("[data-reveal-when]");
  if (!blocks.length) {
    return;
  }

  function isTicked(rule) {
    var cut = rule.indexOf("=");
    var name = rule.slice(0, cut);
    var value = rule.slice(cut + 1);
    var boxes = document.querySelectorAll("input[type=checkbox]");
    for (var i = 0; i < boxes.length; i++) {
      if (boxes[i].name === name && boxes[i].value === value && boxes[i].checked) {
        return true;
      }
    }
    return false;
  }

  function update() {
    for (var i = 0; i < blocks.length; i++) {
      var block = blocks[i];
      var on = isTicked(block.getAttribute("data-reveal-when"));
      block.hidden = !on;
      var parts = block.querySelectorAll(".portal-reveal__fields, input[name=_shown]");
      for (var j = 0; j < parts.length; j++) {
        parts[j].disabled = !on;
      }
    }
  }

  document.addEventListener("change", function (event) {
    if (event.target && event.target.type === "checkbox") {
      update();
    }
  });
})();

// Administration, a new account: only the scope field the chosen role needs is shown (and
// posted). Without JavaScript every scope field is shown, each labelled with its role.
(function () {
  "use strict";
  var scopes = document.querySelectorAll("[data-scope-of]");
  if (!scopes.length) {
    return;
  }

  function update() {
    var chosen = document.querySelector("input[name=role]:checked");
    var role = chosen ? chosen.value : "";
    for (var i = 0; i < scopes.length; i++) {
      var on = !role || scopes[i].getAttribute("data-scope-of") === role;
      scopes[i].hidden = !on;
      var fields = scopes[i].querySelectorAll("input, select");
      for (var j = 0; j < fields.length; j++) {
        fields[j].disabled = !on;
      }
    }
  }

  document.addEventListener("change", function (event) {
    if (event.target && event.target.name === "role") {
      update();
    }
  });
  update();
})();

// The CPias queue (/cases): new cases appear without reloading the page. Every few seconds
// the table is asked again (/cases/results, with the same filters and the moment the page was
// shown); it is put in place of the old one when it changed and no one is working in it, the
// title counts the new urgent cases ("(2) Dossiers du CPias") and a polite live region says
// how many arrived. Without JavaScript, the "Filtrer" button reloads the list.
(function () {
  "use strict";
  var region = document.getElementById("cases-results");
  if (!region || !window.fetch || !window.DOMParser) {
    return;
  }
  var url = region.getAttribute("data-poll-url");
  var every = Math.max(parseFloat(region.getAttribute("data-poll-seconds")) || 15, 1) * 1000;
  var live = document.getElementById("cases-live");
  var title = document.title;
  var announced = 0;
  var hints = document.querySelectorAll(".portal-live-hint");
  for (var i = 0; i < hints.length; i++) {
    hints[i].hidden = false;
  }

  function plural(n, one, many) {
    return n + " " + (n > 1 ? many : one);
  }

  function apply(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var fresh = doc.querySelector("[data-cases-fragment]");
    var old = region.querySelector("[data-cases-fragment]");
    if (!fresh || !old) {
      return;
    }
    var urgent = parseInt(fresh.getAttribute("data-new-urgent"), 10) || 0;
    var arrived = parseInt(fresh.getAttribute("data-fresh"), 10) || 0;
    document.title = urgent > 0 ? "(" + urgent + ") " + title : title;
    var busy = region.contains(document.activeElement) && document.activeElement !== document.body;
    if (!busy && fresh.innerHTML !== old.innerHTML) {
      region.replaceChild(document.importNode(fresh, true), old);
    }
    if (live && arrived > announced) {
      live.textContent =
        plural(arrived, "nouveau dossier", "nouveaux dossiers") +
        (urgent > 0 ? ", dont " + plural(urgent, "urgent", "urgents") : "") +
        " depuis l’ouverture de la page.";
    }
    announced = Math.max(announced, arrived);
  }

  function poll() {
    if (document.hidden) {
      window.setTimeout(poll, every);
      return;
    }
    window
      .fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        // Signed out or refused (a redirection to the sign-in page): stop asking.
        if (!response.ok || response.redirected) {
          return null;
        }
        return response.text();
      })
      .then(function (html) {
        if (html !== null) {
          apply(html);
          window.setTimeout(poll, every);
        }
      })
      .catch(function () {
        window.setTimeout(poll, every * 2);
      });
  }

  window.setTimeout(poll, every);
})();

// A form refused on a case's page comes back at its anchor (#statut, #suggestion-2…): the
// browser scrolls there but leaves the focus at the top. Put it on the first field in error,
// or the first problems, from the anchor on, so that a keyboard or screen reader user starts
// where the answer is. A filtered list, or another page of it, opens at its caption or
// heading (tabindex="-1"): the focus goes there, so the next Tab is in the list and a screen
// reader says how many it holds. On "load": the DSFR's script, started before, would take it
// back.
window.addEventListener("load", function () {
  "use strict";
  var target = location.hash && document.getElementById(location.hash.slice(1));
  if (!target || target.matches(".fr-alert--error")) {
    return; // no anchor, or a summary of problems the browser has focused already
  }
  var after = Node.DOCUMENT_POSITION_FOLLOWING | Node.DOCUMENT_POSITION_CONTAINED_BY;
  var found = document.querySelectorAll("[aria-invalid='true'], .fr-alert--error");
  for (var i = 0; i < found.length; i++) {
    if (target.compareDocumentPosition(found[i]) & after) {
      if (!found[i].hasAttribute("aria-invalid")) {
        found[i].setAttribute("tabindex", "-1");
      }
      found[i].focus();
      return;
    }
  }
  if (target.getAttribute("tabindex") === "-1") {
    target.focus();
  }
});

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

// The main menu folds behind a button on narrow screens (kennel.css, below 1024 px). Loaded without
// defer: the "js" class is on <html> before the first paint, so the menu is folded from the start.
// Without JavaScript the class never appears and the menu stays open, as a list that fits the screen.
"use strict";

document.documentElement.classList.add("js");

function menuSet(button, open) {
  const menu = document.getElementById(button.getAttribute("aria-controls"));
  button.setAttribute("aria-expanded", String(open));
  if (menu) {
    menu.classList.toggle("is-open", open);
  }
}

document.addEventListener("click", (event) => {
  const button = event.target instanceof Element ? event.target.closest("[data-menu-toggle]") : null;
  if (button) {
    menuSet(button, button.getAttribute("aria-expanded") !== "true");
  }
});

// Escape folds an open menu and gives the focus back to its button.
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") {
    return;
  }
  for (const button of document.querySelectorAll('[data-menu-toggle][aria-expanded="true"]')) {
    menuSet(button, false);
    button.focus();
  }
});

// Kennel's own behaviour, in a file so the Content-Security-Policy can forbid inline scripts and eval.
// Markup asks for it with data- attributes; nothing here knows about particular pages.
"use strict";

document.addEventListener("change", (event) => {
  const field = event.target;
  if (!(field instanceof HTMLElement)) {
    return;
  }
  // <select data-autosubmit>: choosing an option submits its form (language, a person's role).
  if (field.hasAttribute("data-autosubmit") && field.form) {
    field.form.submit();
    return;
  }
  // data-narrow-on="a b": a change of field a or b fires "narrow" on that element (its hx-trigger).
  const container = field.closest("[data-narrow-on]");
  if (container && container.dataset.narrowOn.split(/\s+/).includes(field.getAttribute("name"))) {
    container.dispatchEvent(new CustomEvent("narrow"));
  }
});

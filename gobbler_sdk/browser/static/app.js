// gobbler-sdk browse: the only script. Pages work without it; it adds two conveniences.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // "/" focuses the search box, as on many code and data hosting sites.
  document.addEventListener("keydown", (event) => {
    const target = event.target;
    const typing = target instanceof HTMLInputElement || target instanceof HTMLSelectElement;
    if (event.key === "/" && !typing) {
      const box = document.getElementById("filter") || document.getElementById("search");
      if (box) { event.preventDefault(); box.focus(); box.select(); }
    }
  });
  // The file filter submits itself after a pause in typing (the server filters and pages).
  for (const input of document.querySelectorAll("input[data-autosubmit]")) {
    let timer = null;
    input.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => input.form.requestSubmit(), 400);
    });
    // Back from such a submission, typing goes on where it stopped.
    if (input.value && new URLSearchParams(location.search).has("q")) {
      input.focus();
      input.setSelectionRange(input.value.length, input.value.length);
    }
  }
});

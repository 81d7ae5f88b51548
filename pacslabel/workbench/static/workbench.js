// Keyboard labelling on the study page: choose a finding with the arrows (or j/k),
// set its state with 1-4, save with Enter, show or hide the hints with h.
// The form works without this script (radio buttons and a submit button).
(function () {
  "use strict";
  const form = document.getElementById("labels");
  if (!form) {
    const start = document.getElementById("start");
    if (start) {
      document.addEventListener("keydown", function (event) {
        if (event.key === "Enter") { window.location.href = start.href; }
      });
    }
    return;
  }
  const rows = Array.from(form.querySelectorAll("tr.finding"));
  let current = 0;
  function select(index) {
    if (index < 0 || index >= rows.length) { return; }
    rows[current].classList.remove("active");
    current = index;
    rows[current].classList.add("active");
    rows[current].scrollIntoView({ block: "nearest" });
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    const key = event.key;
    if (key === "ArrowDown" || key === "j") { select(current + 1); event.preventDefault(); }
    else if (key === "ArrowUp" || key === "k") { select(current - 1); event.preventDefault(); }
    else if (key >= "1" && key <= "4") {
      const radios = rows[current].querySelectorAll("input[type=radio]");
      radios[Number(key) - 1].checked = true;
      select(current + 1);
      event.preventDefault();
    } else if (key === "Enter") { form.submit(); event.preventDefault(); }
    else if (key === "h") {
      form.dataset.hints = form.dataset.hints === "1" ? "0" : "1";
      event.preventDefault();
    }
  });
})();

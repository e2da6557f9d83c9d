// Editable rows (a job type's parameters, its recovery list): add, remove and move rows;
// on submit the rows become the action form's JSON body, which poms.js then sends.
(function () {
  "use strict";

  function collect(form) {
    const body = {};
    for (const table of form.querySelectorAll("table[data-field]")) {
      const rows = [...table.tBodies[0].rows];
      if (table.dataset.kind === "pairs") {
        body[table.dataset.field] = rows
          .map(function (tr) { return [tr.querySelector(".key").value, tr.querySelector(".value").value]; })
          .filter(function (pair) { return pair[0] !== "" || pair[1] !== ""; });
      } else {
        body[table.dataset.field] = rows.map(function (tr, index) {
          const raw = tr.querySelector(".overrides").value.trim();
          let overrides;
          try { overrides = raw ? JSON.parse(raw) : []; } catch (e) {
            throw new Error("entry " + index + ": param overrides are not JSON like [[\"key\", \"value\"]]");
          }
          return { recovery_type: tr.querySelector(".type").value, param_overrides: overrides };
        });
      }
    }
    return body;
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest("button[data-row]");
    if (!button) return;
    event.preventDefault();
    const box = button.closest("fieldset");
    const tr = button.closest("tr");
    const op = button.dataset.row;
    if (op === "add") box.querySelector("tbody").appendChild(box.querySelector("template").content.cloneNode(true));
    else if (op === "remove") tr.remove();
    else if (op === "up" && tr.previousElementSibling) tr.parentNode.insertBefore(tr, tr.previousElementSibling);
    else if (op === "down" && tr.nextElementSibling) tr.parentNode.insertBefore(tr.nextElementSibling, tr);
  });

  document.addEventListener("submit", function (event) {
    const form = event.target.closest("form[data-rows]");
    if (!form) return;
    try {
      form.dataset.body = JSON.stringify(collect(form));
    } catch (e) {
      event.preventDefault();
      event.stopPropagation();  // poms.js does not send it
      const output = form.querySelector("output");
      output.textContent = e.message;
      output.className = "error";
    }
  }, true);
})();

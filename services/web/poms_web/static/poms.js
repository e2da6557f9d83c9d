// POMS pages: action forms call /api/v1 with fetch and show the answer beside the form.
// Pages are complete without this script; only the actions need it.
(function () {
  "use strict";

  function fieldsOf(form) {
    const body = {};
    for (const el of form.elements) {
      if (!el.name || el.type === "file" || el.disabled) continue;
      if (el.type === "checkbox") body[el.name] = el.checked;
      else if (el.type === "number") body[el.name] = el.value === "" ? null : Number(el.value);
      else body[el.name] = el.value;
    }
    return body;
  }

  function fill(template, body) {
    // "{tag}" in the address takes that field's value (and the field leaves the body)
    return template.replace(/\{(\w+)\}/g, function (_, name) {
      const value = body[name] || "";
      delete body[name];
      return encodeURIComponent(value);
    });
  }

  function show(output, text, failed) {
    output.textContent = "";
    const pre = document.createElement(text.indexOf("\n") >= 0 ? "pre" : "span");
    pre.textContent = text;
    output.appendChild(pre);
    output.className = failed ? "error" : "ok";
  }

  function describe(answer) {
    if (answer === null) return "done";
    if (answer.commands) return "Commands:\n" + [].concat(answer.commands).join("\n");
    if (answer.steps) {
      return answer.steps.map(function (s) {
        return s.recovery_type + ": " + s.count + " file(s)" + (s.jobs ? ", " + s.jobs + " job(s)" : "") +
          (s.note ? " — " + s.note : "") + (s.files && s.files.length ? "\n  " + s.files.join("\n  ") : "");
      }).join("\n") || "nothing to recover";
    }
    if (answer.submission_id) return "submission " + answer.submission_id + " (" + (answer.status || "accepted") + ")";
    return answer.message || answer.status || JSON.stringify(answer);
  }

  async function submit(form) {
    const output = form.querySelector("output") || form.appendChild(document.createElement("output"));
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
    const method = (form.dataset.method || "POST").toUpperCase();
    let body = Object.assign(fieldsOf(form), form.dataset.body ? JSON.parse(form.dataset.body) : {});
    let url = fill(form.dataset.api, body);
    const init = { method: method, credentials: "same-origin", headers: { Accept: "application/json" } };
    const file = form.querySelector("input[type=file]");
    if (form.hasAttribute("data-upload") && file && file.files.length) {
      init.headers["Content-Type"] = "text/plain; charset=utf-8";
      init.body = await file.files[0].text();
    } else if (method === "GET" || form.hasAttribute("data-query")) {
      const query = new URLSearchParams();
      Object.keys(body).forEach(function (k) { if (body[k] !== "" && body[k] !== null) query.set(k, body[k]); });
      if ([...query].length) url += (url.indexOf("?") >= 0 ? "&" : "?") + query.toString();
    } else {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    show(output, "working…", false);
    let answer = null;
    let response;
    try {
      response = await fetch(url, init);
      const text = await response.text();
      try { answer = text ? JSON.parse(text) : null; } catch (e) { answer = { message: text }; }
    } catch (e) {
      show(output, "could not reach the server: " + e, true);
      return;
    }
    if (!response.ok && response.status !== 423) {
      const error = (answer && answer.error) || {};
      show(output, (error.message || response.statusText || "failed") + " (" + response.status + ")", true);
      return;
    }
    if (response.status === 423) {
      show(output, (answer.error && answer.error.message) || "held", false);
      return;
    }
    show(output, describe(answer), false);
    if (form.dataset.then === "reload") window.setTimeout(function () { window.location.reload(); }, 600);
  }

  document.addEventListener("submit", function (event) {
    const form = event.target.closest("form[data-api]");
    if (!form) return;
    event.preventDefault();
    submit(form);
  });

  document.addEventListener("change", function (event) {
    const form = event.target.closest("form[data-autosubmit]");
    if (form) form.submit();
  });
})();

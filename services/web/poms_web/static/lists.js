// The list pages' script: cron previews as one types and saving a schedule (schedules
// page), cloning a sample (samples page), bulk actions on ticked campaigns (campaigns
// page). The pages are complete without it; the forms' plain submit previews on the server.
(function () {
  "use strict";

  async function call(method, url, body) {
    const init = { method: method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, init);
    } catch (e) {
      return { ok: false, status: 0, answer: null, message: "could not reach the server: " + e };
    }
    const text = await response.text();
    let answer = null;
    try { answer = text ? JSON.parse(text) : null; } catch (e) { answer = { message: text }; }
    const error = (answer && answer.error) || {};
    const message = response.ok ? "" :
      (error.message || response.statusText || "failed") + " (" + response.status + ")";
    return { ok: response.ok, status: response.status, answer: answer, message: message };
  }

  function say(output, text, failed) {
    output.textContent = text;
    output.className = failed ? "error" : "ok";
  }

  function fieldError(form, input, text) {
    const span = form.querySelector(".field-error");
    if (span) span.textContent = text || "";
    if (text) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }

  function leave(keep) {
    // reload without the preview fields a plain submit put in the address
    const url = new URL(window.location.href);
    ["edit", "cron", "stage", "save", "sample", "to", "check"].forEach(function (k) {
      if (keep.indexOf(k) < 0) url.searchParams.delete(k);
    });
    window.setTimeout(function () { window.location.assign(url.toString()); }, 600);
  }

  // ---- schedules: the next runs of the cron typed, then PUT /stages/<id>/schedule ----------

  function utc(iso) { return iso.replace("T", " ").slice(0, 19) + " UTC"; }

  async function preview(form) {
    const input = form.elements.cron;
    const url = form.dataset.preview + "?" + new URLSearchParams({ cron: input.value });
    const result = await call("GET", url);
    if (!result.ok) {
      fieldError(form, input, result.message);
      return false;
    }
    const list = form.querySelector("ol.next-runs");
    list.textContent = "";
    result.answer.next_runs.forEach(function (t) {
      const item = document.createElement("li");
      item.textContent = utc(t);
      list.appendChild(item);
    });
    fieldError(form, input, result.answer.error);
    return result.answer.valid;
  }

  async function saveSchedule(form) {
    const output = form.querySelector("output");
    const input = form.elements.cron;
    if (!(await preview(form))) return;
    let url = form.dataset.endpoint;
    if (form.elements.stage) url = url.replace("{stage}", encodeURIComponent(form.elements.stage.value));
    say(output, "saving…", false);
    const result = await call("PUT", url, { cron: input.value });
    if (!result.ok) {
      fieldError(form, input, result.message);
      say(output, "not saved", true);
      return;
    }
    const next = result.answer.next_runs || [];
    say(output, "saved" + (next.length ? "; next run " + utc(next[0]) : ""), false);
    leave(["page", "per_page"]);
  }

  const timers = new WeakMap();
  document.addEventListener("input", function (event) {
    const form = event.target.closest("form[data-schedule]");
    if (!form || event.target.name !== "cron") return;
    window.clearTimeout(timers.get(form));
    timers.set(form, window.setTimeout(function () { preview(form); }, 300));
  });

  // ---- samples: the copy's name (§12.3), then POST /sample-campaigns/<name>/clone ---------

  function cloneName(source, rename, to) {
    const at = source.indexOf(rename);
    const name = at < 0 ? source : source.slice(0, at) + to + source.slice(at + rename.length);
    return name === source ? "clone_of_" + source : name;
  }

  function showCloneName(form) {
    const to = form.elements.to.value.trim();
    const span = form.querySelector(".clone-name");
    span.classList.remove("field-error");
    form.elements.to.removeAttribute("aria-invalid");
    span.textContent = to ? "→ " + cloneName(form.dataset.source, form.dataset.rename, to) : "";
  }

  async function cloneSample(form) {
    const output = form.querySelector("output");
    const input = form.elements.to;
    const span = form.querySelector(".clone-name");
    if (!input.value.trim()) {
      span.textContent = "a name is required";
      span.classList.add("field-error");
      input.setAttribute("aria-invalid", "true");
      return;
    }
    say(output, "cloning…", false);
    const result = await call("POST", form.dataset.endpoint, { to: input.value.trim() });
    if (!result.ok) {
      span.textContent = result.message;
      span.classList.add("field-error");
      input.setAttribute("aria-invalid", "true");
      say(output, "not cloned", true);
      return;
    }
    const name = result.answer.campaign;
    output.textContent = "Created campaign ";
    output.className = "ok";
    const link = document.createElement("a");
    link.href = form.dataset.campaignUrl.replace("__NAME__", encodeURIComponent(name));
    link.textContent = name;
    output.appendChild(link);
    (result.answer.warnings || []).forEach(function (w) {
      output.appendChild(document.createElement("br"));
      output.appendChild(document.createTextNode(w));
    });
  }

  document.addEventListener("input", function (event) {
    const form = event.target.closest("form[data-clone]");
    if (form && event.target.name === "to") showCloneName(form);
  });

  // ---- campaigns: ticked rows marked active/inactive, tagged, untagged -----------------

  function ticked(form) {
    return Array.from(document.querySelectorAll(
      "input[type=checkbox][name=campaign][form='" + form.id + "']:checked"));
  }

  function carries(box, tag) {
    try { return JSON.parse(box.dataset.tags || "[]").indexOf(tag) >= 0; } catch (e) { return false; }
  }

  function activeSummary(answer) {
    const parts = [];
    if (answer.changed.length) parts.push("changed: " + answer.changed.join(", "));
    if (answer.unchanged.length) parts.push("already so: " + answer.unchanged.join(", "));
    Object.keys(answer.refused).forEach(function (n) { parts.push("refused " + n + ": " + answer.refused[n]); });
    return parts.join("; ") || "nothing to do";
  }

  async function eachCampaign(method, template, names, tag) {
    const done = [];
    const failed = [];
    for (const name of names) {
      const url = template.replace("{name}", encodeURIComponent(name)).replace("{tag}", encodeURIComponent(tag));
      const result = await call(method, url);
      if (result.ok) done.push(name); else failed.push(name + ": " + result.message);
    }
    return { done: done, failed: failed };
  }

  async function bulk(form, button) {
    const output = form.querySelector("output");
    const what = button ? button.value : "";
    const boxes = ticked(form);
    const names = boxes.map(function (b) { return b.value; });
    const tagInput = form.elements.tag;
    fieldError(form, tagInput, "");
    if (!names.length) { say(output, "Tick campaigns in the table first.", true); return; }
    const tag = tagInput.value.trim();
    if ((what === "tag" || what === "untag") && !tag) {
      fieldError(form, tagInput, "a tag name is required");
      return;
    }
    let result;
    if (what === "activate" || what === "deactivate") {
      const active = what === "activate";
      const clear = !active && form.elements.clear_cron.checked;
      if (!active && !window.confirm("Mark inactive: " + names.join(", ") + "?" +
          (clear ? " Their stages' schedules are deleted." : ""))) return;
      say(output, "working…", false);
      const answer = await call("POST", form.dataset.active, { campaigns: names, active: active, clear_cron: clear });
      if (!answer.ok) { say(output, answer.message, true); return; }
      say(output, activeSummary(answer.answer), Object.keys(answer.answer.refused).length > 0);
      if (answer.answer.changed.length && !Object.keys(answer.answer.refused).length) leave([]);
      return;
    }
    if (what === "tag") {
      say(output, "working…", false);
      result = await eachCampaign("PUT", form.dataset.tag, names, tag);
    } else if (what === "untag") {
      const targets = boxes.filter(function (b) { return carries(b, tag); }).map(function (b) { return b.value; });
      if (!targets.length) { fieldError(form, tagInput, "none of the ticked campaigns has tag " + tag); return; }
      if (!window.confirm("Remove tag " + tag + " from " + targets.join(", ") + "?")) return;
      say(output, "working…", false);
      result = await eachCampaign("DELETE", form.dataset.tag, targets, tag);
    } else {
      return;
    }
    const text = (result.done.length ? (what === "tag" ? "tagged: " : "untagged: ") + result.done.join(", ") : "") +
      (result.failed.length ? (result.done.length ? "; " : "") + "failed: " + result.failed.join("; ") : "");
    say(output, text, result.failed.length > 0);
    if (result.done.length && !result.failed.length) leave([]);
  }

  document.addEventListener("change", function (event) {
    const all = event.target.closest("input[data-select-all]");
    if (!all) return;
    document.querySelectorAll("input[type=checkbox][name=campaign][form='" + all.dataset.selectAll + "']")
      .forEach(function (b) { b.checked = all.checked; });
  });

  // ---- one submit handler; plain submits (no script) preview on the server -------------

  document.addEventListener("submit", function (event) {
    const form = event.target;
    const button = event.submitter;
    if (form.matches("form[data-schedule]")) {
      event.preventDefault();
      if (button && button.hasAttribute("data-save")) saveSchedule(form); else preview(form);
    } else if (form.matches("form[data-clone]")) {
      event.preventDefault();
      cloneSample(form);
    } else if (form.matches("form[data-bulk]")) {
      event.preventDefault();
      bulk(form, button);
    }
  });

  function ready() {
    document.querySelectorAll("[data-save], .js-only").forEach(function (b) { b.hidden = false; });
    document.querySelectorAll(".no-js-only").forEach(function (b) { b.hidden = true; });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready);
  else ready();
})();

// Campaign editor forms: one per kind of node (campaign and defaults, stage, login setup,
// job type) and for a dependency, with the checks that show an error next to its field.
// The forms change the model in place and tell the editor (ctx) what changed.
(function () {
  "use strict";
  const W = window.PomsWidgets;
  const el = W.el, button = W.button, shown = W.shown;
  const BAD_NAME = /[[\]\x00-\x1f]/;
  const TEXT = ["vo_role", "software_version"];
  const BOOL = ["merge_overrides", "default_clear_cronjob"];
  const PAIRS = ["param_overrides", "test_param_overrides"];

  function row(key, label, control, help, error, forId) {
    return el("div", { class: "field", dataset: { field: key } },
      el("label", { for: forId === null ? null : (forId || "f-" + key), text: label }), control,
      help ? el("small", { class: "help", text: help }) : null,
      el("output", { class: "field-error", role: "alert", text: error || "" }));
  }

  function set(holder, key, value) {
    if (value === "" || value === null || value === undefined) delete holder[key];
    else holder[key] = value;
  }

  function defaultText(ctx, key) {
    const d = ctx.model.campaign.defaults[key];
    const value = d !== undefined && d !== null ? d : ctx.state.fallbacks[key];
    if (value === undefined || value === null) return "(not set)";
    if (Array.isArray(value)) return "(" + (value.length ? value.map(function (p) { return p.join(""); }).join(" ") : "none") + ")";
    return "(" + (typeof value === "boolean" ? (value ? "True" : "False") : shown(value)) + ")";
  }

  function effective(ctx, holder, key) {
    if (holder[key] !== undefined && holder[key] !== null && holder[key] !== "") return holder[key];
    const d = ctx.model.campaign.defaults[key];
    return d !== undefined && d !== null && d !== "" ? d : ctx.state.fallbacks[key];
  }

  // ---- checks ------------------------------------------------------------------------------

  function fieldProblem(ctx, holder, key, isStage) {
    const v = holder[key];
    const given = v !== undefined && v !== null && v !== "";
    if (key === "completion_pct" && given) {
      const n = Number(String(v).trim());
      if (String(v).trim() === "" || isNaN(n) || n <= 0 || n > 100) return "a number above 0 and at most 100";
    }
    if (key === "output_ancestor_depth" && given && !(/^\d+$/.test(String(v).trim()) && Number(v) >= 1)) {
      return "a whole number of at least 1";
    }
    if (key === "cs_split_type" && given) return W.splitProblem(v, ctx.state.split_types.map(function (t) { return t.kind; }));
    if (key === "dataset_or_split_data" && given && W.parseSplit(effective(ctx, holder, "cs_split_type")).kind === "multiparam") {
      return W.multiparamProblem(v);
    }
    if (PAIRS.includes(key)) return W.pairsProblem(v);
    if ((key === "login_setup" || key === "job_type") && isStage && !effective(ctx, holder, key)) {
      return "needed, here or as a campaign default";
    }
    return null;
  }

  function nameProblem(name, others, what) {
    if (!name) return "a " + what + " needs a name";
    if (BAD_NAME.test(name)) return "may not contain brackets or control characters";
    if (others.includes(name)) return "another " + what + " is named " + name;
    return null;
  }

  function collect(problems) {
    const found = {};
    Object.keys(problems).forEach(function (k) { if (problems[k]) found[k] = problems[k]; });
    return found;
  }

  function validateStage(ctx, stage) {
    const others = ctx.model.stages.filter(function (s) { return s !== stage; }).map(function (s) { return s.name; });
    const problems = { name: nameProblem(stage.name, others, "stage") };
    ctx.state.fields.forEach(function (f) { problems[f[0]] = fieldProblem(ctx, stage.fields, f[0], true); });
    return collect(problems);
  }

  function validateCampaign(ctx) {
    const c = ctx.model.campaign;
    const problems = { name: nameProblem(c.name, [], "campaign") || (c.name.includes("/") ? "may not contain /" : null) };
    const keys = c.keywords.map(function (p) { return shown(p[0]); });
    problems.campaign_keywords = W.pairsProblem(c.keywords) ||
      (keys.some(function (k, i) { return k && keys.indexOf(k) !== i; }) ? "a keyword is given twice" : null);
    ctx.state.fields.forEach(function (f) { problems[f[0]] = fieldProblem(ctx, c.defaults, f[0], false); });
    return collect(problems);
  }

  function validateTemplate(ctx, kind, t) {
    const others = ctx.templates(kind).filter(function (o) { return o !== t; }).map(function (o) { return o.name; });
    const what = kind === "login_setup" ? "login setup" : "job type";
    const problems = { name: nameProblem(t.name, others, what) };
    const required = kind === "login_setup" ? ["host", "account"] : ["launch_script"];
    required.forEach(function (k) { if (!(t[k] || "").trim()) problems[k] = "required"; });
    if (kind === "job_type") {
      problems.parameters = W.pairsProblem(t.parameters);
      problems.recoveries = t.recoveries.some(function (r) { return !r[0]; }) ? "each entry needs a recovery type" :
        t.recoveries.map(function (r) { return W.pairsProblem(r[1]); }).find(Boolean) || null;
    }
    return collect(problems);
  }

  // ---- stage fields ------------------------------------------------------------------------

  function choices(ctx, key) {
    if (key === "completion_type") return ctx.state.completion_types;
    if (key === "stage_type") return ctx.state.stage_types;
    if (BOOL.includes(key)) return ["True", "False"];
    const names = ctx.templates(key).map(function (t) { return t.name; });
    return names;
  }

  function selectControl(ctx, holder, key, isStage, disabled) {
    const select = el("select", { id: "f-" + key, disabled: disabled });
    select.appendChild(el("option", { value: "", text: isStage ? "campaign default " + defaultText(ctx, key) : "not set" }));
    const values = choices(ctx, key).slice();
    const now = holder[key] === undefined || holder[key] === null ? "" : (typeof holder[key] === "boolean" ? (holder[key] ? "True" : "False") : String(holder[key]));
    if (now && !values.includes(now)) values.push(now);
    values.forEach(function (v) { select.appendChild(el("option", { value: v, text: v })); });
    select.value = now;
    select.addEventListener("change", function () {
      const v = select.value;
      set(holder, key, BOOL.includes(key) ? (v === "" ? null : v === "True") : v);
      ctx.changed();
    });
    if (key !== "login_setup" && key !== "job_type") return select;
    return el("span", { class: "template-pick" }, select,
      button("Open", function () { ctx.openTemplate(key, effective(ctx, holder, key)); }));
  }

  function textControl(ctx, holder, key, isStage, disabled) {
    const input = el("input", { id: "f-" + key, value: shown(holder[key]), disabled: disabled,
      placeholder: isStage ? "default " + defaultText(ctx, key) : "" });
    function mark() { input.classList.toggle("inherits", isStage && input.value === ""); }
    input.addEventListener("input", function () { set(holder, key, input.value); mark(); ctx.changed(); });
    mark();
    return input;
  }

  function datasetControl(ctx, holder, key, isStage, disabled) {
    const box = el("div", { class: "dataset" });
    const input = textControl(ctx, holder, key, isStage, disabled);
    const tools = el("span", { class: "dataset-tools" });
    const slot = el("div", { class: "custom-slot" });
    function refresh() {
      tools.replaceChildren();
      const kind = W.parseSplit(effective(ctx, holder, "cs_split_type")).kind;
      if (disabled || (kind !== "list" && kind !== "multiparam")) return;
      const open = kind === "list" ? W.listEditor : W.multiparamEditor;
      tools.appendChild(button(kind === "list" ? "Edit list…" : "Edit combinations…", function () {
        slot.replaceChildren(open(holder[key] || "", function (value) {
          set(holder, key, value);
          input.value = value;
          input.classList.toggle("inherits", isStage && value === "");
          slot.replaceChildren();
          ctx.changed();
          input.dispatchEvent(new Event("change", { bubbles: true }));
        }, function () { slot.replaceChildren(); }));
      }));
    }
    box.refresh = refresh;
    refresh();
    box.append(input, tools, slot);
    return box;
  }

  function fieldRows(ctx, form, holder, isStage, errors, disabled) {
    let dataset = null;
    const rows = ctx.state.fields.map(function (f) {
      const key = f[0];
      let control;
      let forId;
      if (key === "cs_split_type") {
        control = W.splitPicker({ value: holder[key] || "", types: ctx.state.split_types, disabled: disabled,
          inherit: isStage ? defaultText(ctx, key) : undefined,
          onChange: function (v) { set(holder, key, v); ctx.changed(); if (dataset) dataset.refresh(); form.dispatchEvent(new Event("change")); } });
      } else if (key === "dataset_or_split_data") {
        control = dataset = datasetControl(ctx, holder, key, isStage, disabled);
      } else if (PAIRS.includes(key)) {
        forId = null;
        control = W.pairsEditor({ value: holder[key] === undefined ? (isStage ? null : []) : holder[key], label: f[1], disabled: disabled,
          inherit: isStage ? defaultText(ctx, key) : undefined,
          onChange: function (v) { set(holder, key, isStage ? v : (v || [])); ctx.changed(); } });
      } else if (TEXT.includes(key) || key === "completion_pct" || key === "output_ancestor_depth") {
        control = textControl(ctx, holder, key, isStage, disabled);
      } else {
        control = selectControl(ctx, holder, key, isStage, disabled);
      }
      return row(key, f[1], control, f[2], errors[key], forId);
    });
    return rows;
  }

  // ---- forms --------------------------------------------------------------------------------

  function shell(ctx, node, cls, title, validate) {
    const form = el("form", { class: "node-form " + cls, dataset: { node: node.id }, novalidate: true,
      on: { submit: function (e) { e.preventDefault(); } } });
    form.addEventListener("change", function () { ctx.revalidate(node, form, validate, false); });
    // while typing, an error goes as soon as it is fixed (new ones wait for the change)
    form.addEventListener("input", function () { ctx.revalidate(node, form, validate, true); });
    form.appendChild(title);
    return form;
  }

  function nameRow(ctx, node, label, heading, errors, disabled, onRename) {
    const input = el("input", { id: "f-name", value: node.name, required: true, disabled: disabled });
    let before = node.name;
    input.addEventListener("input", function () { node.name = input.value.trim(); heading.textContent = node.name; ctx.changed(); });
    if (onRename) input.addEventListener("change", function () { if (onRename(before, node.name)) before = node.name; });
    return row("name", label, input, null, errors.name);
  }

  function stageForm(ctx, stage) {
    const errors = ctx.errors[stage.id] || {};
    const heading = el("code", { class: "node-name", text: stage.name });
    const validate = function () { return validateStage(ctx, stage); };
    const form = shell(ctx, stage, "stage-form", el("h2", {}, "Stage ", heading), validate);
    if (stage.was && stage.was !== stage.name) form.appendChild(el("p", { class: "note", text: "Stored as " + stage.was + ": renamed on save, keeping its history." }));
    form.appendChild(nameRow(ctx, stage, "Stage name", heading, errors, false));
    form.append.apply(form, fieldRows(ctx, form, stage.fields, true, errors, false));
    form.appendChild(el("div", { class: "form-actions" },
      button("Add stage after this…", function () { ctx.startAddStage(); }),
      button("Connect to…", function () { ctx.startConnect(stage.id); }),
      button("Delete stage", function () { ctx.remove(stage.id); }, "danger")));
    return form;
  }

  function campaignForm(ctx) {
    const c = ctx.model.campaign;
    const node = { id: "campaign" };
    const errors = ctx.errors.campaign || {};
    const heading = el("code", { class: "node-name", text: c.name || "new campaign" });
    const form = shell(ctx, node, "campaign-form", el("h2", {}, "Campaign ", heading), function () { return validateCampaign(ctx); });
    const name = el("input", { id: "f-campaign-name", value: c.name, required: true });
    name.addEventListener("input", function () { c.name = name.value.trim(); heading.textContent = c.name; ctx.changed(); });
    const state = el("select", { id: "f-state" }, el("option", { value: "Active", text: "Active" }), el("option", { value: "Inactive", text: "Inactive" }));
    state.value = c.state;
    state.addEventListener("change", function () { c.state = state.value; ctx.changed(); });
    const keywords = W.pairsEditor({ value: c.keywords, label: "keyword", keyLabel: "Keyword", addLabel: "Add keyword",
      onChange: function (v) { c.keywords = v; ctx.changed(); } });
    form.append(row("name", "Campaign name", name, null, errors.name, "f-campaign-name"),
      row("state", "State", state, "Inactive campaigns are hidden from the default list.", errors.state),
      row("campaign_keywords", "Keywords", keywords, "Given to launches as %(keyword)s.", errors.campaign_keywords, null),
      el("h3", { text: "Defaults for every stage" }),
      el("p", { class: "note", text: "A stage field left empty takes the value given here; changing a default changes every stage that uses it." }));
    form.append.apply(form, fieldRows(ctx, form, c.defaults, false, errors, false));
    return form;
  }

  function copyRow(ctx, kind, t) {
    const name = el("input", { id: "f-copy-name", placeholder: "new name" });
    const out = el("output", { class: "field-error", role: "alert" });
    return el("div", { class: "field copy", dataset: { field: "copy" } },
      el("label", { for: "f-copy-name", text: "Copy as a new " + (kind === "login_setup" ? "login setup" : "job type") }), name,
      button("Copy", function () { out.textContent = ctx.copyTemplate(kind, t, name.value.trim()) || ""; }), out);
  }

  function templateForm(ctx, kind, t) {
    const errors = ctx.errors[t.id] || {};
    const heading = el("code", { class: "node-name", text: t.name });
    const what = kind === "login_setup" ? "Login setup " : "Job type ";
    const form = shell(ctx, t, kind.replace("_", "-") + "-form", el("h2", {}, what, heading), function () { return validateTemplate(ctx, kind, t); });
    const locked = t.stored;
    if (locked) {
      form.appendChild(el("p", { class: "note", text: "Stored, and perhaps shared with other campaigns: a campaign save never changes it. To change it, copy it under a new name." }));
    }
    form.appendChild(nameRow(ctx, t, "Name", heading, errors, locked, function (before, after) { return ctx.renameTemplate(kind, before, after); }));
    function text(key, label, help, area) {
      const input = el(area ? "textarea" : "input", { id: "f-" + key, value: t[key] || "", disabled: locked, rows: area ? 3 : null, cols: area ? 50 : null, size: area ? null : 50 });
      input.addEventListener("input", function () { t[key] = input.value; ctx.changed(); });
      form.appendChild(row(key, label, input, help, errors[key]));
    }
    if (kind === "login_setup") {
      text("host", "Host", "Where the launch runs; localhost runs it here.");
      text("account", "Account", "The account it runs as.");
      text("setup", "Setup", "Shell commands run first; lines are joined with ';'.", true);
    } else {
      text("launch_script", "Launch script", "The command that submits the jobs.");
      text("output_file_patterns", "Output file patterns", "Patterns of the files the jobs declare, e.g. %.root.");
      form.appendChild(row("parameters", "Parameters", W.pairsEditor({ value: t.parameters, label: "parameter", disabled: locked,
        onChange: function (v) { t.parameters = v; ctx.changed(); } }), null, errors.parameters, null));
      form.appendChild(row("recoveries", "Recoveries", recoveriesEditor(ctx, t, locked), "Tried in this order for files a submission did not process.", errors.recoveries, null));
    }
    if (locked) form.appendChild(copyRow(ctx, kind, t));
    else form.appendChild(el("div", { class: "form-actions" }, button("Delete " + what.trim().toLowerCase(), function () { ctx.remove(t.id); }, "danger")));
    return form;
  }

  function recoveriesEditor(ctx, t, locked) {
    const box = el("div", { class: "recoveries" });
    function draw() {
      box.replaceChildren();
      t.recoveries.forEach(function (entry, i) {
        const type = el("select", { "aria-label": "recovery type " + (i + 1), disabled: locked });
        type.appendChild(el("option", { value: "", text: "(choose)" }));
        ctx.state.recovery_types.concat(ctx.state.recovery_types.includes(entry[0]) || !entry[0] ? [] : [entry[0]])
          .forEach(function (k) { type.appendChild(el("option", { value: k, text: k })); });
        type.value = entry[0];
        type.addEventListener("change", function () { entry[0] = type.value; ctx.changed(); });
        box.appendChild(el("div", { class: "recovery" }, type,
          W.pairsEditor({ value: entry[1], label: "override", addLabel: "Add override", disabled: locked,
            onChange: function (v) { entry[1] = v; ctx.changed(); } }),
          locked ? null : button("Remove", function () { t.recoveries.splice(i, 1); ctx.changed(); draw(); }, "danger")));
      });
      if (!locked) box.appendChild(button("Add recovery", function () { t.recoveries.push(["", []]); ctx.changed(); draw(); }));
    }
    draw();
    return box;
  }

  function edgeForm(ctx, dep) {
    const errors = ctx.errors[dep.id] || {};
    const up = ctx.stage(dep.up), down = ctx.stage(dep.down);
    const form = shell(ctx, dep, "dependency-form", el("h2", {}, "Dependency ", el("code", { text: up.name + " → " + down.name })), function () { return {}; });
    form.appendChild(el("p", { class: "note", text: down.name + " is launched on the outputs of " + up.name + " that match these patterns." }));
    const input = el("input", { id: "f-file_patterns", value: dep.patterns, size: 40 });
    input.addEventListener("input", function () { dep.patterns = input.value; ctx.changed(); });
    form.appendChild(row("file_patterns", "File patterns", input, "SQL LIKE patterns (% matches anything), separated by commas; empty: every output.", errors.file_patterns));
    form.appendChild(el("div", { class: "form-actions" }, button("Delete dependency", function () { ctx.remove(dep.id); }, "danger")));
    return form;
  }

  window.PomsForms = {
    stageForm: stageForm, campaignForm: campaignForm, templateForm: templateForm, edgeForm: edgeForm,
    validateStage: validateStage, validateCampaign: validateCampaign, validateTemplate: validateTemplate,
    effective: effective, row: row, nameProblem: nameProblem,
  };
})();

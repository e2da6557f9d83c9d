// The campaign graph editor: the model (campaign, stages, dependencies, templates), its
// drawing with Cytoscape.js (vendor/cytoscape.min.js), the toolbar, and Save — which
// sends the graph as JSON; the server stores it as it stores an .ini upload.
(function () {
  "use strict";
  const root = document.getElementById("editor");
  if (!root || !window.cytoscape || !window.PomsForms || !window.PomsGraph) return;  // the tables stay
  const W = window.PomsWidgets, F = window.PomsForms, el = W.el;
  const S = JSON.parse(document.getElementById("editor-state").textContent);
  root.hidden = false;  // before drawing: Cytoscape measures its container
  const PALETTE = ["#8ecae6", "#ffb703", "#90be6d", "#f4a261", "#cdb4db", "#e9c46a", "#a8dadc", "#f28482", "#b5c99a", "#bde0fe"];
  const panel = document.getElementById("panel");
  const statusOut = document.getElementById("editor-status");
  const copy = function (v) { return v === undefined ? v : JSON.parse(JSON.stringify(v)); };
  let seq = 0;
  const newId = function (prefix) { seq += 1; return prefix + seq; };

  // ---- the model ---------------------------------------------------------------------------

  const g = S.graph;
  const model = {
    campaign: { name: g.campaign.name, state: g.campaign.state, keywords: Object.entries(g.campaign.keywords || {}), defaults: copy(g.campaign.defaults) },
    stages: g.stages.map(function (s) { return { id: newId("s"), was: s.was, name: s.name, fields: copy(s.fields) }; }),
    deps: [],
    login_setup: S.login_setups.map(function (t) { return Object.assign(copy(t), { id: newId("l"), added: false }); }),
    job_type: S.job_types.map(function (t) { return Object.assign(copy(t), { id: newId("j"), added: false }); }),
  };
  const stageNamed = function (name) { return model.stages.find(function (s) { return s.name === name; }); };
  model.deps = g.dependencies.map(function (d) {
    return { id: newId("d"), up: stageNamed(d.upstream).id, down: stageNamed(d.downstream).id, patterns: d.file_patterns };
  });
  let selected = null, mode = null, connectFrom = null, dirty = false;

  function stage(id) { return model.stages.find(function (s) { return s.id === id; }); }
  function effective(s, key) { return F.effective(ctx, s.fields, key); }
  function used(kind) {
    return [model.campaign.defaults[kind]].concat(model.stages.map(function (s) { return s.fields[kind]; })).filter(Boolean);
  }
  function shownTemplates(kind) {
    const names = used(kind);
    return model[kind].filter(function (t) { return t.added || names.includes(t.name); });
  }
  function find(id) {
    if (id === "campaign") return { kind: "campaign", obj: model.campaign };
    const s = stage(id);
    if (s) return { kind: "stage", obj: s };
    const d = model.deps.find(function (x) { return x.id === id; });
    if (d) return { kind: "dependency", obj: d };
    for (const kind of ["login_setup", "job_type"]) {
      const t = model[kind].find(function (x) { return x.id === id; });
      if (t) return { kind: kind, obj: t };
    }
    return null;
  }

  // ---- drawing -----------------------------------------------------------------------------

  const drawing = window.PomsGraph.create(document.getElementById("graph"), g.positions);
  const cy = drawing.cy;

  function colours() {
    const names = shownTemplates("job_type").map(function (t) { return t.name; }).sort();
    const map = {};
    names.forEach(function (n, i) { map[n] = PALETTE[i % PALETTE.length]; });
    return map;
  }

  function wanted() {
    const colour = colours();
    const name = model.campaign.name;
    const nodes = [{ id: "campaign", kind: "campaign", label: (name || "new campaign") + "\n(campaign defaults)", color: "#17344d",
      key: "campaign " + name, alt: name }];
    model.stages.forEach(function (s) {
      nodes.push({ id: s.id, kind: "stage", label: s.name, color: colour[effective(s, "job_type")] || "#eee", key: s.name });
    });
    ["login_setup", "job_type"].forEach(function (kind) {
      shownTemplates(kind).forEach(function (t) {
        nodes.push({ id: t.id, kind: kind, label: t.name + (t.stored ? "" : "\n(new)"), color: colour[t.name] || "#d5dbe1", key: kind + " " + t.name });
      });
    });
    const edges = model.deps.map(function (d) {
      return { id: d.id, source: d.up, target: d.down, label: d.patterns === "" ? "(all files)" : d.patterns };
    });
    return { nodes: nodes, edges: edges };
  }

  function sync() {
    const invalid = Object.keys(ctx.errors).filter(function (id) { return Object.keys(ctx.errors[id]).length; });
    drawing.sync(wanted(), { invalid: invalid, chosen: selected });
  }

  // ---- the panel ---------------------------------------------------------------------------

  function setStatus(text, failed) {
    statusOut.textContent = text;
    statusOut.className = failed ? "error" : "ok";
  }

  function select(id) { selected = id; mode = null; render(); }

  function render() {
    let form;
    if (mode === "add") form = addStageForm();
    else if (mode === "connect") form = connectForm();
    else if (mode && mode.ini !== undefined) form = el("section", { class: "ini-preview" }, el("h2", { text: "The .ini a save stores" }), el("pre", { class: "ini", text: mode.ini }));
    else {
      const found = selected ? find(selected) : null;
      if (!found) selected = null;
      if (!found) form = overview();
      else if (found.kind === "campaign") form = F.campaignForm(ctx);
      else if (found.kind === "stage") form = F.stageForm(ctx, found.obj);
      else if (found.kind === "dependency") form = F.edgeForm(ctx, found.obj);
      else form = F.templateForm(ctx, found.kind, found.obj);
      if (found) placeErrors(form, ctx.errors[selected] || {});
    }
    panel.replaceChildren(form);
    sync();
  }

  function placeErrors(form, errors) {
    const general = el("output", { class: "field-error form-error", role: "alert" });
    Object.keys(errors).forEach(function (key) {
      if (!form.querySelector(".field[data-field='" + key + "']")) general.textContent += errors[key] + " ";
    });
    form.insertBefore(general, form.children[1] || null);
  }

  function item(text, id) {
    return el("li", {}, W.button(text, function () { select(id); }));
  }

  function overview() {
    return el("section", { class: "overview" }, el("h2", { text: "Overview" }),
      el("p", { class: "note", text: "Click a node or an arrow in the graph, or an entry here, to edit it." }),
      el("h3", { text: "Stages" }), el("ul", { class: "overview-stages" }, model.stages.map(function (s) { return item(s.name, s.id); })),
      el("h3", { text: "Dependencies" }), el("ul", { class: "overview-dependencies" }, model.deps.map(function (d) {
        return item(stage(d.up).name + " → " + stage(d.down).name + ": " + (d.patterns || "(all files)"), d.id);
      })),
      el("h3", { text: "Login setups" }), el("ul", { class: "overview-login-setups" }, shownTemplates("login_setup").map(function (t) { return item(t.name, t.id); })),
      el("h3", { text: "Job types" }), el("ul", { class: "overview-job-types" }, shownTemplates("job_type").map(function (t) { return item(t.name, t.id); })));
  }

  // ---- adding stages (name, name*N, *N: reference §12.13) ------------------------------------

  function addStageForm() {
    const from = selected && stage(selected) ? stage(selected) : null;
    const input = el("input", { id: "add-name", required: true, size: 24 });
    const nameRow = F.row("add-name", "New stage name", input, null, null, "add-name");
    const out = nameRow.querySelector("output.field-error");
    const form = el("form", { class: "node-form add-stage-form", novalidate: true }, el("h2", { text: "Add stage" }),
      el("p", { class: "note", text: from ?
        "name: a stage taking files from " + from.name + "; name*N: N such stages name_0 … name_N-1; *N: N copies of " + from.name + " with all its fields." :
        "name: one stage; name*N: N stages name_0 … name_N-1. Select a stage first to add after it, or to copy it with *N." }),
      nameRow, el("button", { type: "submit", text: "Add" }), W.button("Cancel", function () { select(from ? from.id : null); }));
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      const made = addStages(input.value, from);
      if (typeof made === "string") { out.textContent = made; return; }
      select(made[0].id);
    });
    window.setTimeout(function () { input.focus(); }, 0);
    return form;
  }

  function addStages(text, from) {
    const star = /^\s*(.*?)\s*\*\s*(\d+)\s*$/.exec(text);
    const base = star ? star[1] : text.trim();
    const count = star ? Number(star[2]) : 1;
    if (star && (count < 1 || count > 100)) return "N must be between 1 and 100";
    const copies = Boolean(star) && base === "";
    if (copies && !from) return "select the stage to copy first: *N makes N copies of it";
    const stem = copies ? from.name : base;
    const names = star ? Array.from({ length: count }, function (_, i) { return stem + "_" + i; }) : [base];
    const taken = model.stages.map(function (s) { return s.name; });
    for (const name of names) {
      const problem = F.nameProblem(name, taken, "stage");
      if (problem) return name ? name + ": " + problem : problem;
      taken.push(name);
    }
    const at = from ? drawing.at(from.id) : null;
    const made = names.map(function (name, i) {
      const s = { id: newId("s"), was: null, name: name, fields: copies ? copy(from.fields) : {} };
      const spread = (i - (names.length - 1) / 2);
      if (at && copies) drawing.ask(s.id, { x: at.x + spread * 170, y: at.y + 110 });
      else if (at) drawing.ask(s.id, { x: at.x + 220, y: at.y + spread * 80 });
      model.stages.push(s);
      if (from && !copies) model.deps.push({ id: newId("d"), up: from.id, down: s.id, patterns: "%" });
      return s;
    });
    changed();
    return made;
  }

  // ---- connecting ----------------------------------------------------------------------------

  function stageSelect(id, value) {
    const select = el("select", { id: id }, model.stages.map(function (s) { return el("option", { value: s.id, text: s.name }); }));
    select.value = value || "";
    return select;
  }

  function connectForm() {
    const fromSel = stageSelect("connect-from", connectFrom);
    const toSel = stageSelect("connect-to", null);
    const patterns = el("input", { id: "connect-patterns", value: "%", size: 30 });
    const out = el("output", { class: "field-error", role: "alert" });
    const form = el("form", { class: "node-form connect-form", novalidate: true }, el("h2", { text: "Connect two stages" }),
      F.row("connect-from", "Upstream stage (makes the files)", fromSel, null, null, "connect-from"),
      F.row("connect-to", "Downstream stage (launched on them)", toSel, "Or click the downstream stage in the graph.", null, "connect-to"),
      F.row("connect-patterns", "File patterns", patterns, "SQL LIKE patterns of the upstream outputs, e.g. %.root", null, "connect-patterns"),
      out, el("button", { type: "submit", text: "Connect" }), W.button("Cancel", function () { select(null); }));
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      const up = fromSel.value, down = toSel.value;
      const problem = !up || !down ? "choose both stages" :
        model.deps.some(function (d) { return d.up === up && d.down === down; }) ? "these stages are already connected" :
        up === down && ["none", "draining"].includes(W.parseSplit(effective(stage(up), "cs_split_type")).kind.toLowerCase()) ?
          "a stage may take its own files only with a split type that runs out (not None or draining)" : null;
      if (problem) { out.textContent = problem; return; }
      const dep = { id: newId("d"), up: up, down: down, patterns: patterns.value.trim() };
      model.deps.push(dep);
      changed();
      select(dep.id);
    });
    return form;
  }

  // ---- removing, templates -------------------------------------------------------------------

  function remove(id) {
    const found = id ? find(id) : null;
    if (!found) { setStatus("Select a stage, a dependency or a new template to delete.", true); return; }
    const o = found.obj;
    if (found.kind === "campaign") { setStatus("The campaign node cannot be deleted (delete the campaign from the campaigns page).", true); return; }
    if (found.kind === "stage") {
      const edges = model.deps.filter(function (d) { return d.up === id || d.down === id; });
      const note = o.was ? " The stored stage is detached from the campaign on save; its history stays." : "";
      if (!window.confirm("Delete stage " + o.name + " and its " + edges.length + " dependencies?" + note)) return;
      model.stages = model.stages.filter(function (s) { return s !== o; });
      model.deps = model.deps.filter(function (d) { return !edges.includes(d); });
    } else if (found.kind === "dependency") {
      if (!window.confirm("Delete the dependency " + stage(o.up).name + " → " + stage(o.down).name + "?")) return;
      model.deps = model.deps.filter(function (d) { return d !== o; });
    } else {
      if (o.stored) { setStatus(o.name + " is stored: it leaves the graph when no stage uses it, and is never deleted from here.", true); return; }
      const users = model.stages.filter(function (s) { return s.fields[found.kind] === o.name; }).map(function (s) { return s.name; });
      if (model.campaign.defaults[found.kind] === o.name) users.unshift("the campaign defaults");
      if (users.length) { setStatus(o.name + " is still used by " + users.join(", "), true); return; }
      if (!window.confirm("Delete the new " + found.kind.replace("_", " ") + " " + o.name + "?")) return;
      model[found.kind] = model[found.kind].filter(function (t) { return t !== o; });
    }
    delete ctx.errors[id];
    changed();
    select(null);
  }

  function uniqueName(kind, stem) {
    const names = model[kind].map(function (t) { return t.name; });
    let n = 1;
    while (names.includes(stem + "_" + n)) n += 1;
    return stem + "_" + n;
  }

  function newTemplate(kind) {
    const t = kind === "login_setup" ?
      { name: uniqueName(kind, "new_login_setup"), host: "localhost", account: "", setup: "" } :
      { name: uniqueName(kind, "new_job_type"), launch_script: "", parameters: [], output_file_patterns: "%", recoveries: [] };
    Object.assign(t, { id: newId(kind === "login_setup" ? "l" : "j"), stored: false, added: true });
    model[kind].push(t);
    changed();
    select(t.id);
  }

  function switchUsers(kind, from, to) {
    model.stages.forEach(function (s) { if (s.fields[kind] === from) s.fields[kind] = to; });
    if (model.campaign.defaults[kind] === from) model.campaign.defaults[kind] = to;
  }

  function copyTemplate(kind, t, name) {
    const problem = F.nameProblem(name, model[kind].map(function (x) { return x.name; }), kind.replace("_", " "));
    if (problem) return problem;
    const made = Object.assign(copy(t), { id: newId(kind === "login_setup" ? "l" : "j"), name: name, stored: false, added: true });
    model[kind].push(made);
    const users = model.stages.filter(function (s) { return effective(s, kind) === t.name; }).map(function (s) { return s.name; });
    if (users.length && window.confirm("Switch " + users.join(", ") + " from " + t.name + " to " + name + "?")) switchUsers(kind, t.name, name);
    changed();
    select(made.id);
    return null;
  }

  // ---- checking, saving ----------------------------------------------------------------------

  function validateAll() {
    ctx.errors = {};
    const add = function (id, errors) { if (Object.keys(errors).length) ctx.errors[id] = errors; };
    add("campaign", F.validateCampaign(ctx));
    model.stages.forEach(function (s) { add(s.id, F.validateStage(ctx, s)); });
    ["login_setup", "job_type"].forEach(function (kind) {
      shownTemplates(kind).filter(function (t) { return !t.stored; }).forEach(function (t) { add(t.id, F.validateTemplate(ctx, kind, t)); });
    });
    return Object.keys(ctx.errors);
  }

  function clean(fields) {
    const out = {};
    Object.keys(fields).forEach(function (key) {
      const v = fields[key];
      if (v === null || v === undefined || v === "") return;
      out[key] = Array.isArray(v) ? W.cleanPairs(v) : v;
    });
    return out;
  }

  function payload() {
    const positions = drawing.positions();
    const fresh = function (kind) { return shownTemplates(kind).filter(function (t) { return !t.stored; }); };
    return {
      campaign: { name: model.campaign.name, state: model.campaign.state, defaults: clean(model.campaign.defaults),
        keywords: Object.fromEntries(W.cleanPairs(model.campaign.keywords)) },
      stages: model.stages.map(function (s) { return { name: s.name, was: s.was || null, fields: clean(s.fields) }; }),
      dependencies: model.deps.map(function (d) { return { upstream: stage(d.up).name, downstream: stage(d.down).name, file_patterns: d.patterns }; }),
      login_setups: fresh("login_setup").map(function (t) { return { name: t.name, host: t.host, account: t.account, setup: t.setup }; }),
      job_types: fresh("job_type").map(function (t) {
        return { name: t.name, launch_script: t.launch_script, parameters: W.cleanPairs(t.parameters), output_file_patterns: t.output_file_patterns,
          recoveries: t.recoveries.map(function (r) { return [r[0], W.cleanPairs(r[1])]; }) };
      }),
      positions: positions,
    };
  }

  async function send(url, method, body) {
    const response = await fetch(url, { method: method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" }, body: JSON.stringify(body) });
    const text = await response.text();
    let answer = null;
    try { answer = JSON.parse(text); } catch (e) { answer = null; }
    return { ok: response.ok, status: response.status, text: text, answer: answer };
  }

  function checked() {
    const bad = validateAll();
    if (!bad.length) return true;
    setStatus("Fix " + bad.length + " item(s) first: " + bad.map(function (id) { const f = find(id); return f.obj.name || "campaign"; }).join(", "), true);
    select(bad[0]);
    return false;
  }

  async function save() {
    if (!checked()) return;
    const body = payload();
    setStatus("saving…", false);
    let got;
    try { got = await send(root.dataset.saveUrl, root.dataset.saveMethod, body); } catch (e) { setStatus("could not reach the server: " + e, true); return; }
    if (!got.ok) { serverError(got, body); return; }
    dirty = false;
    model.stages.forEach(function (s) { s.was = s.name; });
    ["login_setup", "job_type"].forEach(function (kind) { shownTemplates(kind).forEach(function (t) { t.stored = true; t.added = false; }); });
    const warnings = got.answer.warnings || [];
    if (root.dataset.saveMethod === "POST") {
      window.location.assign(got.answer.editor + (got.answer.editor.includes("?") ? "&" : "?") + "saved=1");
      return;
    }
    setStatus("Saved." + (warnings.length ? " " + warnings.join("; ") : ""), false);
    render();
  }

  async function showIni() {
    let got;
    try { got = await send(root.dataset.iniUrl, "POST", payload()); } catch (e) { setStatus("could not reach the server: " + e, true); return; }
    if (!got.ok) { serverError(got, null); return; }
    selected = null;
    mode = { ini: got.text };
    render();
  }

  function where(error, body) {
    if (error.where) return error.where;
    const m = /^(stages|dependencies)\.(\d+)(?:\.fields)?\.?(\w*)/.exec(error.message || "");
    if (m && body && m[1] === "stages") return { node: "stage", name: body.stages[Number(m[2])].name, field: m[3] || null };
    if (m && body) { const d = body.dependencies[Number(m[2])]; return { node: "dependency", name: [d.upstream, d.downstream], field: m[3] || null }; }
    const c = /^campaign\.(?:defaults\.)?(\w+)/.exec(error.message || "");
    return c ? { node: "campaign", field: c[1] } : null;
  }

  function serverError(got, body) {
    const error = (got.answer && got.answer.error) || { message: got.text || "failed" };
    setStatus(error.message + " (" + got.status + ")", true);
    const at = where(error, body);
    if (!at) return;
    let id = null;
    if (at.node === "campaign") id = "campaign";
    else if (at.node === "stage") id = (stageNamed(at.name) || {}).id;
    else if (at.node === "dependency") id = (model.deps.find(function (d) { return stage(d.up).name === at.name[0] && stage(d.down).name === at.name[1]; }) || {}).id;
    else if (model[at.node]) id = (model[at.node].find(function (t) { return t.name === at.name; }) || {}).id;
    if (!id) return;
    ctx.errors[id] = {};
    ctx.errors[id][at.field || "_"] = error.message;
    select(id);
  }

  // ---- wiring ----------------------------------------------------------------------------------

  function changed() { dirty = true; sync(); }

  const ctx = {
    state: S, model: model, errors: {},
    templates: function (kind) { return model[kind]; },
    stage: stage, changed: changed, remove: remove, copyTemplate: copyTemplate,
    startAddStage: function () { mode = "add"; render(); },
    startConnect: function (id) { connectFrom = id; mode = "connect"; render(); },
    openTemplate: function (kind, name) { const t = model[kind].find(function (x) { return x.name === name; }); if (t) select(t.id); },
    renameTemplate: function (kind, before, after) {
      // a name another template has is refused by the checks; its users stay as they are
      if (!after || model[kind].filter(function (t) { return t.name === after; }).length > 1) return false;
      switchUsers(kind, before, after);
      changed();
      return true;
    },
    revalidate: function (node, form, validate, onlyClear) {
      const errors = validate();
      form.querySelectorAll(".field").forEach(function (f) {
        const out = f.querySelector(":scope > output.field-error");
        if (!out || f.dataset.field === "copy" || (onlyClear && errors[f.dataset.field])) return;
        out.textContent = errors[f.dataset.field] || "";
      });
      if (onlyClear) return;
      if (Object.keys(errors).length) ctx.errors[node.id] = errors; else delete ctx.errors[node.id];
      const general = form.querySelector(".form-error");
      if (general) general.textContent = "";
      sync();
    },
  };

  const actions = {
    overview: function () { select(null); },
    campaign: function () { select("campaign"); },
    "add-stage": ctx.startAddStage,
    connect: function () { ctx.startConnect(selected && stage(selected) ? selected : null); },
    delete: function () { remove(selected); },
    "new-login-setup": function () { newTemplate("login_setup"); },
    "new-job-type": function () { newTemplate("job_type"); },
    fit: drawing.fit,
    "show-ini": showIni,
    save: save,
  };
  root.querySelector(".toolbar").addEventListener("click", function (e) {
    const b = e.target.closest("button[data-do]");
    if (b && actions[b.dataset.do]) actions[b.dataset.do]();
  });
  cy.on("tap", "node, edge", function (e) {
    const id = e.target.id();
    if (mode === "connect" && stage(id)) { const to = document.getElementById("connect-to"); if (to) to.value = id; return; }
    select(id);
  });
  cy.on("tap", function (e) { if (e.target === cy && mode !== "connect") select(null); });
  cy.on("dragfree", "node", function () { dirty = true; });
  window.addEventListener("beforeunload", function (e) { if (dirty) { e.preventDefault(); e.returnValue = ""; } });

  const tables = document.querySelector(".editor-tables");
  if (tables) tables.hidden = true;
  render();
  drawing.fit();
  if (!model.campaign.name) select("campaign");
  const url = new URL(window.location.href);
  if (url.searchParams.get("saved")) {
    setStatus("Saved.", false);
    url.searchParams.delete("saved");
    window.history.replaceState(null, "", url.toString());
  }
  root.drawing = drawing;  // for scripts and tests: the Cytoscape instance is drawing.cy
  root.dataset.ready = "true";
})();

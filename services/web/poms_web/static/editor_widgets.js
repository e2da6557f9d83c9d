// Campaign editor widgets: key/value pair lists, the split-type picker with its help,
// and the custom editors of a list and a multiparam dataset. No knowledge of the graph:
// each widget takes a value and calls onChange with the new one.
(function () {
  "use strict";

  function el(tag, attrs) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(function ([key, value]) {
      if (value === null || value === undefined || value === false) return;
      if (key === "text") node.textContent = value;
      else if (key === "value") node.value = value;
      else if (key === "on") Object.entries(value).forEach(function ([ev, fn]) { node.addEventListener(ev, fn); });
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key in node && typeof value !== "string") node[key] = value;
      else node.setAttribute(key, value === true ? "" : value);
    });
    [].slice.call(arguments, 2).flat().forEach(function (child) {
      if (child === null || child === undefined || child === false) return;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function button(text, onClick, cls) {
    return el("button", { type: "button", class: cls || null, text: text, on: { click: onClick } });
  }

  function shown(value) {
    if (value === null || value === undefined) return "";
    return typeof value === "string" ? value : JSON.stringify(value);
  }

  // ---- key/value pairs -------------------------------------------------------------------

  // value: [[key, value], ...] or null ("not set": the campaign default applies, when
  // inherit is given as the text describing the default)
  function pairsEditor(opts) {
    let value = opts.value === null || opts.value === undefined ? null : opts.value.map(function (p) { return p.slice(); });
    const box = el("div", { class: "pairs" });
    function emit() { opts.onChange(value === null ? null : value.map(function (p) { return p.slice(); })); }
    function draw() {
      box.replaceChildren();
      if (opts.inherit !== undefined) {
        const check = el("input", { type: "checkbox", checked: value === null, disabled: opts.disabled,
          on: { change: function () { value = check.checked ? null : []; emit(); draw(); } } });
        box.appendChild(el("label", { class: "inherit" }, check, " use the campaign default " + opts.inherit));
        if (value === null) return;
      }
      const body = el("tbody");
      value.forEach(function (pair, i) {
        const key = el("input", { class: "key", value: shown(pair[0]), "aria-label": (opts.label || "") + " key " + (i + 1), disabled: opts.disabled,
          on: { input: function () { pair[0] = key.value; emit(); } } });
        const val = el("input", { class: "value", value: shown(pair[1]), "aria-label": (opts.label || "") + " value " + (i + 1), disabled: opts.disabled,
          on: { input: function () { pair[1] = val.value; emit(); } } });
        const move = function (to) { return function () {
          if (to < 0 || to >= value.length) return;
          value.splice(to, 0, value.splice(i, 1)[0]); emit(); draw();
        }; };
        body.appendChild(el("tr", {}, el("td", {}, key), el("td", {}, val), el("td", { class: "row-buttons" },
          opts.disabled ? null : [button("↑", move(i - 1)), button("↓", move(i + 1)),
            button("×", function () { value.splice(i, 1); emit(); draw(); }, "danger")])));
      });
      box.appendChild(el("table", { class: "pairs-table" },
        el("thead", {}, el("tr", {}, el("th", { text: opts.keyLabel || "Key" }), el("th", { text: opts.valueLabel || "Value" }), el("th"))), body));
      if (!opts.disabled) box.appendChild(button(opts.addLabel || "Add pair", function () { value.push(["", ""]); emit(); draw(); }));
    }
    draw();
    return box;
  }

  function pairsProblem(value) {
    if (!value) return null;
    for (const pair of value) {
      if (shown(pair[0]).trim() === "" && shown(pair[1]).trim() !== "") return "each value needs a key";
    }
    return null;
  }

  function cleanPairs(value) {
    if (value === null || value === undefined) return null;
    return value.filter(function (p) { return shown(p[0]) !== "" || shown(p[1]) !== ""; });
  }

  // ---- split types ---------------------------------------------------------------------

  const COUNT = ["nfiles", "mod", "drainingn", "stagedfiles", "limitn"];
  const NAMED = ["byrun", "new", "new_local"];
  const DURATION = /^\d+(\.\d*)?[wdhms]?$/;

  function parseSplit(text) {
    const t = (text || "").replace(/\s+/g, "");
    if (!t || t.toLowerCase() === "none") return { kind: "None", params: {} };
    const cut = [t.indexOf("("), t.indexOf("_")].filter(function (i) { return i >= 0; });
    const at = cut.length ? Math.min.apply(null, cut) : t.length;
    let kind = t.slice(0, at).toLowerCase();
    let rest = t.slice(at);
    if (kind === "new" && /^_local/.test(rest)) { kind = "new_local"; rest = rest.slice("_local".length); }
    let args = rest;
    if (rest.startsWith("_")) args = rest.slice(1);
    else if (rest.startsWith("(") && rest.endsWith(")")) args = rest.slice(1, -1);
    else if (rest) return { kind: "other", raw: text, params: {} };
    const params = {};
    if (COUNT.includes(kind)) params.n = args;
    else if (NAMED.includes(kind)) {
      for (const item of args.split(",").filter(Boolean)) {
        const eq = item.indexOf("=");
        if (eq < 0) return { kind: "other", raw: text, params: {} };
        params[item.slice(0, eq)] = item.slice(eq + 1);
      }
    } else if (args) return { kind: "other", raw: text, params: {} };
    return { kind: kind, params: params };
  }

  function composeSplit(kind, params) {
    if (COUNT.includes(kind)) return kind + "(" + (params.n || "") + ")";
    if (NAMED.includes(kind)) {
      const given = Object.keys(params).filter(function (k) { return params[k] !== "" && params[k] !== undefined; });
      return given.length ? kind + "(" + given.map(function (k) { return k + "=" + params[k]; }).join(",") + ")" : kind;
    }
    return kind;
  }

  function splitProblem(text, known) {
    if (!text) return null;
    const split = parseSplit(text);
    if (split.kind === "other" || !known.includes(split.kind)) return "not a split type this editor knows: " + text;
    const p = split.params;
    if (COUNT.includes(split.kind) && !/^[1-9]\d*$/.test(p.n || "")) return "n must be a whole number of at least 1";
    if (split.kind === "byrun") {
      for (const k of ["low", "high"]) if (p[k] !== undefined && !/^-?\d+$/.test(p[k])) return k + " must be a whole number";
      if (p.low !== undefined && p.high !== undefined && Number(p.low) > Number(p.high)) return "low is above high";
    }
    if (split.kind.startsWith("new")) {
      for (const k of Object.keys(p)) if (!DURATION.test(p[k])) return k + " must be a number, optionally ending in w, d, h, m or s";
    }
    return null;
  }

  // opts: value (expression or "" when not set), types (from the server), inherit (text or
  // undefined), disabled, onChange(expression)
  function splitPicker(opts) {
    const box = el("div", { class: "split-picker" });
    let split = parseSplit(opts.value);
    let unset = !opts.value;
    function emit() { opts.onChange(unset ? "" : (split.kind === "other" ? split.raw : composeSplit(split.kind, split.params))); }
    function draw() {
      box.replaceChildren();
      const select = el("select", { id: "f-cs_split_type", disabled: opts.disabled, on: { change: function () {
        unset = select.value === "";
        split = unset ? { kind: "None", params: {} } : (select.value === "other" ? split : { kind: select.value, params: {} });
        emit(); draw();
      } } });
      if (opts.inherit !== undefined) select.appendChild(el("option", { value: "", text: "campaign default " + opts.inherit }));
      opts.types.forEach(function (t) { select.appendChild(el("option", { value: t.kind, text: t.kind })); });
      if (split.kind === "other") select.appendChild(el("option", { value: "other", text: "other: " + split.raw }));
      select.value = unset && opts.inherit !== undefined ? "" : split.kind;
      box.appendChild(select);
      const type = opts.types.find(function (t) { return t.kind === split.kind; });
      if (type && !unset) {
        type.params.forEach(function (name) {
          const input = el("input", { class: "split-param", size: 8, value: split.params[name] || "", "aria-label": "split parameter " + name,
            disabled: opts.disabled, on: { input: function () { split.params[name] = input.value.trim(); emit(); expression.textContent = composeSplit(split.kind, split.params); } } });
          box.appendChild(el("label", { class: "param" }, name + " ", input));
        });
      }
      const expression = el("code", { class: "split-expression", text: unset ? "" : (split.kind === "other" ? split.raw : composeSplit(split.kind, split.params)) });
      box.appendChild(expression);
      if (type) box.appendChild(el("p", { class: "split-help", text: type.help }));
    }
    draw();
    return box;
  }

  // ---- dataset editors (list, multiparam) ------------------------------------------------

  function listEditor(value, onApply, onCancel) {
    const area = el("textarea", { rows: 6, cols: 40, "aria-label": "datasets, one per line",
      value: (value || "").split(",").map(function (s) { return s.trim(); }).filter(Boolean).join("\n") });
    return el("fieldset", { class: "custom-editor list-editor" }, el("legend", { text: "Datasets, one per line, in launch order" }), area,
      el("div", {}, button("Apply", function () {
        onApply(area.value.split("\n").map(function (s) { return s.trim(); }).filter(Boolean).join(","));
      }), button("Cancel", onCancel)));
  }

  function multiparamLists(value) {
    try {
      const lists = JSON.parse(value);
      if (Array.isArray(lists) && lists.every(Array.isArray)) return lists.map(function (l) { return l.map(String); });
    } catch (e) { /* not JSON yet: start afresh */ }
    return [[]];
  }

  function multiparamProblem(value) {
    let lists;
    try { lists = JSON.parse(value); } catch (e) { return "multiparam data must be a JSON list of lists, e.g. [[\"a\",\"b\"],[\"1\",\"2\"]]"; }
    if (!Array.isArray(lists) || !lists.length || !lists.every(function (l) { return Array.isArray(l) && l.length; })) {
      return "multiparam data must be a non-empty JSON list of non-empty lists";
    }
    return null;
  }

  function multiparamEditor(value, onApply, onCancel) {
    const lists = multiparamLists(value);
    const box = el("fieldset", { class: "custom-editor multiparam-editor" }, el("legend", { text: "Lists of values; each launch takes the next combination" }));
    const columns = el("div", { class: "columns-editor" });
    const preview = el("p", { class: "note" });
    function read() {
      return [...columns.querySelectorAll("textarea")].map(function (a) {
        return a.value.split("\n").map(function (s) { return s.trim(); }).filter(Boolean);
      });
    }
    function show() {
      const now = read().filter(function (l) { return l.length; });
      let combos = null;
      now.forEach(function (list) {
        // the first list varies fastest (reference §5.3)
        combos = combos === null ? list.slice() : list.flatMap(function (v) {
          return combos.map(function (c) { return c + "_" + v; });
        });
      });
      combos = combos || [];
      preview.textContent = now.length ? combos.length + " combinations: " + combos.slice(0, 6).join(", ") + (combos.length > 6 ? ", …" : "") : "no values yet";
    }
    function addColumn(values) {
      const area = el("textarea", { rows: 6, cols: 14, "aria-label": "list " + (columns.children.length + 1) + ", one value per line", value: values.join("\n"), on: { input: show } });
      const col = el("div", { class: "column" }, area, button("Remove list", function () { col.remove(); show(); }, "danger"));
      columns.appendChild(col);
    }
    lists.forEach(addColumn);
    box.append(columns, button("Add list", function () { addColumn([]); show(); }), preview,
      el("div", {}, button("Apply", function () { onApply(JSON.stringify(read().filter(function (l) { return l.length; }))); }), button("Cancel", onCancel)));
    show();
    return box;
  }

  window.PomsWidgets = {
    el: el, button: button, shown: shown,
    pairsEditor: pairsEditor, pairsProblem: pairsProblem, cleanPairs: cleanPairs,
    parseSplit: parseSplit, composeSplit: composeSplit, splitProblem: splitProblem, splitPicker: splitPicker,
    listEditor: listEditor, multiparamEditor: multiparamEditor, multiparamProblem: multiparamProblem,
  };
})();

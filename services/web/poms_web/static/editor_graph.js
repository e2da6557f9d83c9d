// The campaign editor's drawing, with Cytoscape.js (vendor/cytoscape.min.js): node and
// edge styles, keeping the drawing in step with what the editor wants shown, and where a
// new node goes (its saved position, where an action asked, else a free spot).
(function () {
  "use strict";

  const STYLE = [
    { selector: "node", style: { label: "data(label)", "text-valign": "center", "text-halign": "center", "text-wrap": "wrap",
      "text-max-width": 140, "font-size": 12, width: 150, height: 46, shape: "round-rectangle", "background-color": "data(color)",
      "border-width": 1, "border-color": "#51606d" } },
    { selector: "node[kind = 'campaign']", style: { "background-color": "#17344d", color: "#fff", shape: "rectangle", width: 170, height: 54 } },
    { selector: "node[kind = 'login_setup']", style: { shape: "diamond", "background-color": "#d5dbe1", width: 130, height: 64, "font-size": 11 } },
    { selector: "node[kind = 'job_type']", style: { shape: "hexagon", width: 140, height: 54, "font-size": 11 } },
    { selector: "node.chosen", style: { "border-width": 4, "border-color": "#1d232a" } },
    { selector: "node.invalid", style: { "border-width": 4, "border-color": "#a12a2a", "border-style": "dashed" } },
    { selector: "edge", style: { width: 2, "curve-style": "bezier", "target-arrow-shape": "triangle", "line-color": "#7a8793",
      "target-arrow-color": "#7a8793", label: "data(label)", "font-size": 11, "text-background-color": "#fff",
      "text-background-opacity": 1, "text-background-padding": 2 } },
    { selector: "edge.chosen", style: { width: 4, "line-color": "#1d232a", "target-arrow-color": "#1d232a" } },
    { selector: "edge.invalid", style: { "line-color": "#a12a2a", "target-arrow-color": "#a12a2a" } },
  ];

  // positions: the saved ones, {label: [x, y]}; nodes carry their label as data "key"
  // (and "alt": an older label for the same node)
  function create(container, positions) {
    const cy = window.cytoscape({ container: container, style: STYLE, minZoom: 0.2, maxZoom: 2.5, boxSelectionEnabled: false });
    const saved = {};
    Object.entries(positions || {}).forEach(function ([label, xy]) { saved[label] = { x: xy[0], y: xy[1] }; });
    const asked = {};
    let edges = [];

    function free(x, y, id) {
      const taken = function (px, py) {
        return cy.nodes().some(function (e) { return e.id() !== id && Math.abs(e.position("x") - px) < 120 && Math.abs(e.position("y") - py) < 60; });
      };
      let tries = 0;
      while (taken(x, y) && tries < 200) { y += 70; tries += 1; if (tries % 8 === 0) { x += 170; y -= 560; } }
      return { x: x, y: y };
    }

    function depth(id) {
      let level = 0, front = [id];
      const seen = new Set(front);
      while (front.length && level < 100) {
        const ups = edges.filter(function (d) { return front.includes(d.target) && !seen.has(d.source); }).map(function (d) { return d.source; });
        if (!ups.length) break;
        ups.forEach(function (u) { seen.add(u); });
        front = ups;
        level += 1;
      }
      return level;
    }

    function place(n) {
      const at = asked[n.id] || saved[n.key] || (n.alt ? saved[n.alt] : null);
      if (at) return free(at.x, at.y, n.id);
      if (n.kind === "campaign") return free(-220, 0, n.id);
      if (n.kind === "stage") return free(depth(n.id) * 220, 0, n.id);
      const bottom = Math.max.apply(null, [160].concat(cy.nodes("[kind = 'stage']").map(function (e) { return e.position("y") + 160; })));
      return free(n.kind === "login_setup" ? -220 : 0, bottom, n.id);
    }

    // want: {nodes: [data], edges: [data]}; marks: {invalid: [ids], chosen: id or null}
    function sync(want, marks) {
      edges = want.edges;
      const ids = new Set(want.nodes.concat(want.edges).map(function (x) { return x.id; }));
      cy.batch(function () {
        cy.remove(cy.elements().filter(function (e) { return !ids.has(e.id()); }));
        want.nodes.forEach(function (n) {
          const e = cy.getElementById(n.id);
          if (e.nonempty()) e.data(n);
          else cy.add({ group: "nodes", data: n, position: place(n) });
        });
        want.edges.forEach(function (d) {
          const e = cy.getElementById(d.id);
          if (e.nonempty()) e.data(d);
          else cy.add({ group: "edges", data: d });
        });
        cy.elements().removeClass("chosen invalid");
        marks.invalid.forEach(function (id) { cy.getElementById(id).addClass("invalid"); });
        if (marks.chosen) cy.getElementById(marks.chosen).addClass("chosen");
      });
    }

    return {
      cy: cy,
      sync: sync,
      ask: function (id, at) { asked[id] = at; },
      at: function (id) { return cy.getElementById(id).position(); },
      positions: function () {
        const found = {};
        cy.nodes().forEach(function (n) { found[n.data("key")] = [Math.round(n.position("x")), Math.round(n.position("y"))]; });
        return found;
      },
      fit: function () { cy.resize(); cy.fit(undefined, 30); },
    };
  }

  window.PomsGraph = { create: create };
})();

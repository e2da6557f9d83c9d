// The triage page's charts, drawn with the vendored Chart.js (static/vendor/chart.umd.js,
// v4.6.1) from the JSON embedded in the page (#triage-data): no further requests. Without
// this script (or without Chart.js) the page still shows every number in its tables.
(function () {
  "use strict";

  const COLORS = {
    started: "#1f5f8b",
    done: "#2a7a2a",
    failed: "#a12a2a",
    killed: "#8a6d00",
    running: "#6a3d9a",
    used: "#1f5f8b",
    requested: "#9fb3c8",
    bars: "#1f5f8b",
  };

  function bars(label, data, color) {
    return { type: "bar", label: label, data: data, backgroundColor: color, borderColor: color };
  }

  function options(xTitle, yTitle, stacked) {
    return {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      interaction: { mode: "index", intersect: false },
      scales: {
        x: { stacked: !!stacked, title: { display: true, text: xTitle } },
        y: { stacked: !!stacked, beginAtZero: true, title: { display: true, text: yTitle },
             ticks: { precision: 0 } },
      },
      plugins: { legend: { display: true, position: "bottom" } },
    };
  }

  function timeline(all) {
    const data = all.timeline;
    const running = {
      type: "line", label: "running (at the bucket's end)", data: data.running,
      borderColor: COLORS.running, backgroundColor: COLORS.running, yAxisID: "y",
      stack: "running", tension: 0, pointRadius: 2,
    };
    const started = Object.assign(bars("started", data.started, COLORS.started), { stack: "started" });
    const chart = {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: [
          started,
          Object.assign(bars("done", data.done, COLORS.done), { stack: "ended" }),
          Object.assign(bars("failed", data.failed, COLORS.failed), { stack: "ended" }),
          Object.assign(bars("killed", data.killed, COLORS.killed), { stack: "ended" }),
          running,
        ],
      },
      // grouped stacks: "ended" piles done, failed and killed; started and running stand alone
      options: options("from (UTC)", "jobs", true),
    };
    return chart;
  }

  function histogram(labels, datasets, xTitle) {
    return { type: "bar", data: { labels: labels, datasets: datasets }, options: options(xTitle, "jobs") };
  }

  const CHARTS = {
    "chart-timeline": timeline,
    "chart-efficiency": function (d) {
      const e = d.efficiency;
      return histogram(e.labels, [bars("jobs", e.counts, COLORS.bars)], "CPU time / wall time");
    },
    "chart-memory": function (d) {
      const m = d.memory;
      return histogram(m.labels, [
        bars("peak used", m.used, COLORS.used),
        bars("requested", m.requested, COLORS.requested),
      ], "memory");
    },
    "chart-memory-share": function (d) {
      const s = d.memory.share;
      return histogram(s.labels, [bars("jobs", s.counts, COLORS.bars)], "peak used / requested");
    },
  };

  function draw() {
    const source = document.getElementById("triage-data");
    if (!source || typeof window.Chart === "undefined") return;
    const data = JSON.parse(source.textContent);
    Object.keys(CHARTS).forEach(function (id) {
      const canvas = document.getElementById(id);
      if (!canvas) return;
      const chart = new window.Chart(canvas, CHARTS[id](data));
      canvas.dataset.drawn = "true";
      // the chart shows the numbers: fold the table under it (still there to open)
      const figure = canvas.closest("figure");
      const numbers = figure && figure.querySelector("details.numbers");
      if (numbers && chart) numbers.removeAttribute("open");
    });
  }

  function customWindow() {
    // Typing a start or end time means a custom window (before the form submits itself).
    const form = document.querySelector("form.triage-filters");
    const select = document.getElementById("triage-window");
    if (!form || !select) return;
    form.addEventListener("change", function (event) {
      if (event.target.name === "tmin" || event.target.name === "tmax") select.value = "custom";
    });
  }

  customWindow();
  draw();
})();

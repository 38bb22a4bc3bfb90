/* Tallybook console: progressive enhancement only (pages work without it).
   Charts are drawn by Chart.js from JSON data islands (<script type="application/json">);
   every table is also shown as HTML, so nothing depends on the script. */
(function () {
  "use strict";
  var COLORS = {
    new: "#2f7d57", expansion: "#5aa879", reactivation: "#8fcca6",
    contraction: "#e3a34a", churn: "#c2372f", mrr: "#2a52c2", bins: "#2a52c2"
  };

  function data(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function movementsChart() {
    var canvas = document.getElementById("movements-chart");
    var d = data("movements-data");
    if (!canvas || !d || !window.Chart || window.Chart.getChart(canvas)) { return; }
    var sets = Object.keys(d.movements).map(function (name) {
      return { type: "bar", label: name, data: d.movements[name].map(Number),
               backgroundColor: COLORS[name], stack: "m" };
    });
    sets.push({ type: "line", label: "MRR", data: d.mrr.map(Number),
                borderColor: COLORS.mrr, backgroundColor: COLORS.mrr, yAxisID: "y" });
    new window.Chart(canvas, {
      data: { labels: d.labels, datasets: sets },
      options: { maintainAspectRatio: false, animation: false,
                 scales: { x: { stacked: true }, y: { stacked: true } } }
    });
  }

  function barChart(canvasId, dataId) {
    var canvas = document.getElementById(canvasId);
    var d = data(dataId);
    if (!canvas || !d || !window.Chart || window.Chart.getChart(canvas)) { return; }
    new window.Chart(canvas, {
      type: "bar",
      data: { labels: d.labels, datasets: [{ label: d.label, data: d.values.map(Number),
                                              backgroundColor: COLORS.bins }] },
      options: { maintainAspectRatio: false, animation: false }
    });
  }

  function draw() {
    movementsChart();
    barChart("allowance-chart", "allowance-data");
    barChart("deltas-chart", "deltas-data");
  }

  document.addEventListener("htmx:afterSettle", draw);  // new canvases only
  window.addEventListener("DOMContentLoaded", function () {
    draw();
    document.documentElement.setAttribute("data-console-ready", "true");
  });
})();

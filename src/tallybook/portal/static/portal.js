/* Tallybook portal: daily usage charts drawn by Chart.js from JSON data islands
   (<script type="application/json" id="chart-data-N">, built by portal/pages.py charts()).
   Progressive enhancement only: each chart's numbers are also an HTML table. Days still to
   come are null values: Chart.js leaves their slot empty, a grey baseline marks them. */
(function () {
  "use strict";

  function compact(value) {
    return new Intl.NumberFormat(document.documentElement.lang || "en",
      { notation: "compact", maximumFractionDigits: 1 }).format(value);
  }

  function draw(canvas) {
    var island = document.getElementById(canvas.getAttribute("data-chart"));
    if (!island || !window.Chart || window.Chart.getChart(canvas)) { return; }
    var d = JSON.parse(island.textContent);
    var values = d.values.map(function (v) { return v === null ? null : Number(v); });
    var future = d.values.map(function (v) { return v === null ? 0 : null; });
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: d.labels,
        datasets: [
          { label: d.label, data: values, backgroundColor: d.color, borderRadius: 2,
            grouped: false },
          { label: "To come", data: future, backgroundColor: "#dfe3ea", grouped: false,
            minBarLength: 3 }
        ]
      },
      options: {
        maintainAspectRatio: false, animation: false,
        plugins: {
          legend: { display: false },
          tooltip: {
            filter: function (item) { return item.datasetIndex === 0 || item.raw !== null; },
            callbacks: {
              title: function () { return ""; },
              label: function (item) { return d.titles[item.dataIndex]; }
            }
          }
        },
        scales: {
          x: { grid: { display: false }, ticks: { autoSkip: true, maxRotation: 0 } },
          y: { beginAtZero: true, ticks: { callback: compact, maxTicksLimit: 5 } }
        }
      }
    });
  }

  window.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("canvas[data-chart]").forEach(draw);
    document.documentElement.setAttribute("data-charts-ready", "true");
  });
})();

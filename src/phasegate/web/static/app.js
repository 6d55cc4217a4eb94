// Draws every Plotly figure a page carries in a data-figure attribute, including figures
// htmx swaps in later; a click on a point with a link in its customdata opens that page.
(function () {
  "use strict";

  var CONFIG = {
    responsive: true,
    displaylogo: false,
    modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d", "toggleSpikelines"],
  };

  function draw(element) {
    if (typeof Plotly === "undefined" || element.dataset.drawn) {
      return;
    }
    var figure = JSON.parse(element.dataset.figure);
    element.dataset.drawn = "1";
    element.textContent = "";
    Plotly.newPlot(element, figure.data, figure.layout, CONFIG).then(function () {
      element.on("plotly_click", function (event) {
        var point = event.points && event.points[0];
        var target = point && point.customdata && point.customdata[0];
        if (typeof target === "string" && target.charAt(0) === "/") {
          window.location.href = target;
        }
      });
    });
  }

  function drawWithin(root) {
    if (root.matches && root.matches("[data-figure]")) {
      draw(root);
    }
    if (root.querySelectorAll) {
      root.querySelectorAll("[data-figure]").forEach(draw);
    }
  }

  if (window.htmx) {
    window.htmx.onLoad(drawWithin);
  } else {
    document.addEventListener("DOMContentLoaded", function () {
      drawWithin(document);
    });
  }
})();

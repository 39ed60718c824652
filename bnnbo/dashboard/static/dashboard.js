// The dashboard's one script: draw the page's Plotly figures from its JSON endpoint and keep
// the page live (poll the JSON; swap in a fresh HTML fragment when the study changed).
// Labels from the store reach the page only as text: textContent, or entity-escaped for Plotly,
// whose labels accept a few HTML-like tags.
(function () {
  "use strict";
  var main = document.getElementById("dash");
  if (!main) { return; }
  var kind = main.dataset.kind, api = main.dataset.api, fragment = main.dataset.fragment;
  var refresh = parseFloat(main.dataset.refresh || "0");
  var COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"];
  var CONFIG = {responsive: true, displaylogo: false, modeBarButtonsToRemove: ["select2d", "lasso2d"]};

  function text(s) {
    return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  function rgba(hex, alpha) {
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + (n >> 16 & 255) + "," + (n >> 8 & 255) + "," + (n & 255) + "," + alpha + ")";
  }

  // A plot container by key, created on first use under #plots (keeps its place afterwards);
  // small ones share a two-column grid.
  function box(key, title, small) {
    var parent = document.getElementById("plots");
    var id = "plot-" + key.replace(/[^A-Za-z0-9_-]/g, "_");
    var el = document.getElementById(id);
    if (el) { return el; }
    if (small) {
      var grid = document.getElementById("plots-grid");
      if (!grid) {
        grid = document.createElement("div");
        grid.id = "plots-grid";
        parent.appendChild(grid);
      }
      parent = document.createElement("div");
      grid.appendChild(parent);
    }
    if (title) {
      var h = document.createElement("h3");
      h.className = "plot-title";
      h.textContent = title;
      parent.appendChild(h);
    }
    el = document.createElement("div");
    el.id = id;
    el.className = "plot" + (small ? " small" : "");
    parent.appendChild(el);
    return el;
  }

  function initialShade(n) {
    return n > 0 ? [{type: "rect", xref: "x", yref: "paper", x0: 0.5, x1: n + 0.5, y0: 0, y1: 1,
                     fillcolor: "#e0e0e0", line: {width: 0}, layer: "below"}] : [];
  }

  function layout(xTitle, yTitle, extra) {
    var l = {margin: {l: 64, r: 16, t: 16, b: 48}, xaxis: {title: {text: xTitle}, zeroline: false},
             yaxis: {title: {text: text(yTitle)}, zeroline: false}, legend: {orientation: "v"},
             hovermode: "closest", paper_bgcolor: "#fff", plot_bgcolor: "#fff"};
    return Object.assign(l, extra || {});
  }

  // ---- one study: mean +- SE per surrogate, one figure per problem ----
  function drawStudy(d) {
    d.problems.forEach(function (p) {
      var traces = [];
      p.series.forEach(function (s) {
        var lo = [], hi = [], xs = [];
        s.x.forEach(function (x, i) {
          if (s.se[i] !== null) { xs.push(x); lo.push(s.mean[i] - s.se[i]); hi.push(s.mean[i] + s.se[i]); }
        });
        var name = text(s.surrogate) + " (" + s.runs + " run" + (s.runs === 1 ? "" : "s") +
                   (s.unfinished ? ", " + s.unfinished + " unfinished" : "") + ")";
        traces.push({x: xs.concat(xs.slice().reverse()), y: hi.concat(lo.reverse()), fill: "toself",
                     fillcolor: rgba(s.color, 0.18), line: {width: 0}, hoverinfo: "skip",
                     showlegend: false, legendgroup: s.surrogate, type: "scatter", mode: "lines"});
        traces.push({x: s.x.slice(0, s.full), y: s.mean.slice(0, s.full), name: name, type: "scatter",
                     mode: "lines", line: {color: s.color, width: 2}, legendgroup: s.surrogate});
        if (s.full < s.x.length) {
          traces.push({x: s.x.slice(s.full - 1), y: s.mean.slice(s.full - 1), type: "scatter", mode: "lines",
                       line: {color: s.color, width: 1.5, dash: "dash"}, showlegend: false,
                       legendgroup: s.surrogate, name: name + ", partial"});
        }
      });
      var title = p.label + (p.name !== p.label ? " (" + p.name + ")" : "") +
                  (p.optimum !== null ? " · known optimum " + p.optimum.toPrecision(6) : "");
      var el = box("problem-" + p.label, title);
      el.dataset.problem = p.label;
      Plotly.react(el, traces, layout("evaluations", p.metric, {
        shapes: initialShade(p.n_init), showlegend: true, xaxis: {title: {text: "evaluations"}, range: [0.5, Math.max(p.budget, 1) + 0.5]}
      }), CONFIG);
    });
  }

  // ---- one run: trace, seconds per iteration, diagnostics, auto's scores ----
  function drawRun(d) {
    var ev = d.evaluations, it = d.iterations;
    var traces = [{x: ev.x, y: ev.trace, name: text(d.metric), type: "scatter", mode: "lines",
                   line: {color: d.color, width: 2, shape: "hv"}}];
    if (ev.y) {
      traces.push({x: ev.x, y: ev.y, name: "evaluated value", type: "scatter", mode: "markers",
                   marker: {color: ev.initial.map(function (i) { return i ? "#999" : d.color; }), size: 6}});
    }
    Plotly.react(box("trace", "Progress (grey: initial design)"), traces,
                 layout("evaluations", d.metric, {shapes: initialShade(d.n_init)}), CONFIG);
    if (!it.iteration.length) { return; }
    Plotly.react(box("seconds", "Seconds per iteration", true), [
      {x: it.iteration, y: it.fit_seconds, name: "fit", type: "scatter", mode: "lines+markers"},
      {x: it.iteration, y: it.acq_seconds, name: "acquisition", type: "scatter", mode: "lines+markers"}
    ], layout("iteration", "seconds"), CONFIG);
    Object.keys(it.diagnostics).forEach(function (k, i) {
      Plotly.react(box("diag-" + k, "Diagnostic: " + k, true), [
        {x: it.iteration, y: it.diagnostics[k], name: text(k), type: "scatter", mode: "lines+markers",
         line: {color: COLORS[i % COLORS.length]}}
      ], layout("iteration", k, {showlegend: false}), CONFIG);
    });
    var cands = Object.keys(it.scores);
    if (cands.length) {
      var st = cands.map(function (c, i) {
        return {x: it.iteration, y: it.scores[c], name: text(c), type: "scatter", mode: "lines+markers",
                connectgaps: false, line: {color: COLORS[i % COLORS.length]},
                marker: {size: it.choice.map(function (ch) { return ch === c ? 11 : 4; })}};
      });
      Plotly.react(box("auto-scores", "auto: held-out log-likelihood per candidate (large marker: chosen)", true),
                   st, layout("iteration", "held-out log-likelihood"), CONFIG);
    }
  }

  var status = document.getElementById("live-status");
  function stamp(ok) {
    if (!status) { return; }
    status.textContent = (ok ? "live · updated " : "update failed · ") + new Date().toLocaleTimeString();
    status.classList.toggle("stale", !ok);
  }

  function get(url, asJson) {
    return fetch(url, {cache: "no-store", headers: {Accept: asJson ? "application/json" : "text/html"}})
      .then(function (r) {
        if (!r.ok) { throw new Error(url + ": HTTP " + r.status); }
        return asJson ? r.json() : r.text();
      });
  }

  function draw(d) {
    if (kind === "study") { drawStudy(d); } else if (kind === "run") { drawRun(d); }
    document.body.dataset.drawn = String(Number(document.body.dataset.drawn || 0) + 1);
  }

  function update() {
    var plotted = kind === "study" || kind === "run";
    var p = plotted ? get(api, true) : Promise.resolve(null);
    return p.then(function (d) {
      if (d) { draw(d); }
      var changed = !d || kind === "run" || d.version !== main.dataset.version;
      if (!changed || !fragment) { return; }
      return get(fragment, false).then(function (html) {
        // the fragment holds an empty plots section: keep the drawn one in its place
        var live = document.getElementById("live"), drawn = document.getElementById("plots-section");
        if (drawn) { drawn.remove(); }
        live.innerHTML = html;  // our own autoescaped template
        var slot = document.getElementById("plots-section");
        if (drawn && slot) { slot.replaceWith(drawn); }
        if (d && d.version) { main.dataset.version = d.version; }
      });
    }).then(function () { stamp(true); }, function (err) { stamp(false); console.warn(err.message); });
  }

  function loop() {
    update().then(function () {
      if (refresh > 0) { setTimeout(loop, refresh * 1000); }
    });
  }
  var first = (kind === "study" || kind === "run") ? get(api, true).then(draw) : Promise.resolve();
  first.then(function () {
    if (refresh > 0) { setTimeout(loop, refresh * 1000); }
  }, function (err) { stamp(false); console.error("the page could not be drawn: " + err); });
})();

// The console's only script (CSP: no inline script). It draws the overview charts from
// /api/overview with the vendored ECharts, and follows a crawl job's progress on /jobs/{id}.
"use strict";

function drawOverview() {
  const charts = document.querySelectorAll("[data-chart=overview]");
  if (!charts.length || typeof echarts === "undefined") return;
  fetch("/api/overview", {credentials: "same-origin"}).then(r => r.json()).then(data => {
    charts.forEach(el => {
      const rows = data.spans[el.dataset.span][el.dataset.by];
      const chart = echarts.init(el, null, {renderer: "canvas"});
      chart.setOption({
        grid: {left: 48, right: 48, top: 28, bottom: 56},
        tooltip: {trigger: "axis"},
        legend: {data: ["数量", "负面占比"], top: 0},
        xAxis: {type: "category", data: rows.map(r => r.name), axisLabel: {interval: 0, rotate: 30}},
        yAxis: [{type: "value", name: "条"},
                {type: "value", name: "负面占比", min: 0, max: 1,
                 axisLabel: {formatter: v => Math.round(v * 100) + "%"}}],
        series: [{name: "数量", type: "bar", data: rows.map(r => r.total), itemStyle: {color: "#5b8ff9"}},
                 {name: "负面占比", type: "line", yAxisIndex: 1, data: rows.map(r => r.negative_share),
                  itemStyle: {color: "#c0392b"}}],
      });
      window.addEventListener("resize", () => chart.resize());
    });
  }).catch(() => {});
}

function followJob() {
  const box = document.getElementById("job");
  if (!box) return;
  const set = (id, value) => { const el = document.getElementById(id); if (el) el.textContent = value; };
  const when = iso => iso ? new Date(iso).toLocaleString("zh-CN", {hour12: false}) : "-";
  const poll = () => {
    fetch("/api/jobs/" + encodeURIComponent(box.dataset.job), {credentials: "same-origin"})
      .then(r => r.json()).then(job => {
        set("job-state", job.state);
        set("job-state-label", {queued: "排队中", running: "采集中", done: "完成", failed: "失败"}[job.state] || job.state);
        document.getElementById("job-state").className = "status " + job.state;
        set("job-status", job.status || "-");
        set("job-started", when(job.started_at));
        set("job-finished", when(job.finished_at));
        for (const key of ["new", "updated", "duplicates", "dropped"]) set("job-" + key, (job.counts || {})[key] || 0);
        set("job-log", (job.log_tail || []).join("\n"));
        const err = document.getElementById("job-error");
        if (job.error) { err.hidden = false; err.textContent = job.error; }
        box.dataset.state = job.state;
        if (job.state === "queued" || job.state === "running") setTimeout(poll, 1000);
      }).catch(() => setTimeout(poll, 3000));
  };
  if (box.dataset.state === "queued" || box.dataset.state === "running") setTimeout(poll, 500);
}

function drawSatisfaction() {
  const el = document.querySelector("[data-chart=satisfaction]");
  if (!el || typeof echarts === "undefined") return;
  fetch("/api/satisfaction", {credentials: "same-origin"}).then(r => r.json()).then(data => {
    const rows = data.trend;
    const chart = echarts.init(el, null, {renderer: "canvas"});
    chart.setOption({
      grid: {left: 48, right: 48, top: 28, bottom: 40},
      tooltip: {trigger: "axis"},
      legend: {data: ["CSAT", "回答数"], top: 0},
      xAxis: {type: "category", data: rows.map(r => r.key.month)},
      yAxis: [{type: "value", min: 0, max: 1, axisLabel: {formatter: v => Math.round(v * 100) + "%"}},
              {type: "value", name: "份"}],
      series: [{name: "CSAT", type: "line", data: rows.map(r => r.csat), itemStyle: {color: "#2e7d32"}},
               {name: "回答数", type: "bar", yAxisIndex: 1, data: rows.map(r => r.n),
                itemStyle: {color: "#c9d7ee"}}],
    });
    window.addEventListener("resize", () => chart.resize());
  }).catch(() => {});
}

document.addEventListener("DOMContentLoaded", () => { drawOverview(); followJob(); drawSatisfaction(); });

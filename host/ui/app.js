// premod's web UI: one page, hash routes, the /v1 JSON API only. No framework, no build step.
// Every element is made with `h()`; data never goes through innerHTML.
"use strict";

// ---------------------------------------------------------------------------------------------
// DOM helpers

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const main = () => document.getElementById("main");

function flash(message, kind) {
  const box = document.getElementById("flash");
  box.replaceChildren();
  if (!message) return;
  box.append(h("p", { class: kind === "ok" ? "flash ok" : "flash err" }, message));
}

// "2026-12-04T05:12:01Z" → "2026-12-04 14:12:01" (local time, like the seed), null → 없음.
function when(text) {
  if (!text) return t("none");
  const d = new Date(text);
  if (Number.isNaN(d.getTime())) return text;
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function bytes(n) {
  if (n === undefined || n === null) return "";
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

function statusBadge(status, prefix = "status") {
  return h("span", { class: `badge ${prefix}-${status}`, "data-status": status }, t(`${prefix}_${status}`));
}

const FINAL = new Set(["completed", "failed", "stopped"]);

// A table with a caption, column headers and one row per item; `row` returns the cells.
function table(opts) {
  const { caption, id, columns, items, row } = opts;
  const body = h("tbody");
  for (const item of items) {
    const cells = row(item);
    const tr = h("tr", opts.rowAttrs ? opts.rowAttrs(item) : {});
    cells.forEach((c, i) => tr.append(i === 0 && opts.rowHeader ? h("th", { scope: "row" }, c) : h("td", {}, c)));
    body.append(tr);
  }
  if (items.length === 0) {
    body.append(h("tr", {}, h("td", { colspan: columns.length, class: "empty" }, t("empty"))));
  }
  return h("div", { class: "table-wrap" },
    h("table", { id },
      caption ? h("caption", { class: "sr-only" }, caption) : null,
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
      body),
    h("p", { class: "count" }, t(items.length === 1 ? "showing_one" : "showing", { n: items.length })));
}

function section(title, id, ...children) {
  return h("section", { "aria-labelledby": id }, h("h2", { id }, title), ...children);
}

// A <dl> of label → value pairs.
function facts(pairs) {
  return h("dl", { class: "facts" }, pairs.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

// ---------------------------------------------------------------------------------------------
// API

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  const token = sessionStorage.getItem("premod.token");
  if (token) headers.Authorization = `Bearer ${token}`;
  let payload;
  if (body instanceof Blob) {
    headers["Content-Type"] = "application/wasm";
    payload = body;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = typeof body === "string" ? body : JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(`/v1${path}`, { method, headers, body: payload });
  } catch (e) {
    throw new ApiError(0, "network", t("err_network", { err: e.message }));
  }
  if (!res.ok) {
    let code = "", message = `${res.status} ${res.statusText}`;
    try {
      const j = await res.json();
      if (j && j.error) { code = j.error.code; message = j.error.message; }
    } catch (_) { /* not JSON: keep the status line */ }
    if (res.status === 401) {
      message = `${t("err_unauthorized")} (${message})`;
      document.getElementById("token-field").hidden = false;
    }
    throw new ApiError(res.status, code, message);
  }
  if (res.status === 204) return null;
  const type = res.headers.get("content-type") || "";
  return type.includes("json") ? res.json() : res.text();
}

const enc = encodeURIComponent;

// Runs an action from a button: disables it while pending, shows the outcome.
async function act(button, work, okMessage) {
  if (button) button.disabled = true;
  try {
    const out = await work();
    if (okMessage) flash(typeof okMessage === "function" ? okMessage(out) : okMessage, "ok");
    return out;
  } catch (e) {
    flash(e.message || String(e), "err");
    return undefined;
  } finally {
    if (button && button.isConnected) button.disabled = false;
  }
}

// ---------------------------------------------------------------------------------------------
// Routing

let generation = 0;
let cleanups = [];

let keepFlashOnce = false;

function onLeave(fn) { cleanups.push(fn); }

// Navigates after an action, keeping the action's message on the next page.
function go(hash) {
  if (location.hash === hash) { route({ keepFlash: true }); return; }
  keepFlashOnce = true;
  location.hash = hash;
}

function leave() {
  for (const fn of cleanups) { try { fn(); } catch (_) { /* already gone */ } }
  cleanups = [];
}

const ROUTES = [
  [/^#\/models$/, (m, gen) => viewModels(m, gen)],
  [/^#\/models\/new$/, (m, gen) => viewNewModel(m, gen)],
  [/^#\/models\/([^/]+)$/, (m, gen) => viewModel(decodeURIComponent(m[1]), gen)],
  [/^#\/runs$/, (m, gen) => viewRuns(m, gen)],
  [/^#\/runs\/(\d+)$/, (m, gen) => viewRun(Number(m[1]), gen)],
  [/^#\/runs\/(\d+)\/steps\/(\d+)\/log$/, (m, gen) => viewLog(Number(m[1]), Number(m[2]), gen)],
  [/^#\/modules$/, (m, gen) => viewModules(m, gen)],
  [/^#\/datasets$/, (m, gen) => viewDatasets(m, gen)],
];

async function route(opts = {}) {
  const { keepFlash = false, refresh = false } = opts;
  leave();
  const gen = ++generation;
  if (!keepFlash) flash("");
  const hash = location.hash || "#/models";
  const section = hash.split("/")[1] || "models";
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.dataset.nav === section) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  for (const [re, view] of ROUTES) {
    const m = hash.match(re);
    if (!m) continue;
    try {
      const content = await view(m, gen);
      if (gen !== generation || !content) return;
      const key = refresh ? focusKey(main()) : null;
      main().replaceChildren(content);
      if (key) main().querySelector(key)?.focus({ preventScroll: true });
      const h1 = main().querySelector("h1");
      if (h1) { h1.tabIndex = -1; if (!refresh) h1.focus({ preventScroll: true }); }
      document.title = `${h1 ? h1.textContent : ""} · premod`;
    } catch (e) {
      if (gen !== generation) return;
      main().replaceChildren(h("h1", {}, t("error")), h("p", { class: "flash err" }, e.message || String(e)));
    }
    return;
  }
  location.hash = "#/models";
}

// Re-renders the current page when `gen` is still current (after an action on it).
function refresh(gen) {
  if (gen === generation) route({ keepFlash: true, refresh: true });
}

function isCurrent(gen) { return gen === generation; }

// ---------------------------------------------------------------------------------------------
// Pages: models

async function viewModels() {
  const models = await api("GET", "/models");
  return h("div", {},
    h("h1", {}, t("models_title")),
    h("p", {}, h("a", { class: "button", href: "#/models/new", id: "new-model" }, t("model_new"))),
    table({
      caption: t("models_title"), id: "models",
      columns: [t("model_name"), t("ref_dataset"), t("rules_count"), t("created_at")],
      items: models, rowHeader: true,
      row: (m) => [h("a", { href: `#/models/${enc(m.name)}` }, m.name), m.dataset, m.rules.length, when(m.created_at)],
    }));
}

function runRow(r, reload) {
  const active = !FINAL.has(r.status);
  const label = t("row_run", { id: r.id });
  return [
    r.id,
    h("a", { href: `#/runs/${r.id}` }, r.model),
    r.dataset,
    when(r.started_at),
    when(r.finished_at),
    statusBadge(r.status),
    h("span", { class: "actions" },
      h("a", { class: "button small", href: `#/runs/${r.id}`, "aria-label": `${t("detail")} ${label}` }, t("detail")),
      h("button", {
        type: "button", class: "small", "data-action": "run", "aria-label": `${t("run")} ${label}`,
        onclick: async (e) => {
          const run = await act(e.target, () => api("POST", `/models/${enc(r.model)}/runs`, { dataset: r.dataset }),
            (x) => t("run_started", { id: x.id }));
          if (run) reload();
        },
      }, t("run")),
      h("button", {
        type: "button", class: "small", "data-action": "stop", disabled: !active, "aria-label": `${t("stop")} ${label}`,
        onclick: async (e) => {
          const out = await act(e.target, () => api("POST", `/runs/${r.id}/stop`), t("run_stop_requested", { id: r.id }));
          if (out !== undefined) reload();
        },
      }, t("stop")),
      h("button", {
        type: "button", class: "small danger", "data-action": "delete", disabled: active, "aria-label": `${t("delete")} ${label}`,
        onclick: async (e) => {
          if (!confirm(t("confirm_run_delete", { id: r.id }))) return;
          const out = await act(e.target, () => api("DELETE", `/runs/${r.id}`), t("run_deleted", { id: r.id }));
          if (out !== undefined) reload();
        },
      }, t("delete"))),
  ];
}

const RUN_COLUMNS = () => [t("no"), t("run_name"), t("dataset"), t("started"), t("finished"), t("status"), t("actions")];

// Swaps `next` in for `old` and gives focus back to the element that had it (same id or label),
// so a keyboard user keeps their place while a list updates itself.
function swapKeepingFocus(old, next) {
  const key = focusKey(old);
  old.replaceWith(next);
  if (key) next.querySelector(key)?.focus({ preventScroll: true });
}

// A selector for the focused element inside `within` (by id, else by its label).
function focusKey(within) {
  const a = document.activeElement;
  if (!a || a === within || !within.contains(a)) return null;
  if (a.id) return `#${CSS.escape(a.id)}`;
  const label = a.getAttribute("aria-label");
  return label ? `[aria-label="${CSS.escape(label)}"]` : null;
}

// A runs table that reloads itself every second while one of its runs is still active.
function liveRuns(gen, query, order, caption) {
  let box = h("div", { id: "runs-box" }, t("loading"));
  let timer = null;
  onLeave(() => clearTimeout(timer));
  const reload = async () => {
    clearTimeout(timer);
    if (!isCurrent(gen)) return;
    let runs;
    try {
      runs = await api("GET", `/runs${query}`);
    } catch (e) {
      flash(e.message, "err");
      timer = setTimeout(reload, 3000);
      return;
    }
    if (!isCurrent(gen)) return;
    runs.sort(order);
    const next = h("div", { id: "runs-box" }, table({
      caption, id: "runs", columns: RUN_COLUMNS(), items: runs,
      rowAttrs: (r) => ({ "data-run": r.id, "data-status": r.status }),
      row: (r) => runRow(r, reload),
    }));
    swapKeepingFocus(box, next);
    box = next;
    if (runs.some((r) => !FINAL.has(r.status))) timer = setTimeout(reload, 1000);
  };
  return { box: () => box, reload };
}

async function viewModel(name, gen) {
  const [model, datasets] = await Promise.all([
    api("GET", `/models/${enc(name)}`),
    api("GET", "/datasets"),
  ]);
  const runs = liveRuns(gen, `?model=${enc(name)}`, (a, b) => a.id - b.id, t("step4"));
  await runs.reload();

  const datasetSelect = h("select", { id: "run-dataset" },
    datasets.map((d) => h("option", { value: d.name, selected: d.name === model.dataset }, d.name)));
  const runButton = h("button", {
    type: "button", id: "run-model", class: "primary",
    onclick: async (e) => {
      const run = await act(e.target, () => api("POST", `/models/${enc(name)}/runs`, { dataset: datasetSelect.value }),
        (x) => t("run_started", { id: x.id }));
      if (run) runs.reload();
    },
  }, t("run"));

  return h("div", {},
    h("h1", {}, t("model_detail")),
    section(t("step1"), "step1", facts([
      [t("model_name"), h("span", { id: "model-name" }, model.name)],
      [t("ref_dataset"), model.dataset],
      [t("created_at"), when(model.created_at)],
    ])),
    section(t("step2"), "step2", table({
      caption: t("step2"), id: "columns",
      columns: ["#", t("col_used"), t("col_column"), t("col_type"), t("col_id"), t("col_label")],
      items: model.columns.map((c, i) => ({ ...c, i })),
      row: (c) => [c.i + 1, yesNo(c.used), c.name, c.type, yesNo(c.id), yesNo(c.label)],
    })),
    section(t("step3"), "step3", table({
      caption: t("step3"), id: "rules",
      columns: [t("rule_no"), t("source_column"), t("rule"), t("params")],
      items: model.rules,
      row: (r) => [r.rule_no, r.source_columns.join(", "), r.module,
        h("code", {}, JSON.stringify(r.params || {}))],
    })),
    section(t("step4"), "step4",
      h("div", { class: "toolbar" },
        h("label", { for: "run-dataset" }, t("run_dataset")), datasetSelect, runButton),
      h("p", { class: "hint" }, t("run_hint")),
      runs.box()),
    h("p", { class: "toolbar" },
      h("button", {
        type: "button", class: "danger", id: "delete-model",
        onclick: async (e) => {
          if (!confirm(t("confirm_model_delete", { name }))) return;
          const out = await act(e.target, () => api("DELETE", `/models/${enc(name)}`), t("model_deleted", { name }));
          if (out !== undefined) go("#/models");
        },
      }, t("model_delete"))));
}

function yesNo(v) {
  return h("span", { class: v ? "yes" : "no" }, v ? "✓" : "–", h("span", { class: "sr-only" }, v ? t("yes") : t("no_")));
}

// ---------------------------------------------------------------------------------------------
// Pages: new model

const COLUMN_TYPES = ["file", "text", "number", "category", "datetime", "image"];

async function viewNewModel(_m, gen) {
  const [datasets, modules] = await Promise.all([api("GET", "/datasets"), api("GET", "/modules")]);
  const moduleNames = [...new Set(modules.map((v) => v.name))].sort();

  const nameInput = h("input", { id: "model-name-input", required: true, pattern: "[a-z0-9_\\-]+", autocomplete: "off" });
  const datasetSelect = h("select", { id: "model-dataset", required: true },
    datasets.map((d) => h("option", { value: d.name }, d.name)));

  const columnsBody = h("tbody");
  const rulesBody = h("tbody");
  let columnSeq = 0, ruleSeq = 0;

  function addColumn(c) {
    const n = ++columnSeq;
    const tr = h("tr", { class: "column-row" },
      h("td", {}, h("input", { class: "c-name", "aria-label": `${t("col_column")} ${n}`, value: c.name, required: true })),
      h("td", {}, h("input", { class: "c-used", type: "checkbox", "aria-label": `${t("col_used")} ${n}`, checked: c.used })),
      h("td", {}, h("select", { class: "c-type", "aria-label": `${t("col_type")} ${n}` },
        COLUMN_TYPES.map((ty) => h("option", { value: ty, selected: ty === c.type }, ty)))),
      h("td", {}, h("input", { class: "c-id", type: "checkbox", "aria-label": `${t("col_id")} ${n}`, checked: c.id })),
      h("td", {}, h("input", { class: "c-label", type: "checkbox", "aria-label": `${t("col_label")} ${n}`, checked: c.label })),
      h("td", {}, h("button", {
        type: "button", class: "small", "aria-label": t("remove_column", { n }),
        onclick: () => tr.remove(),
      }, t("remove"))));
    columnsBody.append(tr);
  }

  function addRule(r) {
    const n = ++ruleSeq;
    const tr = h("tr", { class: "rule-row" },
      h("td", {}, h("input", { class: "r-source", "aria-label": `${t("source_column")} ${n} (${t("source_hint")})`, value: r.source, required: true })),
      h("td", {}, h("input", {
        class: "r-module", list: "module-names", "aria-label": `${t("rule")} ${n} (${t("module_hint")})`,
        value: r.module, required: true, autocomplete: "off",
      })),
      h("td", {}, h("textarea", { class: "r-params", rows: 1, "aria-label": `${t("params_json")} ${n}` }, r.params)),
      h("td", {}, h("button", {
        type: "button", class: "small", "aria-label": t("remove_rule", { n }),
        onclick: () => tr.remove(),
      }, t("remove"))));
    rulesBody.append(tr);
  }

  addColumn({ name: "dataset", used: true, type: "file", id: false, label: false });
  addRule({ source: "dataset", module: moduleNames[0] || "", params: "{}" });

  function fromForm() {
    const columns = [...columnsBody.querySelectorAll("tr")].map((tr) => ({
      name: tr.querySelector(".c-name").value.trim(),
      used: tr.querySelector(".c-used").checked,
      type: tr.querySelector(".c-type").value,
      id: tr.querySelector(".c-id").checked,
      label: tr.querySelector(".c-label").checked,
    }));
    const rules = [...rulesBody.querySelectorAll("tr")].map((tr, i) => {
      const text = tr.querySelector(".r-params").value.trim() || "{}";
      let params;
      try { params = JSON.parse(text); } catch (e) {
        throw new Error(t("bad_json", { what: `${t("params_json")} ${i + 1}`, err: e.message }));
      }
      return {
        rule_no: i,
        source_columns: tr.querySelector(".r-source").value.split(",").map((s) => s.trim()).filter(Boolean),
        module: tr.querySelector(".r-module").value.trim(),
        params,
      };
    });
    return { name: nameInput.value.trim(), dataset: datasetSelect.value, columns, rules };
  }

  const jsonArea = h("textarea", { id: "model-json", rows: 16, spellcheck: "false" });
  const formPart = h("div", { id: "form-part" },
    h("div", { class: "field" }, h("label", { for: "model-name-input" }, t("model_name")), nameInput),
    h("div", { class: "field" }, h("label", { for: "model-dataset" }, t("ref_dataset")), datasetSelect,
      datasets.length ? null : h("span", { class: "hint" }, " ", h("a", { href: "#/datasets" }, t("no_datasets")))),
    h("fieldset", {}, h("legend", {}, t("step2")),
      h("table", { class: "edit" },
        h("thead", {}, h("tr", {}, [t("col_column"), t("col_used"), t("col_type"), t("col_id"), t("col_label"), ""].map((c) => h("th", { scope: "col" }, c)))),
        columnsBody),
      h("button", { type: "button", class: "small", id: "add-column", onclick: () => addColumn({ name: "", used: true, type: "text" }) }, t("add_column"))),
    h("fieldset", {}, h("legend", {}, t("step3")),
      h("table", { class: "edit" },
        h("thead", {}, h("tr", {}, [t("source_column"), t("rule"), t("params_json"), ""].map((c) => h("th", { scope: "col" }, c)))),
        rulesBody),
      h("datalist", { id: "module-names" }, moduleNames.map((n) => h("option", { value: n }))),
      h("button", {
        type: "button", class: "small", id: "add-rule",
        onclick: () => addRule({ source: columnsBody.querySelector(".c-name")?.value || "", module: "", params: "{}" }),
      }, t("add_rule"))));
  const jsonPart = h("div", { id: "json-part", hidden: true },
    h("div", { class: "field" }, h("label", { for: "model-json" }, t("model_json")), jsonArea));

  let mode = "form";
  const modeButtons = ["form", "json"].map((m) => h("button", {
    type: "button", class: "tab", id: `mode-${m}`, "aria-pressed": String(m === mode),
    onclick: () => {
      if (m === mode) return;
      if (m === "json") {
        try { jsonArea.value = JSON.stringify(fromForm(), null, 2); } catch (_) { /* keep what is there */ }
      }
      mode = m;
      formPart.hidden = m !== "form";
      jsonPart.hidden = m !== "json";
      for (const b of modeButtons) b.setAttribute("aria-pressed", String(b.id === `mode-${m}`));
    },
  }, t(m === "form" ? "mode_form" : "mode_json")));

  const submit = h("button", { type: "submit", class: "primary", id: "create-model" }, t("create"));
  const form = h("form", {
    id: "new-model-form", novalidate: true,
    onsubmit: async (e) => {
      e.preventDefault();
      let body;
      try {
        if (mode === "json") {
          try { JSON.parse(jsonArea.value); } catch (err) {
            throw new Error(t("bad_json", { what: t("model_json"), err: err.message }));
          }
          body = jsonArea.value;
        } else {
          body = fromForm();
        }
      } catch (err) {
        flash(err.message, "err");
        return;
      }
      const created = await act(submit, () => api("POST", "/models", body), (m) => t("model_created", { name: m.name }));
      if (created && isCurrent(gen)) go(`#/models/${enc(created.name)}`);
    },
  },
    h("div", { class: "tabs", role: "group" }, modeButtons),
    formPart, jsonPart,
    h("p", {}, submit));

  return h("div", {}, h("h1", {}, t("new_model_title")), form);
}

// ---------------------------------------------------------------------------------------------
// Pages: runs

async function viewRuns(_m, gen) {
  const runs = liveRuns(gen, "", (a, b) => b.id - a.id, t("runs_title"));
  await runs.reload();
  return h("div", {}, h("h1", {}, t("runs_title")), runs.box());
}

function progressCell(step) {
  const [done, total] = step.progress || [0, 0];
  const text = total > 0 ? `${done}/${total}` : (step.status === "completed" ? "100%" : "–");
  const bar = h("progress", {
    max: total > 0 ? total : 1,
    value: total > 0 ? done : (step.status === "completed" ? 1 : 0),
    "aria-label": `${t("progress")} ${step.name}`,
  });
  return h("span", { class: "progress" }, bar, " ", h("span", { class: "progress-text" }, text));
}

function renderRun(run, gen) {
  const active = !FINAL.has(run.status);
  const steps = table({
    caption: t("progress_title"), id: "steps",
    columns: [t("step_name"), t("module_version"), t("step_started"), t("step_finished"), t("status"), t("progress"), t("log")],
    items: run.steps || [], rowHeader: true,
    rowAttrs: (s) => ({ "data-step": s.rule_no, "data-status": s.status }),
    row: (s) => [
      s.name,
      s.module_version ? `${s.module}@${s.module_version}` : s.module,
      when(s.started_at),
      when(s.finished_at),
      h("span", {}, statusBadge(s.status), s.error ? h("span", { class: "step-error" }, ` ${s.error.kind}: ${s.error.message}`) : null),
      progressCell(s),
      h("a", { class: "button small", href: `#/runs/${run.id}/steps/${s.rule_no}/log`, "aria-label": `${s.name} ${t("log")} ${t("view")}` }, t("view")),
    ],
  });
  return h("div", { id: "run-view" },
    h("h1", {}, `${t("run_detail")} — ${t("run_no", { id: run.id })}`),
    facts([
      [t("model"), h("a", { href: `#/models/${enc(run.model)}` }, run.model)],
      [t("dataset"), run.dataset],
      [t("status"), h("span", { id: "run-status", "aria-live": "polite" }, statusBadge(run.status))],
      [t("created"), when(run.created_at)],
      [t("started"), when(run.started_at)],
      [t("finished"), when(run.finished_at)],
      run.error ? [t("error"), h("span", { class: "step-error", id: "run-error" }, `${run.error.kind}: ${run.error.message}`)] : null,
      run.output ? [t("output"), h("code", {}, run.output)] : null,
    ].filter(Boolean)),
    h("p", { class: "toolbar" },
      h("button", {
        type: "button", id: "stop-run", disabled: !active,
        onclick: async (e) => {
          const out = await act(e.target, () => api("POST", `/runs/${run.id}/stop`), t("run_stop_requested", { id: run.id }));
          if (out !== undefined) refresh(gen);
        },
      }, t("stop")),
      h("button", {
        type: "button", id: "delete-run", class: "danger", disabled: active,
        onclick: async (e) => {
          if (!confirm(t("confirm_run_delete", { id: run.id }))) return;
          const out = await act(e.target, () => api("DELETE", `/runs/${run.id}`), t("run_deleted", { id: run.id }));
          if (out !== undefined) go(`#/models/${enc(run.model)}`);
        },
      }, t("delete"))),
    section(t("progress_title"), "progress-title", h("p", { class: "hint" }, t("progress_hint")), steps));
}

// Follows a run's status and progress: server-sent events while it is active, falling back to
// polling if the stream breaks. Swaps the rendered view in place so focus stays where it is.
function followRun(run, gen) {
  if (FINAL.has(run.status)) return;
  let source = null;
  let timer = null;
  const show = (next) => {
    if (!isCurrent(gen)) return;
    const old = document.getElementById("run-view");
    if (!old) return;
    const focusedId = document.activeElement && document.activeElement.id;
    old.replaceWith(renderRun(next, gen));
    if (focusedId) document.getElementById(focusedId)?.focus({ preventScroll: true });
    document.querySelector("#run-view h1").tabIndex = -1;
  };
  const poll = async () => {
    try {
      const next = await api("GET", `/runs/${run.id}`);
      show(next);
      if (FINAL.has(next.status)) return;
    } catch (_) { /* try again */ }
    if (isCurrent(gen)) timer = setTimeout(poll, 1000);
  };
  // `run` events carry the whole run whenever it changes; `end` the final run.
  source = new EventSource(`/v1/runs/${run.id}/events`);
  const onRun = (e) => {
    let next;
    try { next = JSON.parse(e.data); } catch (_) { return; }
    if (!next || typeof next.status !== "string") return;
    show(next);
    if (FINAL.has(next.status)) source.close();
  };
  source.addEventListener("run", onRun);
  source.addEventListener("end", (e) => { onRun(e); source.close(); });
  source.onerror = (e) => {
    // An `error` event from the server carries a message; a broken connection does not.
    source.close();
    if (e.data) {
      try { flash(JSON.parse(e.data).error.message, "err"); } catch (_) { /* not ours */ }
      return;
    }
    if (isCurrent(gen) && timer === null) poll();
  };
  onLeave(() => { source.close(); clearTimeout(timer); });
}

async function viewRun(id, gen) {
  const run = await api("GET", `/runs/${id}`);
  setTimeout(() => followRun(run, gen), 0);
  return renderRun(run, gen);
}

async function viewLog(id, ruleNo, gen) {
  const run = await api("GET", `/runs/${id}`);
  const step = (run.steps || []).find((s) => s.rule_no === ruleNo);
  const name = step ? step.name : `${ruleNo}`;
  const pre = h("pre", { id: "log", tabindex: "0", "aria-label": t("log_of", { step: name }), "aria-live": "off" });
  const follow = h("input", { type: "checkbox", id: "follow", checked: true });
  const statusBox = h("span", { id: "log-status", "aria-live": "polite" }, step ? statusBadge(step.status) : null);
  const path = `/runs/${id}/steps/${ruleNo}/log`;

  const scroll = () => { if (follow.checked) pre.scrollTop = pre.scrollHeight; };
  const setText = (text) => { pre.textContent = text; scroll(); };

  if (FINAL.has(run.status)) {
    try {
      const text = await api("GET", path);
      setText(text || t("log_empty"));
    } catch (e) {
      setText(e.message);
    }
  } else {
    pre.textContent = t("log_waiting");
    let fresh = true;
    // Each line is one message whose id is its end offset, so a reconnect resumes after the
    // last line shown; `end` carries the final run.
    const source = new EventSource(`/v1${path}/stream`);
    source.onmessage = (e) => {
      if (fresh) { pre.textContent = ""; fresh = false; }
      pre.append(document.createTextNode(e.data + "\n"));
      scroll();
    };
    source.addEventListener("end", (e) => {
      source.close();
      if (fresh) pre.textContent = t("log_empty");
      try {
        const now = JSON.parse(e.data);
        const s = (now.steps || []).find((x) => x.rule_no === ruleNo);
        if (s) statusBox.replaceChildren(statusBadge(s.status));
      } catch (_) { /* keep what is shown */ }
    });
    source.onerror = (e) => {
      if (!e.data) return; // a dropped connection: EventSource reconnects by itself
      source.close();
      try { flash(JSON.parse(e.data).error.message, "err"); } catch (_) { /* not ours */ }
    };
    onLeave(() => source.close());
  }

  return h("div", {},
    h("h1", {}, t("log_of", { step: name })),
    h("p", { class: "toolbar" },
      h("a", { href: `#/runs/${id}` }, `← ${t("back_to_run")}`), " ",
      statusBox, " ",
      h("label", {}, follow, " ", t("follow"))),
    section(t("log_title"), "log-title", pre));
}

// ---------------------------------------------------------------------------------------------
// Pages: modules

async function viewModules(_m, gen) {
  const versions = await api("GET", "/modules");
  const byName = new Map();
  for (const v of versions) {
    if (!byName.has(v.name)) byName.set(v.name, []);
    byName.get(v.name).push(v);
  }
  const names = [...byName.keys()].sort();

  const moduleSection = (name) => {
    const list = byName.get(name);
    const sid = `module-${name}`;
    const history = h("details", {
      ontoggle: async (e) => {
        if (!e.target.open || e.target.dataset.loaded) return;
        e.target.dataset.loaded = "1";
        try {
          const show = await api("GET", `/modules/${enc(name)}`);
          e.target.append(table({
            caption: t("history"), columns: [t("at"), t("action"), t("version")],
            items: (show.history || []).slice().reverse(),
            row: (d) => [when(d.at), d.action, d.version],
          }));
        } catch (err) { flash(err.message, "err"); }
      },
    }, h("summary", {}, t("history")));
    return h("section", { "aria-labelledby": sid, class: "module", "data-module": name },
      h("h2", { id: sid }, name),
      h("p", { class: "toolbar" }, h("button", {
        type: "button", "data-action": "rollback", "aria-label": `${t("rollback")} ${name}`,
        onclick: async (e) => {
          const v = await act(e.target, () => api("POST", `/modules/${enc(name)}/rollback`),
            (x) => t("rolled_back", { name, version: x.version }));
          if (v) refresh(gen);
        },
      }, t("rollback"))),
      table({
        caption: name,
        columns: [t("version"), t("status"), t("digest"), t("size"), t("template"), t("api"), t("uploaded_at"), t("deploy_dt"), t("action")],
        items: list, rowHeader: true,
        rowAttrs: (v) => ({ "data-version": v.version, "data-status": v.status }),
        row: (v) => {
          const ref = `${name}@${v.version}`;
          const call = (action, method, path, msg) => h("button", {
            type: "button", class: action === "delete" ? "small danger" : "small", "data-action": action,
            "aria-label": `${t(action)} ${ref}`,
            // The registry refuses these; the buttons say so before a click.
            disabled: v.status === "retired" ||
              (action === "deprecate" ? v.status !== "registered" : v.status === "deployed"),
            onclick: async (e) => {
              if (action === "delete" && !confirm(t("confirm_version_delete", { name, version: v.version }))) return;
              const out = await act(e.target, () => api(method, path), t(msg, { name, version: v.version }));
              if (out !== undefined) refresh(gen);
            },
          }, t(action));
          const base = `/modules/${enc(name)}/versions/${enc(v.version)}`;
          return [
            v.version, statusBadge(v.status, "mstatus"),
            h("code", { title: v.digest }, (v.digest || "").slice(0, 19)),
            bytes(v.size), v.template || "", v.api_version, when(v.uploaded_at), when(v.deploy_dt),
            h("span", { class: "actions" },
              call("deploy", "POST", `${base}/deploy`, "deployed_msg"),
              call("deprecate", "POST", `${base}/deprecate`, "deprecated_msg"),
              call("delete", "DELETE", base, "removed_msg")),
          ];
        },
      }),
      history);
  };

  const file = h("input", { id: "upload-file", type: "file", accept: ".wasm,application/wasm", required: true });
  const name = h("input", { id: "upload-name", required: true, autocomplete: "off" });
  const version = h("input", { id: "upload-version", required: true, placeholder: "1.0.0", autocomplete: "off" });
  const template = h("input", { id: "upload-template", placeholder: t("template_hint"), autocomplete: "off" });
  file.addEventListener("change", () => {
    const f = file.files[0];
    if (f && !name.value) name.value = f.name.replace(/\.wasm$/, "").toLowerCase().replace(/[^a-z0-9_-]/g, "_");
  });
  const submit = h("button", { type: "submit", class: "primary", id: "upload" }, t("upload"));
  const form = h("form", {
    id: "upload-form",
    onsubmit: async (e) => {
      e.preventDefault();
      if (!form.reportValidity()) return;
      const q = new URLSearchParams({ name: name.value.trim(), version: version.value.trim() });
      if (template.value.trim()) q.set("template", template.value.trim());
      const out = await act(submit, () => api("POST", `/modules?${q}`, file.files[0]),
        () => t("uploaded", { name: name.value.trim(), version: version.value.trim() }));
      if (out !== undefined) refresh(gen);
    },
  },
    h("div", { class: "field" }, h("label", { for: "upload-file" }, t("module_file")), file),
    h("div", { class: "field" }, h("label", { for: "upload-name" }, t("module_name")), name),
    h("div", { class: "field" }, h("label", { for: "upload-version" }, t("version")), version),
    h("div", { class: "field" }, h("label", { for: "upload-template" }, t("template")), template),
    h("p", {}, submit));

  return h("div", {},
    h("h1", {}, t("modules_title")),
    names.length ? names.map(moduleSection) : h("p", {}, t("no_modules")),
    section(t("upload_title"), "upload-title", form));
}

// ---------------------------------------------------------------------------------------------
// Pages: datasets

async function viewDatasets(_m, gen) {
  const datasets = await api("GET", "/datasets");
  const name = h("input", { id: "dataset-name", required: true, autocomplete: "off" });
  const collection = h("input", { id: "dataset-collection", required: true, size: 48, autocomplete: "off" });
  const submit = h("button", { type: "submit", class: "primary", id: "add-dataset" }, t("add"));
  const form = h("form", {
    id: "dataset-form",
    onsubmit: async (e) => {
      e.preventDefault();
      if (!form.reportValidity()) return;
      const out = await act(submit, () => api("POST", "/datasets", { name: name.value.trim(), collection: collection.value.trim() }),
        (d) => t("dataset_added", { name: d.name }));
      if (out !== undefined) refresh(gen);
    },
  },
    h("div", { class: "field" }, h("label", { for: "dataset-name" }, t("dataset_name")), name),
    h("div", { class: "field" }, h("label", { for: "dataset-collection" }, t("collection")), collection),
    h("p", {}, submit));
  return h("div", {},
    h("h1", {}, t("datasets_title")),
    table({
      caption: t("datasets_title"), id: "datasets",
      columns: [t("dataset_name"), t("collection"), t("repo_type"), t("created_at"), t("action")],
      items: datasets, rowHeader: true,
      row: (d) => [d.name, h("code", {}, d.collection), d.repo_type, when(d.created_at),
        h("button", {
          type: "button", class: "small danger", "aria-label": `${t("delete")} ${d.name}`,
          onclick: async (e) => {
            if (!confirm(t("confirm_dataset_delete", { name: d.name }))) return;
            const out = await act(e.target, () => api("DELETE", `/datasets/${enc(d.name)}`), t("dataset_deleted", { name: d.name }));
            if (out !== undefined) refresh(gen);
          },
        }, t("delete"))],
    }),
    section(t("dataset_add"), "dataset-add", form));
}

// ---------------------------------------------------------------------------------------------
// Chrome: language, token, navigation

function applyChrome() {
  const lang = currentLang();
  document.documentElement.lang = lang;
  const button = document.getElementById("lang");
  button.textContent = t("lang_switch");
  button.lang = lang === "ko" ? "en" : "ko";
  document.getElementById("skip-link").textContent = t("skip");
  document.getElementById("token-label").textContent = t("token");
  document.getElementById("nav").setAttribute("aria-label", t("nav_label"));
  for (const k of ["models", "runs", "modules", "datasets"]) {
    document.getElementById(`nav-${k}`).textContent = t(`nav_${k}`);
  }
}

function start() {
  applyChrome();
  document.getElementById("lang").addEventListener("click", () => {
    localStorage.setItem("premod.lang", currentLang() === "ko" ? "en" : "ko");
    applyChrome();
    route({ keepFlash: true, refresh: true });
  });
  const token = document.getElementById("token");
  token.value = sessionStorage.getItem("premod.token") || "";
  // The token field only matters when the server asks for a token.
  api("GET", "/health").then((health) => {
    const needed = Boolean(health && health.auth_required);
    document.getElementById("token-field").hidden = !needed;
  }, () => { /* keep the field: the user may need it */ });
  token.addEventListener("change", () => {
    if (token.value) sessionStorage.setItem("premod.token", token.value);
    else sessionStorage.removeItem("premod.token");
  });
  document.getElementById("skip-link").addEventListener("click", (e) => {
    e.preventDefault();
    main().focus();
  });
  window.addEventListener("hashchange", () => {
    const keep = keepFlashOnce;
    keepFlashOnce = false;
    route({ keepFlash: keep });
  });
  route();
}

start();

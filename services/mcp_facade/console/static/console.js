// Progressive enhancement for the console: the live scope preview, the copy buttons and the
// OAuth-only fields of the server form.
// Without script every page still works (the Preview button asks the server).
"use strict";
document.documentElement.classList.add("js");

function csrfToken(form) {
  const field = form.querySelector('input[name="csrf"]');
  return field ? field.value : "";
}

function cell(row, text, code) {
  const td = document.createElement("td");
  if (code) {
    const c = document.createElement("code");
    c.textContent = text;
    td.appendChild(c);
  } else {
    td.textContent = text;
  }
  row.appendChild(td);
}

function renderPreview(body, preview, submit) {
  body.replaceChildren();
  const summary = document.createElement("p");
  summary.id = "preview-summary";
  if (!preview || preview.error) {
    summary.className = "error";
    summary.textContent = preview && preview.error ? preview.error.message : "The preview is unavailable.";
    body.appendChild(summary);
    submit.disabled = true;
    return;
  }
  const n = preview.tools.length;
  let text = `${n} tool${n === 1 ? "" : "s"}, about ${preview.tool_list_tokens} model tokens of context`;
  if (preview.exposure === "discovery") {
    text += `; above the context budget, so tools/list shows the three discovery tools instead (about ${preview.listed_tokens} tokens)`;
  }
  summary.textContent = text + ".";
  body.appendChild(summary);
  if (n === 0) {
    const none = document.createElement("p");
    none.className = "error";
    none.textContent = "This scope matches no operation: choose other methods or tags.";
    body.appendChild(none);
    submit.disabled = true;
    return;
  }
  const table = document.createElement("table");
  table.id = "preview-tools";
  const head = table.createTHead().insertRow();
  for (const label of ["Tool", "Kind", "What it does", "Tokens"]) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = label;
    head.appendChild(th);
  }
  const tbody = table.createTBody();
  for (const tool of preview.tools) {
    const row = tbody.insertRow();
    cell(row, tool.name, true);
    cell(row, tool.read_only ? "read" : tool.kind);
    cell(row, tool.description);
    cell(row, String(tool.tokens));
  }
  body.appendChild(table);
  submit.disabled = false;
}

function setupPreview(form) {
  const body = form.querySelector("#preview-body");
  const submit = form.querySelector("#submit");
  let sequence = 0;
  async function refresh() {
    const mine = ++sequence;
    const data = new FormData(form);
    const scope = { methods: data.getAll("method"), tags: data.getAll("tag") };
    form.setAttribute("aria-busy", "true");
    let preview = null;
    try {
      const resp = await fetch("/console/preview", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken(form) },
        body: JSON.stringify(scope),
        credentials: "same-origin",
      });
      preview = await resp.json();
    } catch (err) {
      preview = null;
    }
    if (mine !== sequence) return; // a newer choice is on its way
    renderPreview(body, preview, submit);
    form.removeAttribute("aria-busy");
  }
  form.addEventListener("change", (event) => {
    if (event.target.matches("[data-scope]")) refresh();
  });
  refresh();
}

function setupCopy(button) {
  button.addEventListener("click", async () => {
    const source = document.getElementById(button.dataset.copy);
    try {
      await navigator.clipboard.writeText(source.value);
      button.textContent = "Copied";
    } catch (err) {
      source.select();
      button.textContent = "Press Ctrl+C to copy";
    }
  });
}

// A fieldset with data-shown-for="oauth" only shows while that second factor is chosen
// (without script it always shows, and the server ignores it for other factors).
function setupShownFor(fieldset) {
  const form = fieldset.closest("form");
  const sync = () => {
    const chosen = form.querySelector('input[name="second_factor"]:checked');
    fieldset.hidden = !chosen || chosen.value !== fieldset.dataset.shownFor;
  };
  form.addEventListener("change", (event) => {
    if (event.target.name === "second_factor") sync();
  });
  sync();
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("fieldset[data-shown-for]").forEach(setupShownFor);
  document.querySelectorAll("form[data-preview]").forEach(setupPreview);
  document.querySelectorAll("button[data-copy]").forEach(setupCopy);
});

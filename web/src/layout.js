// The page's elements: toolbar, editor column, side controls (full page only), results. Built once;
// the controller (playground.js) fills and wires them. Accessible names are the contract the
// browser tests use: buttons Run, Stop, Format, Vet, Test, Share; the toggle buttons Optimizations and
// Assembly; the Output log; the status verdict.

import { h } from "./dom.js";
import { EXAMPLES } from "./examples.js";

/** @param {boolean} full the full page (false: the compact /embed view) */
export function buildLayout(full) {
  const button = (label, title) => h("button", { type: "button", class: `action action-${label.toLowerCase()}`, title }, label);
  const buttons = {
    run: button("Run", "Run the program (Ctrl+Enter)"),
    stop: button("Stop", "Stop the running program"),
    format: button("Format", "gofmt every file, normalise go.mod"),
    vet: button("Vet", "go vet the package"),
    test: button("Test", "go test the package"),
    share: button("Share", "Store the files and get a link"),
  };
  buttons.stop.disabled = true;
  const toggle = (label, title) => h("button", { type: "button", class: "toggle", "aria-pressed": "false", title }, label);
  const toggles = {
    optimizations: toggle("Optimizations", "Show the compiler's decisions on their lines: heap escapes, inlining, bounds and nil checks (hover a hint for its message)"),
    assembly: toggle("Assembly", "Show each function's assembly beside the editor; it follows the cursor, and picking a row moves the cursor"),
  };
  const examples = h("select", { "aria-label": "Examples", class: "examples" },
    h("option", { value: "" }, "Examples…"), EXAMPLES.map((example, i) => h("option", { value: String(i) }, example.title)));
  const version = h("select", { "aria-label": "Go version", class: "go-version" });
  const toolbar = h("header", { class: "toolbar" },
    h("span", { class: "brand" }, "gosandbox"),
    h("div", { class: "buttons" }, full ? Object.values(buttons) : [buttons.run, buttons.stop]),
    full ? h("div", { class: "buttons toggles", role: "group", "aria-label": "Compiler" }, Object.values(toggles)) : null,
    full ? h("div", { class: "pickers" }, examples, version) : null);
  const editorHost = h("div", { class: "editor" });
  const hint = h("p", { class: "hint" }, "Ctrl/Cmd+Enter runs · Tab indents; Esc then Tab leaves the editor · paste a txtar archive to get its files as tabs");
  const side = full ? buildSide() : null;
  return { toolbar, buttons, toggles, examples, version, editorHost, hint, side };
}

function field(label, control) {
  return h("label", { class: "field" }, h("span", { class: "field-label" }, label), control);
}

function buildSide() {
  const stdin = h("textarea", { class: "stdin", rows: "3", spellcheck: "false" });
  const args = h("input", { type: "text", class: "args", spellcheck: "false", placeholder: "-n 3 words" });
  const wall = h("input", { type: "number", class: "limit", name: "wall_s", step: "0.1", inputmode: "decimal" });
  const memory = h("input", { type: "number", class: "limit", name: "memory_mb", step: "1", inputmode: "numeric" });
  const bench = h("input", { type: "checkbox", class: "bench" });
  const cover = h("input", { type: "checkbox", class: "cover", checked: true });
  const link = h("input", { type: "text", class: "share-link", readOnly: true, placeholder: "press Share" });
  const archive = h("textarea", { class: "archive", rows: "6", spellcheck: "false", placeholder: "-- main.go --\npackage main\n…" });
  const importButton = h("button", { type: "button" }, "Import txtar");
  const exportButton = h("button", { type: "button" }, "Export txtar");
  const element = h("aside", { class: "side", "aria-label": "Options" },
    field("Stdin", stdin),
    field("Arguments", args),
    h("fieldset", { class: "limits" }, h("legend", {}, "Limits"), field("Wall time (s)", wall), field("Memory (MiB)", memory)),
    h("fieldset", { class: "test-options" }, h("legend", {}, "Test"),
      h("label", { class: "check" }, cover, " Coverage"), h("label", { class: "check" }, bench, " Benchmarks")),
    field("Share link", link),
    h("details", { class: "txtar" }, h("summary", {}, "txtar archive"), field("Archive", archive),
      h("div", { class: "row" }, importButton, exportButton)));
  return { element, stdin, args, wall, memory, bench, cover, link, archive, importButton, exportButton };
}

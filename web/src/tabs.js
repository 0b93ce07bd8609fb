// The file tabs, and the file actions under them: New file, Rename, Delete file (full page only).

import { clear, h } from "./dom.js";
import { badName } from "./workspace.js";

export class Tabs {
  /**
   * @param {import("./workspace.js").Workspace} workspace
   * @param {{editable: boolean, onChange: () => void, say: (text: string) => void}} options
   */
  constructor(workspace, options) {
    this.workspace = workspace;
    this.options = options;
    this.bar = h("div", { class: "tabs", role: "tablist", "aria-label": "Files" });
    this.name = h("input", { type: "text", class: "file-name", "aria-label": "File name", placeholder: "util.go, go.mod, testdata/in.txt", spellcheck: "false" });
    const button = (label, action) => h("button", { type: "button", onclick: action }, label);
    this.actions = h("div", { class: "file-actions", hidden: !options.editable }, this.name,
      button("New file", () => this.add()), button("Rename", () => this.rename()), button("Delete file", () => this.remove()));
    this.element = h("div", { class: "files" }, this.bar, this.actions);
  }

  draw() {
    clear(this.bar);
    for (const name of this.workspace.names()) {
      const active = name === this.workspace.active;
      const marked = (this.workspace.findings.get(name) || []).length > 0;
      const tab = h("button", { type: "button", role: "tab", class: `tab${marked ? " tab-marked" : ""}`, "aria-selected": String(active),
        tabindex: active ? "0" : "-1", onclick: () => this.pick(name), onkeydown: (e) => this.arrow(e) }, name);
      this.bar.append(tab);
    }
  }

  pick(name) {
    this.workspace.show(name);
    this.draw();
    this.workspace.editor.focus();
  }

  /** Left/Right move between tabs (the tablist pattern: one tab stop, arrows inside). */
  arrow(event) {
    const names = this.workspace.names();
    const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
    if (!step) return;
    const next = names[(names.indexOf(this.workspace.active) + step + names.length) % names.length];
    this.workspace.show(next);
    this.draw();
    /** @type {HTMLElement | null} */ (this.bar.querySelector('[aria-selected="true"]'))?.focus();
  }

  /** The name typed, checked; null (and a message) when it cannot be used. */
  typed(purpose) {
    const name = this.name.value.trim();
    const problem = name ? badName(name) : `type a file name to ${purpose}`;
    const taken = !problem && this.workspace.states.has(name) ? `${name} exists already` : null;
    if (problem || taken) {
      this.options.say(`${problem || taken}`);
      this.name.focus();
      return null;
    }
    return name;
  }

  add() {
    const name = this.typed("add");
    if (name === null) return;
    const text = name.endsWith(".go") ? `package ${packageOf(name)}\n` : "";
    this.workspace.add(name, text);
    this.done(`added ${name}`);
  }

  rename() {
    const from = this.workspace.active;
    const name = this.typed(`rename ${from} to`);
    if (name === null) return;
    this.workspace.rename(from, name);
    this.done(`renamed ${from} to ${name}`);
  }

  remove() {
    const name = this.workspace.active;
    if (this.workspace.names().length === 1) {
      this.options.say("the package needs at least one file");
      return;
    }
    this.workspace.remove(name);
    this.done(`deleted ${name}`);
  }

  done(message) {
    this.name.value = "";
    this.draw();
    this.options.onChange();
    this.options.say(message);
  }
}

/** The package a new Go file likely belongs to: its directory's name, or main at the root. */
function packageOf(name) {
  const parts = name.split("/");
  return parts.length > 1 ? parts[parts.length - 2].replace(/[^A-Za-z0-9_]/g, "_") : "main";
}

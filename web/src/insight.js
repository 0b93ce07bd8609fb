// Optimizations and Assembly (full page): while either is on, POST /explain asks the compiler about the files
// as they are, and again a moment after each edit (one request at a time; edits made meanwhile ask once more).
// The decisions become hints on their lines in the editor, the functions the Assembly pane.

import { api } from "./api.js";
import { AssemblyPane } from "./assembly.js";

/** How long the text must rest before it is explained again. */
const SETTLE_MS = 800;

export class Insight {
  /**
   * @param {import("./workspace.js").Workspace} workspace
   * @param {{optimizations: HTMLButtonElement, assembly: HTMLButtonElement}} toggles
   * @param {{body: () => Record<string, unknown>, say: (text: string) => void}} hooks
   */
  constructor(workspace, toggles, hooks) {
    this.workspace = workspace;
    this.toggles = toggles;
    this.hooks = hooks;
    this.pane = new AssemblyPane((line) => workspace.editor.reveal(line));
    this.running = false;
    this.again = false;
    this.timer = 0;
    /** @type {any} the last answer: decisions and assembly */
    this.result = null;
    toggles.optimizations.addEventListener("click", () => this.toggle(toggles.optimizations));
    toggles.assembly.addEventListener("click", () => this.toggle(toggles.assembly));
  }

  get hinting() {
    return this.toggles.optimizations.getAttribute("aria-pressed") === "true";
  }

  get on() {
    return this.hinting || this.pane.open;
  }

  /** @param {HTMLButtonElement} toggle */
  toggle(toggle) {
    toggle.setAttribute("aria-pressed", String(toggle.getAttribute("aria-pressed") !== "true"));
    this.pane.toggle(this.toggles.assembly.getAttribute("aria-pressed") === "true");
    if (!this.on) {
      this.result = null;
      this.draw();
      return;
    }
    this.draw();
    this.refresh();
  }

  /** The files changed: explain them again once the typing rests. */
  changed() {
    if (!this.on) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.refresh(), SETTLE_MS);
  }

  /** The cursor moved: the pane follows it. Called while the editor updates, so it dispatches nothing. @param {number} line */
  cursor(line) {
    this.pane.follow(line);
  }

  async refresh() {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    try {
      this.result = await api.explain({ ...this.hooks.body(), assembly: this.pane.open });
      if (this.result.status !== "ok") this.hooks.say("Optimizations: the package does not compile (Run or Vet shows why)");
    } catch (error) {
      this.hooks.say(`Optimizations: ${error.message}`);
    } finally {
      this.running = false;
    }
    this.draw();
    if (this.again && this.on) {
      this.again = false;
      this.refresh();
    }
  }

  /** The hints and the pane from the last answer, for the file shown now. */
  draw() {
    const result = this.on ? this.result : null;
    this.workspace.setDecisions(result && this.hinting ? result.decisions || [] : []);
    this.pane.show(result ? result.assembly || [] : [], this.workspace.active);
    this.pane.follow(this.workspace.editor.line);
  }
}

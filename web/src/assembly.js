// The Assembly pane: the functions POST /explain lists, one row per instruction with its source line.
// It follows the editor's cursor (the rows of the cursor's line are selected and scrolled to) and the editor
// follows it (picking a row, by click or arrow keys, moves the cursor to its line), as Compiler Explorer does.

import { clear, h } from "./dom.js";

/**
 * @typedef {{file: string | null, line: number | null, text: string}} Instruction
 * @typedef {{function: string, file: string, line: number, instructions: Instruction[]}} AsmFunction
 */

export class AssemblyPane {
  /** @param {(line: number) => void} onPick a row of the shown file was picked: its source line */
  constructor(onPick) {
    this.onPick = onPick;
    this.title = h("h2", { class: "asm-title" }, "Assembly");
    this.list = h("div", { class: "asm", role: "listbox", "aria-label": "Instructions", tabindex: "0",
      onkeydown: (event) => this.arrow(event) });
    this.element = h("section", { class: "asm-panel", "aria-label": "Assembly", hidden: true }, this.title, this.list);
    /** @type {HTMLElement[]} the rows of the shown file, in order */
    this.rows = [];
    this.file = "";
    this.line = 0;
  }

  get open() {
    return !this.element.hidden;
  }

  /** @param {boolean} open */
  toggle(open) {
    this.element.hidden = !open;
  }

  /** Draw the listing; only the rows of ``file`` (the shown one) lead to the editor. @param {AsmFunction[]} functions */
  show(functions, file) {
    clear(this.list);
    this.rows = [];
    this.file = file;
    for (const fn of functions) {
      const rows = fn.instructions.map((instruction) => this.row(instruction));
      this.list.append(h("div", { class: "asm-function", role: "group", "aria-label": fn.function },
        h("div", { class: "asm-name", "aria-hidden": "true" }, fn.function), rows));
    }
    if (!functions.length) this.list.append(h("p", { class: "asm-empty" }, "no functions to show"));
    this.follow(this.line);
  }

  /** @param {Instruction} instruction */
  row(instruction) {
    const linked = instruction.file === this.file && instruction.line !== null;
    const where = instruction.line === null ? "" : String(instruction.line);
    const row = h("div", { class: `asm-row${linked ? "" : " asm-elsewhere"}`, role: "option", "aria-selected": "false",
      "data-line": linked ? String(instruction.line) : null, onclick: () => linked && this.pick(row) },
      h("span", { class: "asm-line" }, where), h("span", { class: "asm-text" }, instruction.text));
    if (linked) this.rows.push(row);
    return row;
  }

  /** Select the rows of the cursor's line (of the shown file) and scroll the first into view. */
  follow(line) {
    this.line = line;
    this.title.textContent = `Assembly · ${this.file || "—"} line ${line}`;
    let first = null;
    for (const row of this.rows) {
      const selected = row.dataset.line === String(line);
      row.setAttribute("aria-selected", String(selected));
      if (selected && !first) first = row;
    }
    if (first && this.open) first.scrollIntoView({ block: "nearest" });
  }

  /** @param {HTMLElement} row */
  pick(row) {
    const line = Number(row.dataset.line);
    this.follow(line);
    this.onPick(line);
  }

  /** Up/Down pick the previous/next source line's rows. @param {KeyboardEvent} event */
  arrow(event) {
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    event.preventDefault();
    const at = this.rows.findIndex((row) => row.getAttribute("aria-selected") === "true");
    const step = event.key === "ArrowDown" ? 1 : -1;
    let next = at < 0 ? 0 : at + step;
    while (next >= 0 && next < this.rows.length && at >= 0 && this.rows[next].dataset.line === String(this.line)) next += step;
    if (next >= 0 && next < this.rows.length) this.pick(this.rows[next]);
  }
}

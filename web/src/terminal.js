// The terminal under the output while a program runs: a line of input whose text goes to the program's
// stdin when Enter is pressed (line-buffered, echoed into the output where it happened), Ctrl-D for the end
// of input (what is typed goes first, as a terminal's Ctrl-D does) and Ctrl-C for SIGINT.

import { h } from "./dom.js";

export class Terminal {
  /**
   * @param {{onInput: (text: string) => void, onEof: () => void, onInterrupt: () => void}} handlers
   */
  constructor(handlers) {
    this.handlers = handlers;
    this.input = h("input", { class: "terminal-input", type: "text", "aria-label": "Terminal", autocomplete: "off",
      autocapitalize: "off", spellcheck: "false", disabled: true });
    this.element = h("div", { class: "terminal", hidden: true },
      h("span", { class: "terminal-prompt", "aria-hidden": "true" }, "stdin ›"), this.input);
    this.input.addEventListener("keydown", (event) => this.key(event));
  }

  /** @param {KeyboardEvent} event */
  key(event) {
    if (event.key === "Enter" && !event.ctrlKey && !event.metaKey) {
      event.preventDefault();
      this.flush("\n");
    } else if (event.ctrlKey && (event.key === "d" || event.key === "D")) {
      event.preventDefault();
      this.flush("");
      this.handlers.onEof();
      this.input.disabled = true;
    } else if (event.ctrlKey && (event.key === "c" || event.key === "C") && this.input.selectionStart === this.input.selectionEnd) {
      // With a selection Ctrl-C copies it; without one it interrupts the program, as in a terminal.
      event.preventDefault();
      this.handlers.onInterrupt();
    }
  }

  /** What is typed, and `end` ("\n" for Enter), to the program. */
  flush(end) {
    const text = this.input.value + end;
    this.input.value = "";
    if (text) this.handlers.onInput(text);
  }

  open() {
    this.input.value = "";
    this.input.disabled = false;
    this.element.hidden = false;
  }

  close() {
    this.input.disabled = true;
    this.element.hidden = true;
  }
}

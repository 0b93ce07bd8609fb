// The compiler's decisions (POST /explain) as hints at the ends of their lines: one short label per kind
// (heap, inlined, bounds check, ...), its messages on hover (the title) and as its accessible name.
// The hints move with the text as it is edited, until the next answer replaces them.

import { StateEffect, StateField } from "@codemirror/state";
import { Decoration, EditorView, WidgetType } from "@codemirror/view";

/**
 * @typedef {{file: string, line: number, column: number, end_line: number, end_column: number, kind: string, message: string}} Decision
 */

/** The kinds drawn, in their order on a line, with their labels; the others (does_not_escape, leaking_param, ...) are
 * the compiler's usual and would hide the few that matter. */
export const LABELS = {
  moved_to_heap: "heap",
  escapes: "escapes",
  inlined_call: "inlined",
  cannot_inline_call: "not inlined",
  can_inline: "inlinable",
  cannot_inline: "not inlinable",
  bounds_check: "bounds check",
  nil_check: "nil check",
  devirtualized: "devirtualized",
  copy: "copy",
};

class HintWidget extends WidgetType {
  /** @param {Array<[string, string[]]>} groups each kind on the line with its messages */
  constructor(groups) {
    super();
    this.groups = groups;
    this.key = JSON.stringify(groups);
  }

  /** @param {HintWidget} other */
  eq(other) {
    return other.key === this.key;
  }

  toDOM() {
    const box = document.createElement("span");
    box.className = "cm-hints";
    for (const [kind, messages] of this.groups) {
      const chip = document.createElement("span");
      chip.className = `cm-hint cm-hint-${kind}`;
      chip.textContent = LABELS[kind];
      chip.title = messages.join("\n");
      chip.setAttribute("role", "note");
      chip.setAttribute("aria-label", `${LABELS[kind]}: ${messages.join("; ")}`);
      box.append(chip);
    }
    return box;
  }
}

/** Replaces the shown file's hints: its decisions (of every kind; those not drawn are left out). */
export const setHints = StateEffect.define();

export const hints = StateField.define({
  create: () => Decoration.none,
  update(value, transaction) {
    for (const effect of transaction.effects) if (effect.is(setHints)) return build(transaction.state.doc, effect.value);
    return transaction.docChanged ? value.map(transaction.changes) : value;
  },
  provide: (field) => EditorView.decorations.from(field),
});

/** @param {import("@codemirror/state").Text} doc @param {Decision[]} decisions */
function build(doc, decisions) {
  /** @type {Map<number, Map<string, string[]>>} */
  const lines = new Map();
  for (const decision of decisions) {
    if (!(decision.kind in LABELS) || decision.line < 1 || decision.line > doc.lines) continue;
    const kinds = lines.get(decision.line) || new Map();
    const messages = kinds.get(decision.kind) || [];
    if (!messages.includes(decision.message)) messages.push(decision.message);
    kinds.set(decision.kind, messages);
    lines.set(decision.line, kinds);
  }
  const ranges = [...lines].sort((a, b) => a[0] - b[0]).map(([line, kinds]) => {
    const groups = Object.keys(LABELS).filter((kind) => kinds.has(kind)).map((kind) => [kind, kinds.get(kind)]);
    return Decoration.widget({ widget: new HintWidget(groups), side: 1 }).range(doc.line(line).to);
  });
  return Decoration.set(ranges);
}

// In the editor's shadow root, so in its theme: the page's style sheet does not reach in.
export const hintTheme = EditorView.theme({
  ".cm-hints": { marginLeft: "1.5em", fontFamily: "var(--sans)", fontSize: "0.75em", userSelect: "none" },
  ".cm-hint": {
    display: "inline-block", marginRight: "0.35em", padding: "0 0.4em", borderRadius: "0.6em", cursor: "help",
    border: "1px solid var(--border)", color: "var(--muted)", backgroundColor: "var(--panel-bg)",
  },
  ".cm-hint-escapes, .cm-hint-moved_to_heap": { color: "var(--warn)", borderColor: "var(--warn)" },
  ".cm-hint-inlined_call, .cm-hint-can_inline": { color: "var(--ok)", borderColor: "var(--ok)" },
  ".cm-hint-bounds_check, .cm-hint-nil_check": { color: "var(--accent)", borderColor: "var(--accent)" },
});

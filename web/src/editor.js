// The CodeMirror 6 editor: one view, one EditorState per file (each tab keeps its own undo history),
// Go highlighting for .go files, diagnostics through @codemirror/lint, the compiler's decisions as hints.

import { basicSetup } from "codemirror";
import { indentWithTab } from "@codemirror/commands";
import { go } from "@codemirror/lang-go";
import { HighlightStyle, indentUnit, syntaxHighlighting } from "@codemirror/language";
import { lintGutter, setDiagnostics } from "@codemirror/lint";
import { EditorSelection, EditorState, Prec } from "@codemirror/state";
import { EditorView, keymap } from "@codemirror/view";
import { tags } from "@lezer/highlight";
import { hintTheme, hints, setHints } from "./hints.js";

// Colours are CSS variables of app.css, so the editor follows prefers-color-scheme with the page.
const highlight = HighlightStyle.define([
  { tag: [tags.keyword, tags.controlKeyword, tags.definitionKeyword, tags.moduleKeyword], color: "var(--tok-keyword)" },
  { tag: [tags.string, tags.special(tags.string), tags.character], color: "var(--tok-string)" },
  { tag: [tags.number, tags.bool, tags.null, tags.atom], color: "var(--tok-number)" },
  { tag: [tags.comment, tags.lineComment, tags.blockComment], color: "var(--tok-comment)", fontStyle: "italic" },
  { tag: [tags.typeName, tags.standard(tags.typeName)], color: "var(--tok-type)" },
  { tag: [tags.function(tags.variableName), tags.function(tags.propertyName)], color: "var(--tok-function)" },
  { tag: tags.definition(tags.variableName), color: "var(--tok-definition)" },
  { tag: [tags.operator, tags.punctuation], color: "var(--tok-operator)" },
  { tag: tags.invalid, color: "var(--tok-invalid)" },
]);

const theme = EditorView.theme({
  "&": { color: "var(--fg)", backgroundColor: "var(--editor-bg)", height: "100%" },
  "&.cm-focused": { outline: "none" },
  ".cm-content": { caretColor: "var(--fg)" },
  ".cm-cursor, .cm-dropCursor": { borderLeftColor: "var(--fg)" },
  ".cm-gutters": { backgroundColor: "var(--gutter-bg)", color: "var(--muted)", borderRight: "1px solid var(--border)" },
  ".cm-activeLine": { backgroundColor: "var(--active-line)" },
  ".cm-activeLineGutter": { backgroundColor: "var(--active-line)" },
  "&.cm-focused > .cm-scroller > .cm-selectionLayer .cm-selectionBackground, .cm-selectionBackground":
    { backgroundColor: "var(--selection)" },
  ".cm-panels": { backgroundColor: "var(--panel-bg)", color: "var(--fg)" },
  ".cm-tooltip": { backgroundColor: "var(--panel-bg)", color: "var(--fg)", border: "1px solid var(--border)" },
  ".cm-scroller": { fontFamily: "var(--mono)", lineHeight: "1.45" },
});

/**
 * @typedef {{file: string, line: number, column: number, message: string, analyzer?: string | null}} Finding
 */

export class Editor {
  /**
   * @param {HTMLElement} parent
   * @param {{onRun: () => void, onChange: () => void, onPasteTxtar: (text: string) => boolean, onCursor?: (line: number) => void}} hooks
   */
  constructor(parent, hooks) {
    this.hooks = hooks;
    // In a shadow root: style-mod then writes CodeMirror's styles to adopted style sheets, which the
    // page's CSP (style-src 'self', no nonce) allows; in the document itself it would add <style>
    // elements, which the CSP blocks. CSS variables inherit into the shadow tree, so the theme follows.
    const root = parent.attachShadow({ mode: "open" });
    this.view = new EditorView({ root, parent: root, state: this.create("main.go", "") });
  }

  /** A fresh state for a file: Go support for .go files, plain text for go.mod and data files. */
  create(name, content) {
    const hooks = this.hooks;
    const extensions = [
      Prec.highest(keymap.of([{ key: "Mod-Enter", run: () => (hooks.onRun(), true) }])),
      basicSetup,
      keymap.of([indentWithTab]),
      indentUnit.of("\t"),
      EditorState.tabSize.of(4),
      syntaxHighlighting(highlight),
      theme,
      lintGutter(),
      EditorView.contentAttributes.of({ "aria-label": `Editor: ${name}` }),
      EditorView.updateListener.of((update) => update.docChanged && hooks.onChange()),
      EditorView.updateListener.of((update) => (update.selectionSet || update.docChanged) && hooks.onCursor?.(cursorLine(update.state))),
      hints,
      hintTheme,
      EditorView.domEventHandlers({
        paste(event) {
          const text = event.clipboardData?.getData("text/plain") || "";
          if (!hooks.onPasteTxtar(text)) return false;
          event.preventDefault();
          return true;
        },
      }),
    ];
    if (name.endsWith(".go")) extensions.push(go());
    return EditorState.create({ doc: content, extensions });
  }

  get state() {
    return this.view.state;
  }

  /** @param {EditorState} state */
  show(state) {
    this.view.setState(state);
  }

  /** Replace the shown file's text as one undoable change. */
  replace(text) {
    const { doc } = this.view.state;
    if (doc.toString() !== text) this.view.dispatch({ changes: { from: 0, to: doc.length, insert: text } });
  }

  /** @param {Finding[]} findings the shown file's, with 1-based lines and columns (0: none) */
  mark(findings) {
    const { doc } = this.view.state;
    const diagnostics = findings.map((finding) => {
      const from = position(doc, finding.line, finding.column);
      const to = Math.min(doc.lineAt(from).to, from + 1);
      const source = finding.analyzer || undefined;
      return { from, to: Math.max(from, to), severity: /** @type {const} */ ("error"), message: finding.message, source };
    });
    this.view.dispatch(setDiagnostics(this.view.state, diagnostics));
  }

  /** The shown file's decisions as hints at the ends of their lines. @param {import("./hints.js").Decision[]} decisions */
  hint(decisions) {
    this.view.dispatch({ effects: setHints.of(decisions) });
  }

  /** Put the cursor at line:column, scroll to it and focus the editor. */
  jump(line, column) {
    this.reveal(line, column);
    this.view.focus();
  }

  /** Put the cursor at line:column and scroll to it, leaving the focus where it is. */
  reveal(line, column = 1) {
    const at = position(this.view.state.doc, line, column);
    this.view.dispatch({ selection: EditorSelection.cursor(at), scrollIntoView: true });
  }

  /** The 1-based line of the cursor in the shown file. */
  get line() {
    return cursorLine(this.view.state);
  }

  focus() {
    this.view.focus();
  }
}

/** @param {EditorState} state */
function cursorLine(state) {
  return state.doc.lineAt(state.selection.main.head).number;
}

/** @param {import("@codemirror/state").Text} doc */
function position(doc, line, column) {
  const row = doc.line(Math.min(Math.max(line, 1), doc.lines));
  return Math.min(row.from + Math.max(column - 1, 0), row.to);
}

// The files of the package: names in tab order, one editor state each, the shown one, and the
// findings (compile errors, vet) and the compiler's decisions per file. State as data; the tabs and the
// editor draw from it.

/** A name the server accepts: relative, letters, digits, _ - . and /, no .. and no hidden part. */
const NAME = /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+){0,7}$/;

/** @param {string} name @returns {string | null} why it cannot be a file name, or null */
export function badName(name) {
  if (!NAME.test(name)) return "use letters, digits, _ - . and / (e.g. util.go, go.mod, testdata/input.txt)";
  if (name.split("/").some((part) => part.startsWith("."))) return "no part of a name may start with a dot";
  return null;
}

export class Workspace {
  /** @param {import("./editor.js").Editor} editor */
  constructor(editor) {
    this.editor = editor;
    /** @type {Map<string, import("@codemirror/state").EditorState>} */
    this.states = new Map();
    /** @type {Map<string, import("./editor.js").Finding[]>} */
    this.findings = new Map();
    /** @type {Map<string, import("./hints.js").Decision[]>} */
    this.decisions = new Map();
    this.active = "";
    /** @type {((name: string) => void) | null} told after another file is shown */
    this.onShow = null;
  }

  names() {
    return [...this.states.keys()];
  }

  /** @returns {Array<[string, string]>} every file with its text, the shown one as edited */
  files() {
    this.keep();
    return this.names().map((name) => [name, this.states.get(name).doc.toString()]);
  }

  /** @returns {Record<string, string>} */
  fileMap() {
    return Object.fromEntries(this.files());
  }

  keep() {
    if (this.states.has(this.active)) this.states.set(this.active, this.editor.state);
  }

  /** Replace every file (an example, a share, a draft, an archive). @param {Array<[string, string]>} files */
  load(files, active) {
    this.states = new Map(files.map(([name, text]) => [name, this.editor.create(name, text)]));
    if (this.states.size === 0) this.states.set("main.go", this.editor.create("main.go", ""));
    this.findings = new Map();
    this.decisions = new Map();
    this.active = "";
    this.show(active && this.states.has(active) ? active : this.names()[0]);
  }

  /** Add or overwrite files, keeping the others. @param {Array<[string, string]>} files */
  merge(files) {
    this.keep();
    for (const [name, text] of files) this.states.set(name, this.editor.create(name, text));
    this.active = "";
    this.show(files.length ? files[0][0] : this.names()[0]);
  }

  show(name) {
    this.keep();
    this.active = name;
    this.editor.show(this.states.get(name));
    this.editor.mark(this.findings.get(name) || []);
    this.editor.hint(this.decisions.get(name) || []);
    this.onShow?.(name);
  }

  add(name, text = "") {
    this.keep();
    this.states.set(name, this.editor.create(name, text));
    this.show(name);
  }

  rename(from, to) {
    this.keep();
    const text = this.states.get(from).doc.toString();
    this.states = new Map([...this.states].map(([n, s]) => (n === from ? [to, this.editor.create(to, text)] : [n, s])));
    this.findings.delete(from);
    this.decisions.delete(from);
    this.active = "";
    this.show(to);
  }

  remove(name) {
    const index = this.names().indexOf(name);
    this.states.delete(name);
    this.findings.delete(name);
    this.decisions.delete(name);
    this.active = "";
    const names = this.names();
    this.show(names[Math.min(index, names.length - 1)]);
  }

  /** Set the findings of every file (an empty list clears them). @param {import("./editor.js").Finding[]} found */
  setFindings(found) {
    this.findings = new Map();
    for (const finding of found) {
      const file = finding.file.replace(/^\.\//, "");
      const list = this.findings.get(file) || [];
      list.push({ ...finding, file });
      this.findings.set(file, list);
    }
    this.editor.mark(this.findings.get(this.active) || []);
  }

  /** Set the compiler's decisions of every file (an empty list clears them). @param {import("./hints.js").Decision[]} found */
  setDecisions(found) {
    this.decisions = new Map();
    for (const decision of found) {
      const list = this.decisions.get(decision.file) || [];
      list.push(decision);
      this.decisions.set(decision.file, list);
    }
    this.editor.hint(this.decisions.get(this.active) || []);
  }

  /** Replace the texts of some files (Format), each as an undoable change. @param {Record<string, string>} texts */
  rewrite(texts) {
    this.keep();
    for (const [name, text] of Object.entries(texts)) {
      if (name === this.active) this.editor.replace(text);
      else if (this.states.has(name)) {
        const state = this.states.get(name);
        this.states.set(name, state.update({ changes: { from: 0, to: state.doc.length, insert: text } }).state);
      }
    }
  }
}

// The controller: loads the files (a share, the draft or the first example), runs jobs through
// /submissions and their event stream, and draws what they answer. State lives in the Workspace;
// this module only turns user actions into requests and results into the panels.

import { ApiError, api, follow, interactive } from "./api.js";
import { h } from "./dom.js";
import { loadDraft, saveDraft } from "./draft.js";
import { Editor } from "./editor.js";
import { EXAMPLES } from "./examples.js";
import { Insight } from "./insight.js";
import { buildLayout } from "./layout.js";
import { Output, Problems, TestList, Verdict, runVerdict } from "./results.js";
import { Tabs } from "./tabs.js";
import { Terminal } from "./terminal.js";
import { formatTxtar, looksLikeTxtar, parseTxtar, shareBody } from "./txtar.js";
import { Workspace } from "./workspace.js";

const FINAL = new Set(["done", "failed", "cancelled"]);

/** Arguments as a shell would split them, without its expansions: words, "quoted words", 'quoted'. */
function splitArgs(text) {
  return [...text.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]);
}

export class Playground {
  /** @param {HTMLElement} root the #playground element (data-mode, data-share-id) */
  constructor(root) {
    this.full = root.dataset.mode !== "embed";
    this.shareId = root.dataset.shareId || "";
    this.layout = buildLayout(this.full);
    this.side = this.layout.side;
    this.output = new Output();
    this.verdict = new Verdict();
    this.tests = new TestList();
    this.problems = new Problems((finding) => this.jump(finding));
    this.notice = h("p", { class: "notice", "aria-live": "polite" });
    this.terminal = new Terminal({
      onInput: (text) => this.job?.live && (this.output.append("stdin", text), this.job.live.input(text)),
      onEof: () => this.job?.live?.eof(),
      onInterrupt: () => this.job?.live?.signal("SIGINT"),
    });
    this.editor = new Editor(this.layout.editorHost, {
      onRun: () => this.submit("run"),
      onChange: () => this.changed(),
      onPasteTxtar: (text) => this.pasteTxtar(text),
      onCursor: (line) => this.insight?.cursor(line),
    });
    this.workspace = new Workspace(this.editor);
    this.insight = this.full ? new Insight(this.workspace, this.layout.toggles, { body: () => this.packageBody(),
      say: (text) => this.say(text) }) : null;
    this.workspace.onShow = () => this.insight?.draw();
    this.tabs = new Tabs(this.workspace, { editable: this.full, onChange: () => this.changed(), say: (t) => this.say(t) });
    /** @type {{id: string, kind: string, close: () => void, compileShown: boolean} | null} */
    this.job = null;
    this.mount(root);
    this.wire();
  }

  mount(root) {
    const pair = h("div", { class: "editor-pair" }, this.layout.editorHost, this.insight ? this.insight.pane.element : null);
    const column = h("div", { class: "editor-column" }, this.tabs.element, pair, this.layout.hint);
    const results = h("section", { class: "results", "aria-label": "Results" }, this.verdict.element,
      this.problems.element, this.tests.element, h("h2", { class: "output-title" }, "Output"), this.output.element,
      this.terminal.element);
    const open = this.full ? null : h("a", { class: "open-full", href: this.shareId ? `/p/${this.shareId}` : "/", target: "_blank", rel: "noopener" }, "Open in the playground");
    if (open) this.layout.toolbar.append(open);
    root.replaceChildren(h("div", { class: `pg pg-${this.full ? "full" : "embed"}` }, this.layout.toolbar, this.notice,
      h("div", { class: "workbench" }, column, this.side ? this.side.element : null), results));
  }

  wire() {
    const { buttons, examples } = this.layout;
    buttons.run.addEventListener("click", () => this.submit("run"));
    buttons.test.addEventListener("click", () => this.submit("test"));
    buttons.stop.addEventListener("click", () => this.stop());
    buttons.format.addEventListener("click", () => this.format());
    buttons.vet.addEventListener("click", () => this.vet());
    buttons.share.addEventListener("click", () => this.share());
    examples.addEventListener("change", () => this.pickExample());
    document.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && !event.defaultPrevented) {
        event.preventDefault();
        this.submit("run");
      }
    });
    if (!this.side) return;
    this.side.importButton.addEventListener("click", () => this.importArchive());
    this.side.exportButton.addEventListener("click", () => (this.side.archive.value = formatTxtar(this.workspace.files())));
    for (const input of [this.side.stdin, this.side.args]) input.addEventListener("input", () => this.changed());
  }

  /** Files first (the page is usable at once), then what the server offers. */
  async start() {
    await this.loadFiles();
    await Promise.all([this.loadVersions(), this.loadLimits()]);
  }

  async loadFiles() {
    if (this.shareId) {
      try {
        const files = parseTxtar(await api.shared(this.shareId));
        return this.show(files.length ? files : [["main.go", ""]]);
      } catch (error) {
        this.say(`could not load the shared files: ${error.message}`);
      }
    }
    const draft = this.full ? loadDraft() : null;
    if (draft) {
      this.show(draft.files, draft.active);
      this.side.stdin.value = draft.stdin || "";
      this.side.args.value = draft.args || "";
      return;
    }
    this.show(EXAMPLES[0].files);
  }

  async loadVersions() {
    try {
      const { go_versions: versions = [] } = await api.version();
      this.layout.version.replaceChildren(...versions.map((v, i) => h("option", { value: v }, i ? v : `${v} (default)`)));
    } catch (error) {
      this.say(`the server did not say its Go versions: ${error.message}`);
    }
  }

  /** The limit fields, bounded by the caps GET /limits gives (the current key's, if any). */
  async loadLimits() {
    if (!this.side) return;
    try {
      const { defaults, caps, minimums } = await api.limits();
      for (const input of [this.side.wall, this.side.memory]) {
        Object.assign(input, { min: String(minimums[input.name]), max: String(caps[input.name]), value: String(defaults[input.name]) });
      }
    } catch (error) {
      this.say(`the server did not say its limits (${error.message}); its defaults apply`);
    }
  }

  show(files, active) {
    this.workspace.load(files, active);
    this.tabs.draw();
  }

  say(text) {
    this.notice.textContent = text;
  }

  changed() {
    this.insight?.changed();
    if (this.side) this.side.link.value = "";
    if (!this.full) return;
    clearTimeout(this.saving);
    this.saving = setTimeout(() => saveDraft({ files: this.workspace.files(), active: this.workspace.active,
      stdin: this.side.stdin.value, args: this.side.args.value }), 300);
  }

  /** The package and the Go version (the body of /vet, /fmt, /explain). */
  packageBody() {
    /** @type {Record<string, unknown>} */
    const body = { files: this.workspace.fileMap() };
    if (this.layout.version.value) body.go_version = this.layout.version.value;
    return body;
  }

  /** The body of a run or test job: the package, the Go version, the side controls' values. */
  body(kind) {
    /** @type {Record<string, unknown>} */
    const body = { kind, files: this.workspace.fileMap() };
    if (this.layout.version.value) body.go_version = this.layout.version.value;
    if (!this.side) return body;
    const limits = {};
    for (const input of [this.side.wall, this.side.memory]) if (input.value !== "") limits[input.name] = Number(input.value);
    if (Object.keys(limits).length) body.limits = limits;
    if (kind === "run") Object.assign(body, { stdin: this.side.stdin.value, args: splitArgs(this.side.args.value) });
    if (kind === "test") {
      body.cover = this.side.cover.checked;
      if (this.side.bench.checked) Object.assign(body, { bench: ".", benchtime: "100x" });
    }
    return body;
  }

  limitsValid() {
    if (!this.side) return true;
    return [this.side.wall, this.side.memory].every((input) => input.reportValidity());
  }

  /** Run or Test: submit the job, then follow its events until its result. */
  async submit(kind) {
    if (this.job || !this.limitsValid()) return;
    const body = this.body(kind);
    this.busy(true);
    this.output.clear();
    this.tests.clear();
    this.setFindings([]);
    this.verdict.set(kind === "test" ? "testing…" : "submitting…", "busy");
    const job = { id: "", kind, close: () => {}, compileShown: false, live: null };
    this.job = job;
    // A run with no stdin set up front is interactive: what the terminal sends reaches it as it runs.
    if (kind === "run" && !body.stdin) return this.interactive(job, body);
    try {
      job.id = (await api.submit(body)).id;
    } catch (error) {
      this.finish(job);
      this.verdict.set("not run", "error", error.message);
      return;
    }
    if (this.job !== job) return;
    job.close = follow(job.id, {
      onState: (data) => this.job === job && !FINAL.has(data.state) && this.verdict.set(`${data.state}…`, "busy"),
      onCompile: (data) => this.job === job && this.compiled(job, data),
      onOutput: (stream, text) => this.job === job && this.output.append(stream, text),
      onResult: (submission) => this.job === job && this.ended(job, submission),
      onLost: () => this.job === job && (this.finish(job), this.verdict.set("lost", "error", "the event stream ended early")),
    });
  }

  /** A run over /runs/interactive: the terminal is open while it runs. */
  interactive(job, body) {
    const { kind: _kind, stdin: _stdin, ...run } = body;
    job.live = interactive(run, {
      onSubmitted: (id) => (job.id = id),
      onState: (data) => this.job === job && !FINAL.has(data.state) && this.verdict.set(`${data.state}…`, "busy"),
      onCompile: (data) => this.job === job && this.compiled(job, data),
      onOutput: (stream, text) => this.job === job && this.output.append(stream, text),
      onResult: (submission) => this.job === job && this.ended(job, submission),
      onLost: (reason) => this.job === job && (this.finish(job), this.verdict.set("lost", "error", reason)),
    });
    job.close = () => job.live.close();
    this.terminal.open();
  }

  compiled(job, data) {
    if (!data.succeeded && data.output) {
      this.output.append("compile", data.output);
      job.compileShown = true;
    } else if (data.succeeded) this.verdict.set("running…", "busy", `built in ${data.duration_ms} ms`);
  }

  ended(job, submission) {
    this.finish(job);
    if (submission.state === "cancelled") return this.verdict.set("cancelled", "cancelled", "stopped before it finished");
    if (submission.state === "failed") return this.verdict.set("failed", "error", submission.error?.detail || "the service failed");
    const result = submission.result;
    if (this.output.empty) { // no live events (a replayed job): the result holds the output
      this.output.append("stdout", job.kind === "test" ? "" : result.stdout);
      this.output.append("stderr", result.stderr);
    }
    if (result.status === "compile_error" && !job.compileShown) this.output.append("compile", result.compile_output);
    this.setFindings(result.diagnostics || []);
    const verdict = runVerdict(result);
    if (job.kind === "test") {
      this.tests.show(result);
      verdict.text = `${result.passed ? "passed" : "failed"} · ${verdict.text}`;
    }
    this.verdict.set(verdict.text, verdict.status, verdict.detail);
  }

  /** Stop: cancel the job; its sandbox is killed. A job that finished meanwhile (409) shows its result. */
  async stop() {
    const job = this.job;
    if (!job || !job.id) return;
    this.layout.buttons.stop.disabled = true;
    try {
      await api.cancel(job.id);
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 409)) this.say(`could not stop it: ${error.message}`);
      return;
    }
    if (this.job !== job) return;
    job.close();
    this.finish(job);
    this.verdict.set("cancelled", "cancelled", "stopped");
  }

  busy(running) {
    const { buttons } = this.layout;
    for (const name of ["run", "test", "format", "vet"]) buttons[name].disabled = running;
    buttons.stop.disabled = !running;
  }

  finish(job) {
    if (this.job !== job) return;
    this.job = null;
    this.busy(false);
    if (job.live) {
      job.close();
      this.terminal.close();
    }
  }

  setFindings(findings) {
    this.workspace.setFindings(findings);
    this.problems.show(findings);
    this.tabs.draw();
  }

  jump(finding) {
    const file = finding.file.replace(/^\.\//, "");
    if (this.workspace.states.has(file) && file !== this.workspace.active) this.workspace.show(file);
    this.tabs.draw();
    this.editor.jump(finding.line, finding.column);
  }

  async format() {
    this.say("formatting…");
    try {
      const result = await api.fmt({ files: this.workspace.fileMap() });
      this.setFindings(result.diagnostics || []);
      if (!result.ok) return this.say("gofmt could not parse the files: see Problems");
      this.workspace.rewrite(Object.fromEntries(result.changed.map((name) => [name, result.files[name]])));
      if (result.changed.length) this.changed();
      this.say(result.changed.length ? `formatted ${result.changed.join(", ")}` : "already formatted");
    } catch (error) {
      this.say(`Format failed: ${error.message}`);
    }
  }

  async vet() {
    this.say("vetting…");
    try {
      const result = await api.vet({ files: this.workspace.fileMap() });
      const findings = result.diagnostics || [];
      this.setFindings(findings);
      this.say(findings.length ? `go vet: ${findings.length} finding${findings.length > 1 ? "s" : ""}` : "go vet: no findings");
    } catch (error) {
      this.say(`Vet failed: ${error.message}`);
    }
  }

  async share() {
    try {
      const id = await api.share(shareBody(this.workspace.files()));
      this.side.link.value = `${location.origin}/p/${id}`;
      this.side.link.focus();
      this.side.link.select();
      this.say("share link ready: opening it loads these files");
    } catch (error) {
      this.say(`Share failed: ${error.message}`);
    }
  }

  pickExample() {
    const example = EXAMPLES[Number(this.layout.examples.value)];
    this.layout.examples.value = "";
    if (!example) return;
    this.show(example.files);
    this.side.stdin.value = example.stdin || "";
    this.side.bench.checked = Boolean(example.bench);
    this.output.clear();
    this.tests.clear();
    this.setFindings([]);
    this.verdict.set("");
    this.changed();
    this.editor.focus();
  }

  /** A txtar pasted into the editor: its files become tabs (added, or replacing those of the same name). */
  pasteTxtar(text) {
    if (!this.full || !looksLikeTxtar(text)) return false;
    const files = parseTxtar(text);
    this.workspace.merge(files);
    this.tabs.draw();
    this.changed();
    this.say(`pasted a txtar archive: ${files.map(([name]) => name).join(", ")}`);
    return true;
  }

  importArchive() {
    const text = this.side.archive.value;
    if (!text.trim()) return this.say("paste a txtar archive into the Archive box first");
    this.show(parseTxtar(text));
    this.changed();
    this.say(`imported ${this.workspace.names().length} files`);
  }
}

// What a run, a test or a vet answers, drawn as text: the output log, the verdict line, the test list
// and the problems list. Everything a program or the compiler wrote goes in through text nodes only.

import { clear, h } from "./dom.js";

export class Output {
  constructor() {
    this.element = h("pre", { class: "output", role: "log", "aria-label": "Output", tabindex: "0" });
  }

  clear() {
    clear(this.element);
    this.written = 0;
  }

  /** Append in written order; consecutive chunks of one stream share an element. */
  append(stream, text) {
    if (!text) return;
    this.written = (this.written || 0) + text.length;
    const last = this.element.lastElementChild;
    if (last instanceof HTMLElement && last.dataset.stream === stream) last.append(text);
    else this.element.append(h("span", { class: `out-${stream}`, "data-stream": stream }, text));
    this.element.scrollTop = this.element.scrollHeight;
  }

  get empty() {
    return !this.written;
  }
}

const ms = (value) => (typeof value === "number" ? `${value} ms` : "—");

/** The verdict line of a run's result (README "POST /run"). */
export function runVerdict(result) {
  const parts = [result.status];
  if (result.signal) parts.push(`signal ${result.signal}`);
  else if (result.exit_code !== null && result.exit_code !== undefined) parts.push(`exit code ${result.exit_code}`);
  const timings = result.timings_ms || {};
  parts.push(`compile ${ms(timings.compile)}`, `run ${ms(timings.run)}`);
  if (result.go_version) parts.push(result.go_version);
  return { text: parts.join(" · "), detail: result.message || "", status: result.status };
}

export class Verdict {
  constructor() {
    this.status = h("span", { class: "verdict-text" });
    this.detail = h("span", { class: "verdict-detail" });
    this.element = h("p", { class: "verdict", role: "status", "aria-live": "polite" }, this.status, this.detail);
  }

  /** @param {string} text @param {string} [status] ok, timeout, ... or busy / error @param {string} [detail] */
  set(text, status = "", detail = "") {
    this.status.textContent = text;
    this.detail.textContent = detail ? ` — ${detail}` : "";
    this.element.dataset.status = status;
  }
}

export class TestList {
  constructor() {
    this.summary = h("p", { class: "tests-summary" });
    this.list = h("ul", { class: "tests" });
    this.element = h("section", { class: "tests-panel", "aria-label": "Tests", hidden: true }, this.summary, this.list);
  }

  clear() {
    this.element.hidden = true;
    clear(this.list);
    this.summary.textContent = "";
  }

  /** @param {any} result a /test result: tests, benchmarks, coverage_percent, passed */
  show(result) {
    this.clear();
    this.element.hidden = false;
    const tests = result.tests || [];
    const count = (r) => tests.filter((t) => t.result === r).length;
    const parts = [`${count("pass")} passed`, `${count("fail")} failed`, `${count("skip")} skipped`];
    if (typeof result.coverage_percent === "number") parts.push(`coverage ${result.coverage_percent.toFixed(1)}%`);
    this.summary.textContent = parts.join(" · ");
    for (const test of tests) this.list.append(testItem(test));
    for (const bench of result.benchmarks || []) {
      const text = `${bench.name}  ${bench.iterations} × ${bench.ns_per_op} ns/op ${bench.extra || ""}`.trim();
      this.list.append(h("li", { class: "test test-bench" }, h("span", { class: "test-mark" }, "BENCH"), " ", text));
    }
  }
}

function testItem(test) {
  const mark = { pass: "PASS", fail: "FAIL", skip: "SKIP" }[test.result] || test.result.toUpperCase();
  const head = h("summary", {}, h("span", { class: "test-mark" }, mark), ` ${test.name} (${test.elapsed_s.toFixed(2)} s)`);
  const body = h("pre", { class: "test-output" }, test.output || "(no output)");
  return h("li", { class: `test test-${test.result}`, "data-test": test.name },
    h("details", { open: test.result === "fail" }, head, body));
}

export class Problems {
  /** @param {(finding: import("./editor.js").Finding) => void} onPick */
  constructor(onPick) {
    this.onPick = onPick;
    this.list = h("ul", { class: "problems" });
    this.element = h("section", { class: "problems-panel", "aria-label": "Problems", hidden: true },
      h("h2", {}, "Problems"), this.list);
  }

  /** @param {import("./editor.js").Finding[]} findings */
  show(findings) {
    clear(this.list);
    this.element.hidden = findings.length === 0;
    for (const finding of findings) {
      const where = `${finding.file.replace(/^\.\//, "")}:${finding.line}:${finding.column}`;
      const label = `${where}: ${finding.message}${finding.analyzer ? ` (${finding.analyzer})` : ""}`;
      this.list.append(h("li", {}, h("button", { type: "button", class: "problem", onclick: () => this.onPick(finding) }, label)));
    }
  }
}

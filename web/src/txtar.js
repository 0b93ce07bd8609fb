// The txtar archive of the Go Playground: "-- name --" lines start each file; text before the first
// marker is main.go (the server reads archives the same way: src/gosandbox/txtar.py).

const MARKER = /^-- (\S(?:.*\S)?) --$/;

/** @param {string} text */
export function looksLikeTxtar(text) {
  return text.split("\n").some((line) => MARKER.test(line.replace(/\r$/, "")));
}

/**
 * The files of an archive, in order; an empty preamble is no file.
 * @param {string} text
 * @param {string} [preamble]
 * @returns {Array<[string, string]>}
 */
export function parseTxtar(text, preamble = "main.go") {
  /** @type {Map<string, string>} */
  const files = new Map();
  let name = preamble;
  let lines = [];
  for (const line of text.split(/(?<=\n)/)) {
    const marker = MARKER.exec(line.replace(/\r?\n$/, ""));
    if (marker === null) {
      lines.push(line);
      continue;
    }
    store(files, name, lines.join(""), preamble);
    name = marker[1];
    lines = [];
  }
  store(files, name, lines.join(""), preamble);
  return [...files];
}

function store(files, name, content, preamble) {
  if (name === preamble && !files.has(preamble) && content.trim() === "") return;
  files.set(name, content);
}

/**
 * The archive of `files`; each file ends with a newline so that the next marker starts a line.
 * @param {Array<[string, string]>} files
 */
export function formatTxtar(files) {
  return files.map(([name, content]) => `-- ${name} --\n${content}${content === "" || content.endsWith("\n") ? "" : "\n"}`).join("");
}

/**
 * What Share stores: a lone main.go as the bare program (the Go Playground's form), else an archive.
 * @param {Array<[string, string]>} files
 */
export function shareBody(files) {
  if (files.length === 1 && files[0][0] === "main.go" && !looksLikeTxtar(files[0][1])) return files[0][1];
  return formatTxtar(files);
}

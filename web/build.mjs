// Bundle the playground: web/src/main.js -> app-<hash>.js (IIFE, minified), web/src/style.css ->
// app-<hash>.css, and manifest.json naming both, in src/gosandbox/web/static/ (or --outdir DIR).
// The same sources give byte-identical files (no sourcemap, no timestamps, names from content
// hashes); stale app-<hash> files of ours are deleted, nothing else in the directory is touched.
//   node web/build.mjs [--outdir DIR]

import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const flag = process.argv.indexOf("--outdir");
const outdir = resolve(flag > 0 ? process.argv[flag + 1] : join(here, "..", "src", "gosandbox", "web", "static"));
const OURS = /^app-[0-9a-f]{10,}\.(js|css)$/;

async function bundle(entry, extra) {
  const result = await esbuild.build({
    entryPoints: [join(here, "src", entry)],
    bundle: true,
    minify: true,
    write: false,
    sourcemap: false,
    legalComments: "none",
    charset: "utf8",
    target: ["chrome100", "firefox100", "safari15"],
    logLevel: "warning",
    outdir: "out", // not written: names the output only
    ...extra,
  });
  return result.outputFiles[0].contents;
}

function hashed(stem, ext, contents) {
  const digest = createHash("sha256").update(contents).digest("hex").slice(0, 16);
  return `${stem}-${digest}.${ext}`;
}

const js = await bundle("main.js", { format: "iife" });
const css = await bundle("style.css", {});
const names = { "app.js": hashed("app", "js", js), "app.css": hashed("app", "css", css) };

mkdirSync(outdir, { recursive: true });
for (const name of readdirSync(outdir)) {
  if (OURS.test(name) && !Object.values(names).includes(name)) rmSync(join(outdir, name));
}
writeFileSync(join(outdir, names["app.js"]), js);
writeFileSync(join(outdir, names["app.css"]), css);
writeFileSync(join(outdir, "manifest.json"), JSON.stringify(names, null, 2) + "\n");
console.log(`built ${names["app.js"]} (${js.length} bytes), ${names["app.css"]} (${css.length} bytes) in ${outdir}`);

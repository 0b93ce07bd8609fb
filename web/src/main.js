// The playground's entry point: the server's page holds <div id="playground" data-mode="full|embed"
// data-share-id="...">; everything inside it is built here.

import { Playground } from "./playground.js";

function boot() {
  const root = document.getElementById("playground");
  if (root) new Playground(root).start();
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
else boot();

// Elements built from data, never from markup: every property, attribute and child is set one by
// one, and text goes in as text nodes. Program output and file names can hold anything ("<img
// onerror=...>"), and the page runs under a CSP without 'unsafe-inline': no string is ever parsed as HTML, no style attribute.

const PROPERTIES = new Set(["value", "checked", "disabled", "readOnly", "selected", "textContent", "hidden"]);

/**
 * h("button", {type: "button", onclick: run}, "Run") -> <button type="button">Run</button>
 * @param {string} tag
 * @param {Record<string, unknown>} [props]
 * @param {...(Node | string | null | undefined | Array<Node | string | null | undefined>)} children
 * @returns {HTMLElement}
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "style") throw new Error("no style attributes: the CSP forbids them; use a class");
    if (key.startsWith("on")) element.addEventListener(key.slice(2), /** @type {EventListener} */ (value));
    else if (PROPERTIES.has(key)) /** @type {any} */ (element)[key] = value;
    else element.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) element.append(child);
  }
  return element;
}

/** Remove every child of `element`. */
export function clear(element) {
  element.replaceChildren();
}

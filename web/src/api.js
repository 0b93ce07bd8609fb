// The server's HTTP API, as the page uses it (README "HTTP API" and "Jobs: /submissions").

export class ApiError extends Error {
  /** @param {number} status @param {string} message */
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/**
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body] a string goes as text/plain, anything else as JSON
 */
async function request(method, path, body) {
  /** @type {RequestInit} */
  const init = { method, headers: {} };
  if (body !== undefined) {
    const text = typeof body === "string";
    init.headers = { "Content-Type": text ? "text/plain; charset=utf-8" : "application/json" };
    init.body = text ? body : JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const type = response.headers.get("content-type") || "";
  const data = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) throw new ApiError(response.status, describe(response.status, data));
  return data;
}

/** A problem document's detail (RFC 9457), or the status. */
function describe(status, data) {
  if (data && typeof data === "object") return String(data.detail || data.title || `HTTP ${status}`);
  return typeof data === "string" && data.trim() ? data.trim().slice(0, 300) : `HTTP ${status}`;
}

export const api = {
  version: () => request("GET", "/version"),
  limits: () => request("GET", "/limits"),
  /** @param {Record<string, unknown>} body a /run or /test body with "kind" */
  submit: (body) => request("POST", "/submissions", body),
  /** @param {string} id */
  cancel: (id) => request("DELETE", `/submissions/${id}`),
  /** @param {Record<string, unknown>} body */
  fmt: (body) => request("POST", "/fmt", body),
  /** @param {Record<string, unknown>} body */
  vet: (body) => request("POST", "/vet", body),
  /** @param {Record<string, unknown>} body a package, go_version, assembly: the compiler's decisions and assembly */
  explain: (body) => request("POST", "/explain", body),
  /** @param {string} text the bare program or a txtar archive; answers the bare id */
  share: async (text) => String(await request("POST", "/share", text)).trim(),
  /** @param {string} id */
  shared: (id) => request("GET", `/p/${encodeURIComponent(id)}.txtar`),
};

/**
 * Follow a submission's Server-Sent Events until its `result`. EventSource resumes by itself
 * (Last-Event-ID) when the stream breaks; the server answers 204 once nothing is left, which ends it.
 * @param {string} id
 * @param {{onState?: (d: any) => void, onCompile?: (d: any) => void, onOutput: (stream: string, text: string) => void, onResult: (submission: any) => void, onLost: () => void}} handlers
 * @returns {() => void} closes the stream
 */
export function follow(id, handlers) {
  const source = new EventSource(`/submissions/${id}/events`);
  const parsed = (event) => JSON.parse(/** @type {MessageEvent} */ (event).data);
  source.addEventListener("state", (event) => handlers.onState?.(parsed(event)));
  source.addEventListener("compile", (event) => handlers.onCompile?.(parsed(event)));
  source.addEventListener("stdout", (event) => handlers.onOutput("stdout", parsed(event).text));
  source.addEventListener("stderr", (event) => handlers.onOutput("stderr", parsed(event).text));
  source.addEventListener("result", (event) => {
    source.close();
    handlers.onResult(parsed(event));
  });
  source.addEventListener("error", () => {
    if (source.readyState === EventSource.CLOSED) handlers.onLost();
  });
  return () => source.close();
}

/**
 * An interactive run (docs/interactive.md): the program's stdin over a WebSocket while it runs, its events back.
 * @param {Record<string, unknown>} run a /run body
 * @param {{onSubmitted?: (id: string) => void, onState?: (d: any) => void, onCompile?: (d: any) => void, onOutput: (stream: string, text: string) => void, onResult: (submission: any) => void, onLost: (reason: string) => void}} handlers
 */
export function interactive(run, handlers) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(`${scheme}//${location.host}/runs/interactive`);
  let ended = false;
  let reason = "";
  socket.addEventListener("open", () => socket.send(JSON.stringify({ type: "start", run })));
  socket.addEventListener("message", (message) => {
    const m = JSON.parse(message.data);
    if (m.type === "submission") handlers.onSubmitted?.(m.id);
    else if (m.type === "error") reason = m.message;
    else if (m.type !== "event") return;
    else if (m.event === "state") handlers.onState?.(m.data);
    else if (m.event === "compile") handlers.onCompile?.(m.data);
    else if (m.event === "stdout" || m.event === "stderr") handlers.onOutput(m.event, m.data.text);
    else if (m.event === "result") {
      ended = true;
      handlers.onResult(m.data);
    }
  });
  socket.addEventListener("close", (event) => {
    if (!ended) handlers.onLost(reason || event.reason || `the connection closed (${event.code})`);
  });
  const send = (message) => socket.readyState === WebSocket.OPEN && socket.send(JSON.stringify(message));
  return {
    /** @param {string} data */
    input: (data) => send({ type: "stdin", data }),
    eof: () => send({ type: "eof" }),
    /** @param {string} name */
    signal: (name) => send({ type: "signal", signal: name }),
    close: () => {
      ended = true;
      socket.close();
    },
  };
}

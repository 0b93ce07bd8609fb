// The draft of the full page, kept in localStorage: the files, the shown tab, stdin and arguments.
// A storage that is full or switched off (private windows) only means no draft.

const KEY = "gosandbox.playground.draft";

/** @returns {{files: Array<[string, string]>, active?: string, stdin?: string, args?: string} | null} */
export function loadDraft() {
  try {
    const draft = JSON.parse(localStorage.getItem(KEY) || "null");
    return draft && Array.isArray(draft.files) && draft.files.length ? draft : null;
  } catch {
    return null;
  }
}

/** @param {{files: Array<[string, string]>, active: string, stdin: string, args: string}} draft */
export function saveDraft(draft) {
  try {
    localStorage.setItem(KEY, JSON.stringify(draft));
  } catch {
    // no room or no storage: the page works on without a draft
  }
}

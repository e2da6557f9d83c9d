// The launch log page: while the launch runs, fetch the log every 2 s and append what is
// new; stop once the submission has left New (the launch finished).
(function () {
  "use strict";
  const pre = document.getElementById("launch-log");
  if (!pre || !pre.hasAttribute("data-follow")) return;
  let length = Number(pre.dataset.length || 0);

  async function poll() {
    try {
      const sub = await fetch(pre.dataset.submission, { credentials: "same-origin", headers: { Accept: "application/json" } });
      const finished = sub.ok && (await sub.json()).status !== "New";
      const log = await fetch(pre.dataset.log, { credentials: "same-origin" });
      if (log.ok) {
        const text = await log.text();
        if (length === 0 || text.length < length) pre.textContent = text;
        else pre.textContent += text.slice(length);
        length = text.length;
      }
      if (finished) {  // the last output was fetched after the launch ended
        const state = document.getElementById("launch-state");
        if (state) state.textContent = "The launch has finished.";
        return;
      }
    } catch (e) {
      // the server may be restarting: try again on the next tick
    }
    window.setTimeout(poll, 2000);
  }
  window.setTimeout(poll, 2000);
})();

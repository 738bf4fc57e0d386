// qbutler dashboard: live updates over server-sent events and background form posts.
// Every page works without this file; it only saves reloads. No dependencies, no build step.
"use strict";
(function () {
  const body = document.body;
  const csrf = body.dataset.csrf;
  const notice = document.getElementById("notice");
  const liveState = document.getElementById("live-state");

  function localize(root) {
    root.querySelectorAll("time[data-local]").forEach((el) => {
      const when = new Date(el.getAttribute("datetime"));
      if (!isNaN(when)) {
        el.textContent = when.toLocaleString(undefined, {
          year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
        });
        el.title = el.getAttribute("datetime");
      }
    });
  }

  function say(kind, text) {
    if (!notice) return;
    notice.className = "notice notice-" + kind;
    notice.textContent = text;
  }

  // ---- refreshing the live regions of the current page
  let refreshing = false;
  let again = false;
  let lastRefresh = 0;
  let timer = null;

  async function refresh() {
    if (refreshing) { again = true; return; }
    refreshing = true;
    lastRefresh = Date.now();
    try {
      const response = await fetch(location.href, { headers: { Accept: "text/html" }, credentials: "same-origin" });
      if (response.redirected && response.url.indexOf("/login") >= 0) { location.reload(); return; }
      if (!response.ok) return;
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
      fresh.querySelectorAll("[data-live][id]").forEach((incoming) => {
        const current = document.getElementById(incoming.id);
        // Never pull a control out from under the keyboard or pointer.
        if (current && !current.contains(document.activeElement)) {
          current.innerHTML = incoming.innerHTML;
          localize(current);
        }
      });
    } catch (error) {
      // The server is restarting; the event stream's reconnect triggers the next refresh.
    } finally {
      refreshing = false;
      if (again) { again = false; soon(); }
    }
  }

  function soon() {
    if (timer) return;
    const wait = Math.max(250, 1500 - (Date.now() - lastRefresh));
    timer = setTimeout(() => { timer = null; refresh(); }, wait);
  }

  // ---- the event stream
  function connect() {
    if (!body.dataset.events || !window.EventSource) return;
    const source = new EventSource(body.dataset.events);
    let wasDown = false;
    source.addEventListener("open", () => {
      liveState.dataset.state = "on";
      liveState.textContent = "live";
      if (wasDown) { wasDown = false; soon(); }
    });
    source.addEventListener("error", () => {
      wasDown = true;
      liveState.dataset.state = "retry";
      liveState.textContent = "reconnecting…";
    });
    source.addEventListener("activity", soon);
  }

  // ---- forms: confirm, then post in the background and show the answer
  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || form.method.toLowerCase() !== "post" || !csrf) return;
    const question = form.dataset.confirm;
    if (question && !window.confirm(question)) { event.preventDefault(); return; }
    if (form.action.endsWith("/logout")) return;
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    const wait = form.querySelector("input[name=wait]");
    say("busy", wait && wait.checked ? form.dataset.waitLabel || "Working…" : "Working…");
    try {
      const response = await fetch(form.action, {
        method: "POST", credentials: "same-origin",
        headers: { Accept: "application/json", "X-CSRF-Token": csrf },
        body: new URLSearchParams(new FormData(form)),
      });
      let answer;
      try { answer = await response.json(); } catch (error) { answer = null; }
      if (!answer) {
        say("error", response.status === 401 ? "Your session has ended: log in again." : "Unexpected answer (" + response.status + ").");
        if (response.status === 401) location.assign(location.pathname.replace(/\/ui\/.*$/, "/ui/login"));
        return;
      }
      if (answer.ok && answer.location && answer.location !== location.pathname) {
        sessionStorage.setItem("qbutler-notice", answer.message);
        location.assign(answer.location);
        return;
      }
      say(answer.ok ? "ok" : "error", answer.message);
      if (answer.ok) refresh();
    } catch (error) {
      say("error", "qbutler could not be reached: " + error.message);
    } finally {
      if (button) button.disabled = false;
    }
  });

  const carried = sessionStorage.getItem("qbutler-notice");
  if (carried) { sessionStorage.removeItem("qbutler-notice"); say("ok", carried); }
  localize(document);
  connect();
})();

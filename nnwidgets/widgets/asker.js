// nnwidgets Asker: a class-quiz question (anywidget front end).
//
// Stable DOM for tests and styling: root .nnw-asker; answers
// label.nnw-asker-answer (input.nnw-asker-radio inside); button.nnw-asker-submit;
// .nnw-asker-count; .nnw-asker-chart (rows .nnw-asker-row, bars .nnw-asker-bar);
// .nnw-asker-status; the correct answer gets .nnw-asker-correct once revealed.
//
// With a quiz server (mode "server" or "jupyter") the browser polls and submits
// itself (fetch), so the widget stays live while the kernel runs other cells.
// In "local" mode (embedded SQLite store) the kernel stores the answer.
// Every text goes into the page with textContent: question texts never run.

const LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
// The student's quiz token is not model state (a notebook saved with its
// widget state would carry it): the kernel hands it over by message and the
// page keeps it in memory, one per quiz server and student, shared by every
// question on the page (the server issues a student's token only once).
// anywidget loads this module once per widget, so the maps live on the page.
const SHARED = (globalThis.__nnwidgetsAskerTokens ??= { tokens: new Map(), issuing: new Map() });
const TOKENS = SHARED.tokens; // key -> token ("" = the kernel holds none yet)
const ISSUING = SHARED.issuing; // key -> promise of the token being obtained
const KERNEL_WAIT_MS = 5000;
const POLL_MS = 1000;
const MAX_BACKOFF_MS = 10000;

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function jupyterBase() {
  const node = document.getElementById("jupyter-config-data");
  let base = "/";
  if (node) {
    try {
      base = JSON.parse(node.textContent).baseUrl || "/";
    } catch (e) {
      base = "/";
    }
  }
  return base.endsWith("/") ? base : base + "/";
}

function xsrfToken() {
  const m = document.cookie.match(/(?:^|;\s*)_xsrf=([^;]*)/);
  return m ? decodeURIComponent(m[1]) : null;
}

function apiBase(model) {
  const mode = model.get("mode");
  if (mode === "server") return model.get("server");
  if (mode === "jupyter") return jupyterBase();
  return null;
}

function tokenKey(model) {
  return model.get("mode") + "|" + apiBase(model) + "|" + model.get("student");
}

// The kernel announces the token unasked (a busy kernel cannot answer a
// question until its cell ends) and answers "token?" when idle.
function heardToken(model, msg) {
  if (!msg || msg.type !== "token" || typeof msg.token !== "string") return false;
  const key = tokenKey(model);
  if (msg.token || !TOKENS.has(key)) TOKENS.set(key, msg.token);
  return true;
}

// Resolves with what the kernel says ("" when it holds no token yet). A busy
// kernel announces it within seconds; a notebook reopened without its kernel
// never does (onSlow is called after KERNEL_WAIT_MS so that the view can say so).
function tokenFromKernel(model, onSlow) {
  return new Promise((resolve) => {
    const key = tokenKey(model);
    if (TOKENS.has(key)) {
      resolve(TOKENS.get(key));
      return;
    }
    const slow = setTimeout(onSlow, KERNEL_WAIT_MS);
    const onMsg = (msg) => {
      if (!heardToken(model, msg)) return;
      clearTimeout(slow);
      model.off("msg:custom", onMsg);
      resolve(TOKENS.get(key));
    };
    model.on("msg:custom", onMsg);
    model.send({ type: "token?" });
  });
}

// This student's token: the kernel's, else one the quiz server issues now
// (then the kernel keeps it for the next session). One request per page.
// Resolves with { token } or { error }.
function obtainToken(model, onSlow) {
  const key = tokenKey(model);
  const known = TOKENS.get(key);
  if (known) return Promise.resolve({ token: known });
  if (!ISSUING.has(key)) {
    const p = (async () => {
      const said = await tokenFromKernel(model, onSlow);
      if (said) return { token: said };
      const r = await call(model, "POST", "api/quiz/students", { student: model.get("student") });
      if (r.ok && r.data && r.data.token) {
        TOKENS.set(key, r.data.token);
        model.send({ type: "token", token: r.data.token }); // the kernel keeps it for the next session
        return { token: r.data.token };
      }
      return { error: (r.data && r.data.error) || "the quiz server did not issue a token (HTTP " + r.status + ")" };
    })();
    ISSUING.set(key, p);
    p.finally(() => ISSUING.delete(key));
  }
  return ISSUING.get(key);
}

async function call(model, method, path, body, token) {
  const mode = model.get("mode");
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers["X-Quiz-Token"] = token;
  const init = { method, headers, cache: "no-store" };
  if (mode === "jupyter") {
    init.credentials = "same-origin";
    const x = xsrfToken();
    if (x) headers["X-XSRFToken"] = x;
  } else {
    init.credentials = "omit"; // tokens travel in a header, never in cookies
  }
  if (body !== undefined) init.body = JSON.stringify(body);
  const resp = await fetch(apiBase(model) + path, init);
  let data = null;
  try {
    data = await resp.json();
  } catch (e) {
    data = null;
  }
  return { status: resp.status, ok: resp.ok, data };
}

function render({ model, el: host }) {
  const uid = "nnw-asker-" + Math.random().toString(36).slice(2, 10);
  const root = el("div", "nnw-asker");
  root.dataset.question = model.get("qid");
  const title = el("div", "nnw-asker-question");
  const form = el("form", "nnw-asker-answers");
  form.addEventListener("submit", (ev) => ev.preventDefault());
  const footer = el("div", "nnw-asker-footer");
  const submit = el("button", "nnw-asker-submit", "Submit");
  submit.type = "button";
  const count = el("span", "nnw-asker-count");
  const badge = el("span", "nnw-asker-badge");
  const revealBtn = el("button", "nnw-asker-reveal", "Show answer");
  revealBtn.type = "button";
  const status = el("div", "nnw-asker-status");
  status.setAttribute("role", "status");
  const chart = el("div", "nnw-asker-chart");
  chart.setAttribute("aria-label", "class answers");
  footer.append(submit, count, badge, revealBtn);
  root.append(title, form, footer, status, chart);
  host.appendChild(root);

  // the state as the model holds it (local mode), and the starting point of
  // the state the browser keeps itself in server modes
  function stateFromModel() {
    return {
      counts: model.get("counts"),
      total: model.get("total"),
      locked: model.get("locked"),
      revealed: model.get("revealed"),
      correct: model.get("correct"),
      selected: model.get("selected"),
      message: model.get("status"),
      conflict: false,
      canAnswer: true,
    };
  }
  // state shown in server modes (the model holds it in local mode)
  const live = stateFromModel();
  const serverMode = model.get("mode") !== "local";
  let pending = null; // radio choice not yet submitted
  let stopped = false;
  let timer = null;
  let delay = POLL_MS;
  let askedMine = false;
  // local mode: the kernel stores the answer; a notebook reopened without its
  // kernel (its widget state saved) shows the question, but nobody answers
  let kernelNotice = "";
  let kernelTimer = null;
  function expectKernel() {
    clearTimeout(kernelTimer);
    kernelTimer = setTimeout(() => {
      kernelNotice = "No reply from the kernel (busy, or gone if this notebook was reopened): run this cell again to answer";
      update();
    }, KERNEL_WAIT_MS);
  }
  function kernelReplied() {
    clearTimeout(kernelTimer);
    if (kernelNotice) {
      kernelNotice = "";
      update();
    }
  }

  function buildAnswers() {
    form.replaceChildren();
    const extra = model.get("extra");
    model.get("answers").forEach((text, i) => {
      const label = el("label", "nnw-asker-answer");
      label.dataset.index = String(i);
      const radio = el("input", "nnw-asker-radio");
      radio.type = "radio";
      radio.name = uid;
      radio.value = String(i);
      radio.addEventListener("change", () => {
        pending = i;
        update();
      });
      const body = el("span", "nnw-asker-answer-body");
      body.append(el("span", "nnw-asker-letter", LETTERS[i] + "."), el("span", "nnw-asker-text", text));
      if (extra && extra[i]) body.append(el("span", "nnw-asker-extra", extra[i]));
      label.append(radio, body);
      form.appendChild(label);
    });
  }

  function buildChart() {
    chart.replaceChildren();
    model.get("answers").forEach((text, i) => {
      const row = el("div", "nnw-asker-row");
      row.dataset.index = String(i);
      const lab = el("span", "nnw-asker-row-label", LETTERS[i]);
      lab.title = text;
      const track = el("div", "nnw-asker-track");
      const bar = el("div", "nnw-asker-bar");
      track.appendChild(bar);
      row.append(lab, track, el("span", "nnw-asker-row-count", "0"));
      chart.appendChild(row);
    });
  }

  function state() {
    return serverMode ? live : stateFromModel();
  }

  function update() {
    const s = state();
    title.textContent = model.get("question");
    const n = s.total || 0;
    count.textContent = n === 1 ? "1 answer" : n + " answers";
    badge.textContent = s.locked ? "locked" : "";
    const correctShown = s.revealed && s.correct !== null && s.correct !== undefined;
    form.querySelectorAll(".nnw-asker-answer").forEach((label) => {
      const i = Number(label.dataset.index);
      const radio = label.querySelector("input");
      radio.disabled = s.locked || !s.canAnswer;
      if (pending === null && s.selected !== null && s.selected !== undefined) {
        radio.checked = i === s.selected;
      }
      label.classList.toggle("nnw-asker-selected", s.selected === i);
      label.classList.toggle("nnw-asker-correct", correctShown && s.correct === i);
    });
    const choice = pending !== null ? pending : null;
    submit.disabled = s.locked || !s.canAnswer || choice === null || choice === s.selected;
    submit.textContent = s.selected !== null && s.selected !== undefined ? "Change answer" : "Submit";
    revealBtn.hidden = serverMode || s.revealed || s.correct === null || s.correct === undefined ||
      s.selected === null || s.selected === undefined;
    let msg = s.message || kernelNotice || "";
    if (!msg && s.selected !== null && s.selected !== undefined) {
      msg = "Your answer: " + LETTERS[s.selected] + (s.locked ? " (locked)" : "");
    }
    status.textContent = msg;
    status.classList.toggle("nnw-asker-error", !!(s.message || kernelNotice));
    const answered = s.selected !== null && s.selected !== undefined;
    chart.hidden = !(answered || s.revealed);
    const counts = s.counts || [];
    const max = Math.max(1, ...counts);
    chart.querySelectorAll(".nnw-asker-row").forEach((row) => {
      const i = Number(row.dataset.index);
      const c = counts[i] || 0;
      row.querySelector(".nnw-asker-bar").style.width = (100 * c) / max + "%";
      row.querySelector(".nnw-asker-row-count").textContent = String(c);
      row.classList.toggle("nnw-asker-correct", correctShown && s.correct === i);
      row.classList.toggle("nnw-asker-mine", s.selected === i);
    });
  }

  // ---- server modes ---------------------------------------------------------
  function setMessage(text) {
    live.message = text;
    update();
  }

  function pushToModel() {
    // keep the kernel's view of the widget in step (only on change)
    let changed = false;
    for (const key of ["counts", "total", "locked", "revealed", "selected"]) {
      const v = live[key];
      if (JSON.stringify(model.get(key)) !== JSON.stringify(v)) {
        model.set(key, v);
        changed = true;
      }
    }
    if (changed) model.save_changes();
  }

  async function ensureToken() {
    const waiting = "Waiting for the kernel (busy, or gone if this notebook was reopened: run this cell again to answer)";
    let got;
    try {
      got = await obtainToken(model, () => setMessage(waiting));
    } finally {
      if (live.message === waiting) live.message = "";
    }
    if (got.token) return got.token;
    live.canAnswer = false;
    setMessage(got.error);
    return null;
  }

  async function register(token) {
    const body = {
      question: model.get("question"),
      answers: model.get("answers"),
      extra: model.get("extra"),
      correct: model.get("correct"),
    };
    const r = await call(model, "PUT", "api/quiz/" + encodeURIComponent(model.get("qid")), body, token);
    if (r.status === 409) {
      live.conflict = true; // the server keeps its own version; applyServerState checks the shape
    } else if (r.status === 403) {
      // registration=instructor: only the instructor opens questions
      setMessage("This question is not open on the quiz server yet; wait for the instructor.");
    } else if (!r.ok) {
      setMessage((r.data && r.data.error) || "could not register the question (HTTP " + r.status + ")");
    }
    return r.ok || r.status === 409;
  }

  function applyServerState(d) {
    if (!d) return;
    const sameShape = Array.isArray(d.answers) && d.answers.length === model.get("answers").length;
    if (!sameShape) {
      live.canAnswer = false;
      live.message = "The quiz server has another version of this question (" +
        (d.answers ? d.answers.length : "?") + " answers); ask the instructor.";
      return;
    }
    live.counts = d.counts;
    live.total = d.total;
    live.locked = !!d.locked;
    live.revealed = !!d.revealed;
    if (d.correct !== null && d.correct !== undefined) live.correct = d.correct;
    if (d.mine !== undefined && d.mine !== null) live.selected = d.mine;
    if (live.message && live.message.startsWith("quiz server unreachable")) live.message = "";
  }

  async function poll() {
    if (stopped) return;
    if (document.hidden) {
      schedule(POLL_MS);
      return;
    }
    try {
      const token = TOKENS.get(tokenKey(model)) || null;
      const q = askedMine || !token ? "" : "?mine=1";
      const r = await call(model, "GET", "api/quiz/" + encodeURIComponent(model.get("qid")) + q, undefined, token);
      if (r.ok) {
        askedMine = askedMine || q !== "";
        if ((live.message || "").startsWith("This question is not open")) live.message = "";
        applyServerState(r.data);
        delay = POLL_MS;
        pushToModel();
      } else if (r.status === 404 && token) {
        await register(token); // e.g. the instructor deleted it: register again
      } else {
        live.message = (r.data && r.data.error) || "HTTP " + r.status;
      }
    } catch (e) {
      live.message = "quiz server unreachable; retrying";
      delay = Math.min(delay * 2, MAX_BACKOFF_MS);
    }
    update();
    schedule(delay);
  }

  function schedule(ms) {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(poll, ms);
  }

  async function submitServer(choice) {
    submit.disabled = true;
    try {
      const token = await ensureToken();
      if (!token) return;
      const r = await call(model, "POST", "api/quiz/" + encodeURIComponent(model.get("qid")) + "/answer",
        { student: model.get("student"), answer: choice, token }, token);
      if (r.ok) {
        live.selected = choice;
        live.message = "";
        pending = null;
        askedMine = true;
      } else if (r.status === 404) {
        if (await register(token)) {
          live.message = "The question was not registered yet; press Submit again.";
        }
      } else {
        live.message = (r.data && r.data.error) || "HTTP " + r.status;
      }
    } catch (e) {
      live.message = "quiz server unreachable; your answer was not recorded";
    }
    update();
    schedule(0);
  }

  async function startServer() {
    try {
      const token = await ensureToken();
      if (token) await register(token);
    } catch (e) {
      live.message = "quiz server unreachable; retrying";
    }
    update();
    schedule(0);
  }

  // ---- wiring -------------------------------------------------------------------
  submit.addEventListener("click", () => {
    if (pending === null) return;
    const choice = pending;
    if (serverMode) {
      submitServer(choice);
    } else {
      pending = null;
      expectKernel();
      model.send({ type: "submit", answer: choice });
    }
  });
  revealBtn.addEventListener("click", () => {
    expectKernel();
    model.send({ type: "reveal" });
  });

  const onChange = () => {
    kernelReplied();
    update();
  };
  const keys = ["counts", "total", "locked", "revealed", "selected", "status", "question", "correct"];
  keys.forEach((k) => model.on("change:" + k, onChange));
  const rebuild = () => {
    buildAnswers();
    buildChart();
    update();
  };
  model.on("change:answers", rebuild);
  model.on("change:extra", rebuild);

  rebuild();
  if (serverMode) startServer();

  return () => {
    stopped = true;
    clearTimeout(timer);
    clearTimeout(kernelTimer);
    keys.forEach((k) => model.off("change:" + k, onChange));
    model.off("change:answers", rebuild);
    model.off("change:extra", rebuild);
  };
}

// Once per model, before any view: the kernel's token announcements may come
// while no question is on screen yet.
function initialize({ model }) {
  const onMsg = (msg) => heardToken(model, msg);
  model.on("msg:custom", onMsg);
  return () => model.off("msg:custom", onMsg);
}

export default { initialize, render };

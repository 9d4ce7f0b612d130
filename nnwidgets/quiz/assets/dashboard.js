// nnwidgets quiz: instructor dashboard. Every text from the server goes into
// the page through textContent (never parsed as markup), so question and answer texts
// are shown as typed, HTML and scripts included, and never run.
(function () {
  "use strict";
  var here = window.location.pathname;
  var base = here.slice(0, here.lastIndexOf("quiz/dashboard"));
  var api = base + "api/quiz";
  var KEY = "nnwidgets-quiz-instructor-token";
  var token = null;
  var cards = {};
  var timer = null;
  var status = document.getElementById("nnq-status");
  var main = document.getElementById("nnq-questions");

  function xsrf() {
    var m = document.cookie.match(/(?:^|;\s*)_xsrf=([^;]*)/);
    return m ? decodeURIComponent(m[1]) : null;
  }
  function headers(extra) {
    var h = { "X-Quiz-Token": token };
    var x = xsrf();
    if (x) { h["X-XSRFToken"] = x; }
    for (var k in extra || {}) { h[k] = extra[k]; }
    return h;
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }
  function setStatus(text, isError) {
    status.textContent = text;
    status.classList.toggle("nnq-error", !!isError);
  }

  function action(qid, name, body) {
    return fetch(api + "/" + encodeURIComponent(qid) + "/" + name, {
      method: "POST", headers: headers({ "Content-Type": "application/json" }),
      body: JSON.stringify(body || {}), credentials: "same-origin"
    }).then(function (r) {
      if (!r.ok) { return r.json().then(function (j) { setStatus(j.error || r.statusText, true); }); }
      return refresh();
    }).catch(function (e) { setStatus("request failed: " + e.message, true); });
  }

  function download(qid) {
    var url = qid ? api + "/" + encodeURIComponent(qid) + "/export.csv" : api + "/export.csv";
    fetch(url, { headers: headers(), credentials: "same-origin" }).then(function (r) {
      if (!r.ok) { throw new Error(r.status + " " + r.statusText); }
      return r.blob();
    }).then(function (blob) {
      var a = el("a");
      a.href = URL.createObjectURL(blob);
      a.download = "quiz-" + (qid || "all") + ".csv";
      document.body.appendChild(a);
      a.click();
      setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
    }).catch(function (e) { setStatus("export failed: " + e.message, true); });
  }

  function card(q) {
    var c = cards[q.id];
    if (!c) {
      c = { root: el("section", "nnq-question") };
      c.root.dataset.qid = q.id;
      c.title = el("h2");
      c.meta = el("div");
      c.qid = el("span", "nnq-qid");
      c.flags = el("span", "nnq-flags");
      c.meta.appendChild(c.qid);
      c.meta.appendChild(c.flags);
      c.rows = el("div", "nnq-chart");
      c.total = el("div", "nnq-total");
      c.actions = el("div", "nnq-actions");
      c.lock = el("button", "nnq-lock");
      c.reveal = el("button", "nnq-reveal");
      c.reset = el("button", "nnq-reset", "Reset");
      c.csv = el("button", "nnq-csv", "CSV");
      c.lock.addEventListener("click", function () { action(q.id, "lock", { locked: !c.state.locked }); });
      c.reveal.addEventListener("click", function () { action(q.id, "reveal", { revealed: !c.state.revealed }); });
      c.reset.addEventListener("click", function () {
        if (window.confirm("Delete every answer to '" + q.id + "'?")) { action(q.id, "reset"); }
      });
      c.csv.addEventListener("click", function () { download(q.id); });
      [c.lock, c.reveal, c.reset, c.csv].forEach(function (b) { b.type = "button"; c.actions.appendChild(b); });
      [c.meta, c.title, c.rows, c.total, c.actions].forEach(function (x) { c.root.appendChild(x); });
      main.appendChild(c.root);
      cards[q.id] = c;
    }
    c.state = q;
    c.title.textContent = q.question;
    c.qid.textContent = q.id;
    c.flags.textContent = [q.locked ? "locked" : "", q.revealed ? "revealed" : ""].filter(Boolean).join(", ");
    c.lock.textContent = q.locked ? "Unlock" : "Lock";
    c.reveal.textContent = q.revealed ? "Hide answer" : "Reveal answer";
    c.reveal.disabled = q.correct === null || q.correct === undefined;
    c.reveal.title = c.reveal.disabled ? "no correct answer stored (the students' copies carry none): " +
      "run this question's cell of the instructor's copy against this server" : "";
    var max = Math.max.apply(null, q.counts.concat([1]));
    while (c.rows.children.length > q.answers.length) { c.rows.lastChild.remove(); }
    q.answers.forEach(function (text, i) {
      var row = c.rows.children[i];
      if (!row) {
        row = el("div", "nnq-row");
        row.appendChild(el("span", "nnq-label"));
        var track = el("div", "nnq-track");
        track.appendChild(el("div", "nnq-bar"));
        row.appendChild(track);
        row.appendChild(el("span", "nnq-count"));
        c.rows.appendChild(row);
      }
      row.children[0].textContent = text;
      row.children[0].title = text;
      row.querySelector(".nnq-bar").style.width = (100 * q.counts[i] / max) + "%";
      row.children[2].textContent = String(q.counts[i]);
      row.classList.toggle("nnq-correct", q.correct === i);
    });
    c.total.textContent = q.total + (q.total === 1 ? " answer" : " answers");
  }

  function refresh() {
    return fetch(api, { headers: headers(), credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.json().then(function (j) { return [r, j]; }); })
      .then(function (rj) {
        var r = rj[0], j = rj[1];
        if (!r.ok) { setStatus(j.error || r.statusText, true); return; }
        var seen = {};
        j.questions.forEach(function (q) { seen[q.id] = true; card(q); });
        Object.keys(cards).forEach(function (id) {
          if (!seen[id]) { cards[id].root.remove(); delete cards[id]; }
        });
        setStatus(j.questions.length + (j.questions.length === 1 ? " question" : " questions") + " · updated " + new Date().toLocaleTimeString(), false);
      })
      .catch(function (e) { setStatus("server unreachable (" + e.message + "); retrying", true); });
  }

  function start(t) {
    token = t;
    document.getElementById("nnq-login").hidden = true;
    // check the token once with an instructor-only request
    fetch(api + "/export.csv", { headers: headers(), credentials: "same-origin" }).then(function (r) {
      if (r.status === 401 || r.status === 403) {
        sessionStorage.removeItem(KEY);
        setStatus("wrong instructor token", true);
        document.getElementById("nnq-login").hidden = false;
        return;
      }
      sessionStorage.setItem(KEY, t);
      refresh();
      if (timer === null) { timer = setInterval(function () { if (!document.hidden) { refresh(); } }, 1000); }
    }).catch(function (e) { setStatus("server unreachable (" + e.message + ")", true); });
  }

  document.getElementById("nnq-export-all").addEventListener("click", function (ev) {
    ev.preventDefault();
    download(null);
  });
  document.getElementById("nnq-login").addEventListener("submit", function (ev) {
    ev.preventDefault();
    start(document.getElementById("nnq-token").value.trim());
  });

  var m = window.location.hash.match(/token=([^&]+)/);
  if (m) {
    // keep the token out of the address bar (and of screen shares)
    history.replaceState(null, "", window.location.pathname + window.location.search);
    start(decodeURIComponent(m[1]));
  } else if (sessionStorage.getItem(KEY)) {
    start(sessionStorage.getItem(KEY));
  } else {
    setStatus("instructor token needed", false);
    document.getElementById("nnq-login").hidden = false;
  }
})();

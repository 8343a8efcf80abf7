// branchgw status page. Plain script, no framework, no network access
// beyond this gateway's own /api/v1. Every value goes in via textContent.
"use strict";
(function () {
  var csrf = "", es = null, last = null, histRev = -1, hist = null, logTimer = null;
  window.bgwUpdates = 0; // live updates received (the browser test reads it)

  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); return e; }
  function bytes(n) {
    if (!n) return "0 B";
    var u = ["B", "KB", "MB", "GB", "TB"], i = 0;
    while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
    return (i ? n.toFixed(n < 10 ? 1 : 0) : n) + " " + u[i];
  }
  function bps(n) { return n ? bytes(n / 8).replace("B", "B/s") : "–"; }
  function ms(v) { return v ? (v >= 1000 ? (v / 1000).toFixed(2) + " s" : v.toFixed(v < 10 ? 1 : 0) + " ms") : "–"; }
  function hhmm(t) {
    if (!t) return "";
    var d = new Date(t);
    if (isNaN(d) || d.getFullYear() < 2000) return "";
    return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }
  function ago(t) {
    if (!t) return "–";
    var s = (Date.now() - new Date(t)) / 1000;
    if (isNaN(s) || s < 0) return "–";
    if (s < 90) return Math.round(s) + " s ago";
    if (s < 5400) return Math.round(s / 60) + " min ago";
    if (s < 172800) return Math.round(s / 3600) + " h ago";
    return Math.round(s / 86400) + " d ago";
  }
  function row(tbody, cells, cls) {
    var tr = el("tr", cls);
    cells.forEach(function (c) {
      if (c instanceof Node) { var td = el("td"); td.appendChild(c); tr.appendChild(td); }
      else tr.appendChild(el("td", typeof c === "number" ? "num" : "", c));
    });
    tbody.appendChild(tr);
    return tr;
  }
  function kv(dl, pairs) {
    clear(dl);
    pairs.forEach(function (p) { dl.appendChild(el("dt", "", p[0])); dl.appendChild(el("dd", "", p[1])); });
  }
  function empty(tbody, n, text) { var tr = el("tr"); var td = el("td", "muted", text); td.colSpan = n; tr.appendChild(td); tbody.appendChild(tr); }
  function toast(text, bad) {
    var t = $("action-msg");
    t.textContent = text; t.hidden = false; t.className = "msg toast" + (bad ? " bad" : "");
    clearTimeout(toast.t); toast.t = setTimeout(function () { t.hidden = true; }, 6000);
  }

  // background: a refresh the page makes by itself, which must not keep an
  // idle session alive (the daemon ends it after 15 minutes without use).
  function api(method, path, body, background) {
    var opt = { method: method, credentials: "same-origin", headers: {} };
    if (background) { opt.headers["X-Bgw-Background"] = "1"; }
    if (method !== "GET") { opt.headers["X-CSRF-Token"] = csrf; opt.headers["Content-Type"] = "application/json"; opt.body = JSON.stringify(body || {}); }
    return fetch(path, opt).then(function (r) {
      if (r.status === 401 && path !== "/api/v1/login") { showLogin(); }
      var ct = r.headers.get("Content-Type") || "";
      if (ct.indexOf("application/json") < 0) return r.ok ? r : Promise.reject(new Error(r.status + " " + r.statusText));
      return r.json().then(function (j) { if (!r.ok) throw new Error(j.error || r.statusText); return j; });
    });
  }

  function showLogin(msg) {
    if (es) { es.close(); es = null; }
    $("app").hidden = true; $("login").hidden = false;
    $("verdict").textContent = "Log in to see the gateway's state"; $("verdict").className = "verdict";
    $("login-msg").textContent = msg || "";
    $("live").className = "live off"; $("live").textContent = "offline";
  }

  function start() {
    $("login").hidden = true; $("app").hidden = false;
    api("GET", "/api/v1/status").then(render).catch(function (e) { toast(e.message, true); });
    connect();
    loadLogs();
    clearInterval(logTimer); logTimer = setInterval(function () { loadLogs(true); }, 30000);
  }

  function connect() {
    if (es) es.close();
    es = new EventSource("/api/v1/stream");
    es.addEventListener("status", function (ev) {
      window.bgwUpdates++;
      $("live").className = "live"; $("live").textContent = "live";
      try { render(JSON.parse(ev.data)); } catch (e) { toast("bad update: " + e.message, true); }
    });
    es.addEventListener("logout", function () { showLogin("Session ended; log in again."); });
    es.onerror = function () { $("live").className = "live off"; $("live").textContent = "reconnecting"; };
  }

  function loadLogs(background) {
    api("GET", "/api/v1/logs?n=60", undefined, background).then(function (ls) {
      $("logs").textContent = ls.length ? ls.map(function (l) { return l.text; }).join("\n") : "(no log lines kept)";
    }).catch(function () {});
  }

  function render(s) {
    last = s;
    $("site").textContent = (s.site || "branchgw") + (s.gateway_id && s.gateway_id !== s.site ? " · " + s.gateway_id : "");
    var v = $("verdict"); v.textContent = s.verdict; v.className = "verdict " + s.level;
    $("updated").textContent = "updated " + new Date(s.time).toLocaleTimeString();
    renderOverview(s); renderWANs(s); renderPOS(s); renderTraffic(s); renderDevices(s); renderSystem(s);
    if (s.history_rev !== histRev) {
      histRev = s.history_rev;
      api("GET", "/api/v1/history").then(function (h) { hist = h; chart(); }).catch(function () {});
    }
  }

  function renderOverview(s) {
    var u = s.uplink, pairs = [["Site", s.site || "–"], ["Active WAN", (s.active_wan || "–").toUpperCase()]];
    if (u && u.enabled) pairs.push(["Head office", u.connected ? "connected " + ago(u.connected_since) : "not connected" + (u.last_error ? " (" + u.last_error + ")" : "")]);
    else pairs.push(["Head office", u ? "no broker configured" : "–"]);
    if (u) pairs.push(["Telemetry backlog", u.backlog_records + (u.backlog_records === 1 ? " record, " : " records, ") + bytes(u.backlog_bytes) + (u.replaying ? " (replaying)" : "")]);
    if (s.missing && s.missing.length) pairs.push(["Not reporting", s.missing.join(", ")]);
    kv($("ov"), pairs);
    var ul = clear($("alarms"));
    (s.alarms || []).forEach(function (a) {
      var li = el("li", a.severity);
      li.appendChild(el("strong", "", a.message));
      var d = el("span", "do"); d.appendChild(el("b", "", "What to do: ")); d.appendChild(document.createTextNode(a.what_to_do));
      li.appendChild(d); ul.appendChild(li);
    });
  }

  // WAN cards are built once per WAN and then updated in place, so a
  // button being pressed survives a live update (a tap on a phone landing
  // while the card was replaced would be lost).
  function wanCard(w) {
    var c = el("div", "card"), h = el("h4");
    c.dataset.wan = w.name;
    h.appendChild(el("span", "wan-title")); h.appendChild(el("span", "wan-badges")); c.appendChild(h);
    c.appendChild(el("dl", "kv"));
    var r = el("div", "act-row"), label = w.name.toUpperCase();
    [["small ghost test-wan", "Test "], ["small force-wan", "Force "], ["small ghost auto-wan", ""]].forEach(function (b) {
      var e = el("button", b[0], b[1] ? b[1] + label : "Automatic"); e.type = "button"; e.dataset.wan = w.name; r.appendChild(e);
    });
    c.appendChild(r);
    return c;
  }

  function renderWANs(s) {
    var box = $("wan-cards"), wans = s.wans || [], keep = {};
    wans.forEach(function (w) { keep[w.name] = true; });
    [].slice.call(box.children).forEach(function (c) { if (!c.dataset.wan || !keep[c.dataset.wan]) box.removeChild(c); });
    if (!wans.length) box.appendChild(el("p", "muted", "The WAN component is not reporting."));
    wans.forEach(function (w, i) {
      var c = [].filter.call(box.children, function (e) { return e.dataset.wan === w.name; })[0] || wanCard(w);
      if (box.children[i] !== c) box.insertBefore(c, box.children[i] || null);
      c.querySelector(".wan-title").textContent = w.name.toUpperCase() + (w.interface ? " (" + w.interface + ")" : "");
      var b = clear(c.querySelector(".wan-badges"));
      b.appendChild(el("span", "badge " + w.state, w.state));
      if (w.active) { b.appendChild(document.createTextNode(" ")); b.appendChild(el("span", "badge active", "active")); }
      kv(c.querySelector("dl"), [["RTT", ms(w.rtt_ms)], ["Loss", (w.loss_percent || 0).toFixed(0) + " %"], ["Since", hhmm(w.since) || "–"]].concat(w.reason ? [["Why", w.reason]] : []));
    });
    var tb = clear($("wan-events").tBodies[0]);
    (s.wan_events || []).slice(0, 20).forEach(function (e) { row(tb, [hhmm(e.time), e.wan, (e.from ? e.from + " → " : "") + e.to, e.reason]); });
    if (!tb.rows.length) empty(tb, 4, "No failover events.");
  }

  function renderPOS(s) {
    var tb = clear($("pos-table").tBodies[0]);
    (s.pos || []).forEach(function (t) {
      var st = el("span", "badge " + (t.degraded ? "bad" : "ok"), t.degraded ? "slow" : "ok");
      var tr = row(tb, [t.name, st, ms(t.tls_handshake_last_ms) + " (avg " + ms(t.tls_handshake_avg_ms) + ")",
        (100 * (t.retransmit_rate || 0)).toFixed(1) + " %", ago(t.last_success)]);
      if (t.degraded && t.reason) { tr.title = t.reason; }
    });
    if (!tb.rows.length) empty(tb, 5, s.missing && s.missing.indexOf("inspect") >= 0 ? "Inspection is not reporting." : "No terminals configured.");
  }

  function renderTraffic(s) {
    var tb = clear($("qos-table").tBodies[0]);
    (s.qos || []).forEach(function (q) { row(tb, [q.name + (q.direction === "up" ? " ↑" : " ↓"), bps(q.rate_bps), bytes(q.bytes), q.drops]); });
    if (!tb.rows.length) empty(tb, 4, "QoS is not reporting.");
    var sh = s.shaping;
    $("shaping").textContent = !sh ? "" : !sh.enabled ? "Shaping is off." : sh.active ?
      "Shaping on " + (sh.wan || "").toUpperCase() + ": ↑ " + bps(sh.up_bits) + ", ↓ " + bps(sh.down_bits) + " (" + sh.leaf + ")" :
      "Shaping is not installed" + (sh.error ? ": " + sh.error : ".");
    tb = clear($("apps-table").tBodies[0]);
    (s.apps || []).slice(0, 10).forEach(function (a) { row(tb, [a.name + (a.category ? " · " + a.category : ""), bytes(a.bytes), a.flows]); });
    if (!tb.rows.length) empty(tb, 3, "No app traffic seen yet.");
    tb = clear($("flows-table").tBodies[0]);
    ((s.flows && s.flows.top) || []).slice(0, 10).forEach(function (f) {
      row(tb, [f.client + (f.terminal ? " (" + f.terminal + ")" : ""), (f.name || f.server) + ":" + f.server_port, bytes(f.bytes)]);
    });
    if (!tb.rows.length) empty(tb, 3, "No active flows.");
  }

  function renderDevices(s) {
    var tb = clear($("dev-table").tBodies[0]);
    (s.devices || []).slice(0, 100).forEach(function (d) {
      var name = el("span", "", d.terminal || d.hostname || d.vendor || d.mac);
      var cell = el("span"); cell.appendChild(name);
      if (d.new) { cell.appendChild(document.createTextNode(" ")); cell.appendChild(el("span", "badge new", "new")); }
      if (d.unknown) { cell.appendChild(document.createTextNode(" ")); cell.appendChild(el("span", "badge unknown-dev", "unknown")); }
      if (name.textContent !== d.mac) cell.appendChild(el("div", "muted", d.mac + (d.vendor && d.vendor !== name.textContent ? " · " + d.vendor : "")));
      row(tb, [cell, (d.ips || []).join(" "), ago(d.last_seen), bytes(d.bytes)], d.new || d.unknown ? "hl" : "");
    });
    if (!tb.rows.length) empty(tb, 4, "No devices seen.");
  }

  function renderSystem(s) {
    var y = s.system || {}, st = s.store;
    var pairs = [["Version", s.version || "–"], ["Uptime", s.uptime || "–"], ["CPU", (y.cpu_percent || 0).toFixed(0) + " %, load " + (y.load1 || 0).toFixed(2)],
      ["Memory", bytes(y.mem_used) + " of " + bytes(y.mem_total)], ["Disk", y.disk_total ? bytes(y.disk_used) + " of " + bytes(y.disk_total) + " (" + y.disk_path + ")" : "–"]];
    if (st) pairs.push(["Store budget", bytes(st.bytes) + " of " + bytes(st.effective_budget || st.budget) + (st.evicted_records ? ", " + st.evicted_records + " evicted" : "") + (st.events_dropped ? ", " + st.events_dropped + " events dropped (queue full)" : "")]);
    if (s.firewall) pairs.push(["Firewall", s.firewall.error ? "error: " + s.firewall.error : s.firewall.in_sync ? "in sync" : "repairing"]);
    kv($("sys"), pairs);
    var tb = clear($("comp-table").tBodies[0]);
    (s.components || []).forEach(function (c) {
      var st = el("span"); st.appendChild(el("span", "badge " + c.state, c.state));
      if (c.last_error) st.appendChild(el("div", "muted", c.last_error));
      var b = el("button", "small ghost restart", "Restart"); b.type = "button"; b.dataset.comp = c.name;
      row(tb, [c.name, st, c.restarts, b]);
    });
  }

  function chart() {
    var box = clear($("chart"));
    if (!hist || !hist.wans) return;
    // The right edge is the newest sample, so a box whose clock differs
    // from the phone's still draws its last hour.
    var names = Object.keys(hist.wans), W = 600, H = 150, now = 0, maxR = 10;
    names.forEach(function (n) { hist.wans[n].forEach(function (p) { if (p[1] > maxR) maxR = p[1]; if (p[0] > now) now = p[0]; }); });
    var t0 = now - 3600;
    maxR = Math.ceil(maxR / 10) * 10;
    var NS = "http://www.w3.org/2000/svg", svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", "0 0 " + W + " " + (H + 14)); svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", "WAN round-trip time and loss over the last hour");
    function add(tag, attrs, text) { var e = document.createElementNS(NS, tag); for (var k in attrs) e.setAttribute(k, attrs[k]); if (text) e.textContent = text; svg.appendChild(e); return e; }
    for (var i = 0; i <= 4; i++) { var y = H * i / 4; add("line", { x1: 0, x2: W, y1: y, y2: y, "class": "grid" }); }
    add("text", { x: 2, y: 10 }, maxR + " ms"); add("text", { x: 2, y: H + 12 }, "-60 min"); add("text", { x: W - 28, y: H + 12 }, "now");
    var colors = ["#1f5f8b", "#b35c00", "#6a3d9a", "#2e7d32"];
    names.forEach(function (n, k) {
      var pts = hist.wans[n], d = "", gap = true, col = colors[k % colors.length];
      pts.forEach(function (p) {
        var x = (p[0] - t0) / 3600 * W; if (x < 0) return;
        if (p[2] > 0) add("rect", { x: x - 2, y: H - p[2] / 100 * H, width: 4, height: p[2] / 100 * H, fill: col, "class": "loss" });
        if (!p[3]) { gap = true; return; } // down: a gap in the line
        d += (gap ? " M" : " L");
        gap = false;
        d += "" + x.toFixed(1) + " " + (H - Math.min(p[1], maxR) / maxR * H).toFixed(1);
      });
      if (d) add("path", { d: d, stroke: col, "class": "rtt" });
      var lastP = pts[pts.length - 1];
      if (lastP && lastP[3]) add("circle", { cx: ((lastP[0] - t0) / 3600 * W).toFixed(1), cy: (H - Math.min(lastP[1], maxR) / maxR * H).toFixed(1), r: 3, fill: col });
      add("text", { x: W - 120 + 0, y: 12 + 12 * k, fill: col }, n.toUpperCase() + " RTT");
    });
    box.appendChild(svg);
    box.appendChild(el("div", "legend", "Lines: RTT; bars: loss %; gaps: WAN down. One point every " + hist.every_seconds + " s."));
  }

  function act(btn, method, path, body, done) {
    btn.disabled = true;
    return api(method, path, body).then(function (j) { toast(done(j)); })
      .catch(function (e) { toast(e.message, true); })
      .then(function () { btn.disabled = false; });
  }

  document.addEventListener("click", function (ev) {
    var b = ev.target.closest ? ev.target.closest("button") : null;
    if (!b) return;
    if (b.classList.contains("test-wan")) act(b, "POST", "/api/v1/wan/" + encodeURIComponent(b.dataset.wan) + "/test", {}, function (j) { return j.wan + ": " + j.result; });
    else if (b.classList.contains("force-wan")) {
      var m = parseInt($("force-min").value, 10);
      act(b, "POST", "/api/v1/wan/" + encodeURIComponent(b.dataset.wan) + "/force", { minutes: m }, function (j) { return "All traffic on " + j.wan + " for " + j.minutes + " min"; });
    } else if (b.classList.contains("auto-wan")) act(b, "POST", "/api/v1/wan/" + encodeURIComponent(b.dataset.wan) + "/force", { minutes: 0 }, function () { return "WAN choice is automatic again"; });
    else if (b.classList.contains("restart")) act(b, "POST", "/api/v1/components/" + encodeURIComponent(b.dataset.comp) + "/restart", {}, function (j) { return "Restarted " + j.restarted; });
  });

  function diag() {
    var b = $("diag"), cap = $("diag-cap").checked ? 30 : 0;
    b.disabled = true; toast(cap ? "Making the bundle (30 s capture)…" : "Making the bundle…");
    fetch("/api/v1/diagnostics", { method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrf, "Content-Type": "application/json" }, body: JSON.stringify({ capture_seconds: cap }) })
      .then(function (r) {
        if (!r.ok) return r.json().then(function (j) { throw new Error(j.error); });
        var name = (r.headers.get("Content-Disposition") || "").replace(/.*filename="([^"]+)".*/, "$1") || "diagnostics.tar.gz";
        return r.blob().then(function (bl) {
          var a = el("a"); a.href = URL.createObjectURL(bl); a.download = name; document.body.appendChild(a); a.click();
          setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
          toast("Downloaded " + name + " (" + bytes(bl.size) + ")");
        });
      }).catch(function (e) { toast(e.message, true); }).then(function () { b.disabled = false; });
  }

  document.addEventListener("DOMContentLoaded", function () {
    $("login-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var msg = $("login-msg"); msg.textContent = "Checking…";
      api("POST", "/api/v1/login", { password: $("password").value }).then(function (j) {
        csrf = j.csrf; $("password").value = ""; msg.textContent = ""; start();
      }).catch(function (e) { msg.textContent = e.message; });
    });
    $("diag").addEventListener("click", diag);
    $("reboot").addEventListener("click", function () {
      if (!confirm("Reboot the gateway? The store is offline for a minute or two.")) return;
      act($("reboot"), "POST", "/api/v1/reboot", { confirm: true }, function () { return "Rebooting…"; });
    });
    $("logout").addEventListener("click", function () { api("POST", "/api/v1/logout", {}).then(function () { showLogin(); }); });
    api("GET", "/api/v1/session").then(function (j) {
      if (j.logged_in) { csrf = j.csrf || ""; start(); }
      else showLogin(j.password_set === false ? "No technician password is set on this gateway." : "");
    }).catch(function (e) { showLogin(e.message); });
  });
})();

/* bluegreen dashboard: what every page shares (docs/dashboard.md).
 *
 * - BG.el(): builds DOM nodes. Every string from the daemon (config, events, hook output,
 *   target responses) goes into the page as a text node or an attribute value, never as
 *   markup: nothing here or in the pages assigns innerHTML/outerHTML or calls
 *   insertAdjacentHTML/document.write.
 * - BG.api(): the admin API (/v1) on the same origin with the session cookie; mutating
 *   requests carry the CSRF token. A 401 shows the sign-in notice and no data.
 * - BG.live(): one EventSource on /v1/events/stream for the page; it reconnects by itself
 *   (with Last-Event-ID) and the header's indicator says when it is disconnected.
 * No framework, no build step; loaded with `defer` from the page (the CSP allows no inline
 * script or style).
 */
'use strict';

(function () {
  const BG = {};
  window.BG = BG;

  /* ---- DOM ---------------------------------------------------------------------------- */

  /* el('tr', {class: 'x', dataset: {id: 3}}, 'text', node, [more]): attribute values and
   * text children are set as data, never parsed as HTML. */
  BG.el = function (tag, attrs, ...children) {
    const e = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === 'class') e.className = v;
        else if (k === 'text') e.textContent = String(v);
        else if (k === 'dataset') Object.assign(e.dataset, v);
        else if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
        else if (v === true) e.setAttribute(k, '');
        else e.setAttribute(k, String(v));
      }
    }
    BG.append(e, children);
    return e;
  };

  BG.append = function (parent, children) {
    for (const c of children.flat(Infinity)) {
      if (c === undefined || c === null || c === false) continue;
      parent.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return parent;
  };

  /* Replaces the children of node (by id or node) with children. */
  BG.fill = function (node, ...children) {
    const n = typeof node === 'string' ? document.getElementById(node) : node;
    n.replaceChildren();
    BG.append(n, children);
    return n;
  };

  BG.$ = (id) => document.getElementById(id);

  BG.param = function (name) {
    return new URLSearchParams(window.location.search).get(name);
  };

  /* ---- formatting --------------------------------------------------------------------- */

  BG.fmtTime = function (iso) {
    if (!iso) return '–';
    const d = new Date(iso);
    if (isNaN(d)) return String(iso);
    return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  };

  BG.fmtClock = function (iso) {
    const d = new Date(iso);
    if (isNaN(d)) return String(iso || '');
    return d.toISOString().slice(11, 23);
  };

  BG.fmtDuration = function (ms) {
    if (ms === null || ms === undefined || !isFinite(ms)) return '–';
    if (ms < 1000) return Math.round(ms) + ' ms';
    const s = ms / 1000;
    if (s < 60) return (s < 10 ? s.toFixed(1) : Math.floor(s)) + ' s';
    const m = Math.floor(s / 60);
    const rs = Math.floor(s - m * 60);
    if (m < 60) return m + ' min ' + rs + ' s';
    return Math.floor(m / 60) + ' h ' + (m % 60) + ' min';
  };

  BG.fmtNum = function (v, digits) {
    if (v === null || v === undefined || !isFinite(v)) return '–';
    return Number(v).toFixed(digits === undefined ? 1 : digits);
  };

  BG.fmtPct = (v) => (v === null || v === undefined || !isFinite(v) ? '–' : BG.fmtNum(v, v < 10 ? 1 : 0) + ' %');

  BG.fmtMs = function (v) {
    if (v === null || v === undefined || !isFinite(v)) return '–';
    return v < 10 ? v.toFixed(2) + ' ms' : Math.round(v) + ' ms';
  };

  /* A slot name with its colour swatch and the name as text (readable without colour). */
  BG.slotBadge = function (slot, extra) {
    return BG.el('span', { class: 'slot slot-' + (slot === 'green' ? 'green' : 'blue') },
      BG.el('span', { class: 'swatch', 'aria-hidden': 'true' }), slot + (extra ? ' ' + extra : ''));
  };

  /* A state word in a labelled box: the word carries the meaning, the colour only helps. */
  BG.state = function (word, kind) {
    return BG.el('span', { class: 'state state-' + (kind || 'neutral') }, word);
  };

  BG.resultKind = function (result) {
    switch (result) {
      case 'SUCCEEDED': return 'ok';
      case 'ROLLED_BACK': case 'FAILED': case 'REFUSED': return 'bad';
      case 'ABORTED': return 'warn';
      case '': case undefined: case null: return 'run';
      default: return 'neutral';
    }
  };

  /* The traffic split bar: one segment per slot with weight > 0, each labelled in text. */
  BG.splitBar = function (traffic, liveSlot) {
    const blue = Number(traffic && traffic.blue) || 0;
    const green = Number(traffic && traffic.green) || 0;
    const bar = BG.el('div', {
      class: 'split', role: 'img',
      'aria-label': 'traffic split: blue ' + blue + '%, green ' + green + '%',
      dataset: { blue: blue, green: green },
    });
    for (const [slot, w] of [['blue', blue], ['green', green]]) {
      if (w <= 0) continue;
      const seg = BG.el('div', { class: 'seg seg-' + slot + (slot === liveSlot ? ' seg-live' : '') },
        BG.el('span', { class: 'seg-label' }, slot + ' ' + w + '%'));
      seg.style.width = w + '%'; /* CSSOM: allowed by style-src 'self' */
      bar.appendChild(seg);
    }
    return bar;
  };

  /* One event as a list item: time, service, kind, message (as text), actor. */
  BG.eventItem = function (e) {
    const msg = e.message || '';
    const bad = /^(deploy\.rollback|target\.lost|target\.exited|deploy\.keep_failed)$/.test(e.kind) ||
      (e.kind === 'deploy.result' && !/^SUCCEEDED/.test(msg)) || (e.kind === 'health' && / unhealthy/.test(msg));
    return BG.el('li', { class: 'event' + (bad ? ' event-bad' : ''), dataset: { id: e.id, kind: e.kind } },
      BG.el('time', { datetime: e.ts }, BG.fmtTime(e.ts)), ' ',
      BG.el('span', { class: 'ev-service' }, e.service || '–'), ' ',
      BG.el('span', { class: 'ev-kind' }, e.kind), ' ',
      BG.el('span', { class: 'ev-msg' }, e.message || ''),
      e.actor ? BG.el('span', { class: 'ev-actor' }, ' by ' + e.actor) : null);
  };

  /* The evidence of an automatic rollback: each failing target's last health answer and
   * log tail, as text. */
  BG.evidenceView = function (ev) {
    const targets = (ev && ev.targets) || [];
    return BG.el('div', { class: 'evidence' },
      BG.el('h3', null, 'Evidence (' + targets.length + ' target' + (targets.length === 1 ? '' : 's') + ')'),
      targets.map((t) => {
        const h = t.health || {};
        return BG.el('div', { class: 'evidence-target' },
          BG.el('p', null, BG.el('code', null, t.address || '?'), ' ',
            BG.state(t.healthy ? 'HEALTHY' : 'UNHEALTHY', t.healthy ? 'ok' : 'bad'),
            h.reason ? ' · ' + h.reason : '', h.last_status ? ' · HTTP ' + h.last_status : '',
            h.consecutive_fail ? ' · ' + h.consecutive_fail + ' failed checks' : '',
            h.checks ? ' · ' + h.checks + ' checks' : ''),
          h.last_body ? [BG.el('p', { class: 'label' }, 'last health response'), BG.el('pre', { class: 'body' }, h.last_body)] : null,
          t.log_tail ? [BG.el('p', { class: 'label' }, 'log tail'), BG.el('pre', { class: 'log' }, t.log_tail)] : null);
      }));
  };

  /* The services' names for a filter <select> (id `svc`), the current one from ?service=. */
  BG.fillServiceSelect = async function (onChange) {
    const sel = BG.$('svc');
    const j = await BG.get('/v1/services');
    const want = BG.param('service') || '';
    for (const s of j.services || []) sel.appendChild(BG.el('option', { value: s.name, selected: s.name === want }, s.name));
    sel.value = want;
    sel.addEventListener('change', () => {
      const u = new URL(window.location.href);
      if (sel.value) u.searchParams.set('service', sel.value); else u.searchParams.delete('service');
      window.history.replaceState(null, '', u);
      onChange(sel.value);
    });
    return j.services || [];
  };

  /* ---- admin API ---------------------------------------------------------------------- */

  class ApiError extends Error {
    constructor(status, body) {
      const err = body && body.error ? body.error : {};
      super(err.message || ('HTTP ' + status));
      this.status = status;
      this.code = err.code || '';
      this.body = body;
      this.error = err;
    }
  }
  BG.ApiError = ApiError;

  let csrfToken = null;

  /* The CSRF token of this session (docs/internals/dashboard.md "Authentication"): read
   * once from GET /dashboard/session and sent as X-CSRF-Token on every mutating request. */
  async function csrf() {
    if (csrfToken) return csrfToken;
    const r = await fetch(BG.SESSION_PATH, { credentials: 'same-origin', cache: 'no-store' });
    if (r.status === 401) { BG.signedOut(); throw new ApiError(401, null); }
    if (!r.ok) throw new ApiError(r.status, null);
    const j = await r.json();
    csrfToken = j.csrf_token || null;
    BG.session = j;
    return csrfToken;
  }
  BG.SESSION_PATH = '/dashboard/session';
  BG.CSRF_HEADER = 'X-CSRF-Token';

  BG.api = async function (method, path, body) {
    const headers = { Accept: 'application/json' };
    const opts = { method, credentials: 'same-origin', cache: 'no-store', headers };
    if (method !== 'GET' && method !== 'HEAD') {
      headers[BG.CSRF_HEADER] = (await csrf()) || '';
      headers['X-Bluegreen-Actor'] = 'dashboard';
      if (body !== undefined) {
        headers['Content-Type'] = 'application/json';
        opts.body = JSON.stringify(body);
      }
    }
    let r;
    try {
      r = await fetch(path, opts);
    } catch (e) {
      throw new ApiError(0, { error: { code: 'unreachable', message: 'the daemon is unreachable' } });
    }
    let j = null;
    const text = await r.text();
    if (text) {
      try { j = JSON.parse(text); } catch (e) { j = null; }
    }
    if (r.status === 401) BG.signedOut();
    if (r.status === 403 && method !== 'GET') csrfToken = null; /* a new session: read it again */
    if (!r.ok) throw new ApiError(r.status, j);
    return j;
  };

  BG.get = (path) => BG.api('GET', path);

  BG.enc = encodeURIComponent;

  /* ---- page state: signed out, errors, connection ------------------------------------- */

  let signedOut = false;

  /* No valid session: every data region is emptied, actions disabled, and the page says
   * how to sign in. */
  BG.signedOut = function () {
    if (signedOut) return;
    signedOut = true;
    document.body.classList.add('signed-out');
    for (const n of document.querySelectorAll('[data-region]')) n.replaceChildren();
    for (const b of document.querySelectorAll('button.action')) b.disabled = true;
    BG.notice('Signed out: this page shows no data and takes no action without a valid session. ',
      'Open a new login URL: the one `bluegreen dashboard` prints, or ',
      BG.el('code', null, '/dashboard/login?token=ADMIN_TOKEN'), ' on the daemon\'s admin listener.');
    setConn('off', 'signed out');
    if (stream) { stream.close(); stream = null; }
  };
  BG.isSignedOut = () => signedOut;

  BG.notice = function (...parts) {
    const n = BG.$('notice');
    if (!n) return;
    BG.fill(n, ...parts);
    n.hidden = false;
  };

  BG.clearNotice = function () {
    const n = BG.$('notice');
    if (n && !signedOut) { n.hidden = true; n.replaceChildren(); }
  };

  BG.showError = function (what, e) {
    if (e && e.status === 401) return; /* signedOut() said it */
    BG.notice(what + ': ' + (e && e.message ? e.message : String(e)));
  };

  function setConn(kind, text) {
    const c = BG.$('conn');
    if (!c) return;
    c.className = 'conn conn-' + kind;
    c.textContent = text;
    document.body.dataset.live = kind;
  }
  BG.setConn = setConn;

  /* ---- live events (Server-Sent Events) ----------------------------------------------- */

  BG.EVENT_KINDS = ['boot', 'deploy.start', 'deploy.phase', 'deploy.paused', 'deploy.manual',
    'deploy.rollback', 'deploy.result', 'deploy.cleanup', 'deploy.keep_failed', 'traffic',
    'health', 'target.started', 'target.adopted', 'target.lost', 'target.exited',
    'target.replaced', 'release.start', 'release.result', 'shutdown', 'gate', 'message'];

  let stream = null;
  let lastId = null;
  const handlers = { event: [], stats: [], open: [] };
  let retryMs = 1000;
  let retryTimer = null;

  /* BG.live({event(e), stats(s), open()}, service): subscribes the page to the daemon's
   * stream (docs/internals/dashboard.md "Live data"), of one service when given.
   * `open` runs on every (re)connection: pages reload their state there, so nothing is
   * missed while disconnected. */
  let streamService = null;
  BG.live = function (h, service) {
    if (service) streamService = service;
    for (const k of Object.keys(handlers)) if (h[k]) handlers[k].push(h[k]);
    if (!stream && !retryTimer) connect();
  };

  BG.STREAM_PATH = '/v1/events/stream?stats=1';
  BG.STATS_EVENT = 'stats';

  function dispatch(kind, m) {
    if (m.lastEventId) lastId = m.lastEventId;
    let data;
    try { data = JSON.parse(m.data); } catch (e) { return; }
    if (kind === BG.STATS_EVENT) {
      for (const f of handlers.stats) f(data);
      return;
    }
    for (const f of handlers.event) f(data);
  }

  function connect() {
    retryTimer = null;
    if (signedOut) return;
    let url = BG.STREAM_PATH;
    if (streamService) url += '&service=' + BG.enc(streamService);
    if (lastId !== null) url += (url.includes('?') ? '&' : '?') + 'after=' + BG.enc(lastId);
    const es = new EventSource(url, { withCredentials: true });
    stream = es;
    setConn('wait', 'connecting…');
    es.onopen = function () {
      retryMs = 1000;
      setConn('on', 'live');
      for (const f of handlers.open) f();
    };
    for (const k of BG.EVENT_KINDS) es.addEventListener(k, (m) => dispatch(k, m));
    es.addEventListener(BG.STATS_EVENT, (m) => dispatch(BG.STATS_EVENT, m));
    es.onerror = function () {
      if (stream !== es) return;
      setConn('off', 'disconnected — reconnecting');
      /* EventSource retries by itself after a network error; after an HTTP error it
       * closes for good, so retry here, with backoff, after checking the session. */
      if (es.readyState === EventSource.CLOSED) {
        stream = null;
        es.close();
        BG.get('/v1/health').catch(() => {}).finally(() => {
          if (signedOut) return;
          retryTimer = setTimeout(connect, retryMs);
          retryMs = Math.min(retryMs * 2, 10000);
        });
      }
    };
  }

  /* Coalesces bursts (an event per target per check) into one reload per `ms`. */
  BG.debounce = function (f, ms) {
    let t = null;
    return function () {
      if (t) return;
      t = setTimeout(() => { t = null; f(); }, ms);
    };
  };

  /* ---- per-slot statistics ------------------------------------------------------------ */

  /* Samples per "service/slot": [{t (s), rps, err_pct, p99_ms, version}], last WINDOW_S. */
  BG.WINDOW_S = 300;
  const series = new Map();

  BG.addSample = function (service, slot, s) {
    const key = service + '/' + slot;
    let a = series.get(key);
    if (!a) { a = []; series.set(key, a); }
    if (a.length && a[a.length - 1].t >= s.t) return; /* already have it (history + stream) */
    a.push(s);
    const cut = s.t - BG.WINDOW_S;
    while (a.length && a[0].t < cut) a.shift();
  };
  BG.samples = (service, slot) => series.get(service + '/' + slot) || [];

  /* A `stats` event (docs/internals/dashboard.md "Live data"): the last interval's figures
   * of every slot of every service. */
  BG.ingestStats = function (data) {
    const t = Number(data.t) || Date.now() / 1000;
    for (const [svc, slots] of Object.entries(data.services || {})) {
      for (const slot of ['blue', 'green']) {
        const v = slots[slot];
        if (!v) continue;
        BG.addSample(svc, slot, {
          t, rps: num(v.rps), err_pct: num(v.error_pct), p99_ms: num(v.p99_ms),
          p99_over: !!v.p99_over_10s, version: v.version || null, weight: v.weight,
          healthy: v.targets ? v.targets.healthy : null, total: v.targets ? v.targets.total : null,
        });
      }
    }
  };

  /* The last minutes from GET /v1/stats (columnar), before the stream's samples. */
  BG.loadStatsHistory = async function () {
    const j = await BG.get('/v1/stats');
    const ts = j.t || [];
    for (const [svc, slots] of Object.entries(j.services || {})) {
      for (const slot of ['blue', 'green']) {
        const v = slots[slot];
        if (!v) continue;
        series.delete(svc + '/' + slot);
        ts.forEach((t, i) => BG.addSample(svc, slot, {
          t, rps: num(v.rps && v.rps[i]), err_pct: num(v.error_pct && v.error_pct[i]),
          p99_ms: num(v.p99_ms && v.p99_ms[i]), version: v.versions ? v.versions[i] : v.version,
        }));
      }
    }
    BG.statsCapacityS = j.capacity && j.interval_ms ? (j.capacity * j.interval_ms) / 1000 : BG.WINDOW_S;
  };

  function num(v) {
    return v === null || v === undefined || !isFinite(Number(v)) ? null : Number(v);
  }

  /* ---- sparklines (uPlot) ------------------------------------------------------------- */

  const SLOT_STROKE = { blue: '#1f6feb', green: '#1a7f37' };

  /* A small chart of `field` for both slots of `service` over the last minutes. Blue is a
   * solid line, green a dashed one, and the legend names them, so colour is not needed. */
  BG.sparkline = function (container, service, field, label) {
    const width = () => Math.max(120, Math.min(container.clientWidth || 260, 560));
    const opts = {
      width: width(), height: 70,
      cursor: { show: false }, legend: { show: false }, select: { show: false },
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(max || 0, 1) * 1.1] } },
      axes: [{ show: false }, { show: true, size: 44, font: '10px sans-serif', ticks: { show: false },
        grid: { stroke: '#e5e7eb' }, values: (u, vals) => vals.map((v) => fmtTick(v)) }],
      series: [{}, { label: 'blue', stroke: SLOT_STROKE.blue, width: 2 },
        { label: 'green', stroke: SLOT_STROKE.green, width: 2, dash: [5, 3] }],
    };
    const u = new window.uPlot(opts, build(), container);
    container.setAttribute('role', 'img');
    function fmtTick(v) {
      return Math.abs(v) >= 100 ? Math.round(v) : Number(v.toFixed(1));
    }
    function build() {
      const b = BG.samples(service, 'blue');
      const g = BG.samples(service, 'green');
      const ts = Array.from(new Set(b.map((s) => s.t).concat(g.map((s) => s.t)))).sort((x, y) => x - y);
      const bi = new Map(b.map((s) => [s.t, s[field]]));
      const gi = new Map(g.map((s) => [s.t, s[field]]));
      return [ts, ts.map((t) => (bi.has(t) ? bi.get(t) : null)), ts.map((t) => (gi.has(t) ? gi.get(t) : null))];
    }
    return {
      update() {
        const d = build();
        u.setData(d);
        const last = (i) => { for (let k = d[i].length - 1; k >= 0; k--) if (d[i][k] !== null) return d[i][k]; return null; };
        container.setAttribute('aria-label', label + ' over the last ' + BG.WINDOW_S / 60 +
          ' minutes: blue ' + fmtAny(last(1)) + ', green ' + fmtAny(last(2)));
      },
      resize() { u.setSize({ width: width(), height: 70 }); },
      destroy() { u.destroy(); },
    };
    function fmtAny(v) { return v === null ? 'no data' : Number(v).toFixed(2); }
  };

  /* ---- confirm dialog ------------------------------------------------------------------ */

  /* Asks with a <dialog>: title, the sentences saying what will happen, and the button's
   * word. Resolves true when confirmed. */
  BG.confirm = function (title, lines, okWord) {
    return new Promise((resolve) => {
      const ok = BG.el('button', { type: 'button', class: 'btn btn-danger', value: 'ok' }, okWord);
      const cancel = BG.el('button', { type: 'button', class: 'btn', value: 'cancel' }, 'Cancel');
      const d = BG.el('dialog', { class: 'confirm', 'aria-labelledby': 'confirm-title' },
        BG.el('h2', { id: 'confirm-title' }, title),
        lines.map((l) => BG.el('p', null, l)),
        BG.el('div', { class: 'dialog-buttons' }, cancel, ok));
      const done = (v) => { d.close(); d.remove(); resolve(v); };
      ok.addEventListener('click', () => done(true));
      cancel.addEventListener('click', () => done(false));
      d.addEventListener('cancel', (e) => { e.preventDefault(); done(false); });
      document.body.appendChild(d);
      d.showModal();
      cancel.focus();
    });
  };

  /* Marks the nav link of this page; adds the sign-out button. */
  document.addEventListener('DOMContentLoaded', () => {
    const top = document.querySelector('header.top');
    if (top) {
      const out = BG.el('button', { type: 'button', class: 'btn signout', id: 'signout' }, 'Sign out');
      out.addEventListener('click', async () => {
        try { await BG.api('POST', '/dashboard/logout'); } catch (e) { /* signed out anyway */ }
        BG.signedOut();
      });
      top.appendChild(out);
    }
    const page = document.body.dataset.page;
    for (const a of document.querySelectorAll('nav a[data-nav]')) {
      if (a.dataset.nav === page) a.setAttribute('aria-current', 'page');
    }
  });
})();

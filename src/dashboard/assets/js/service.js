/* Service page (service.html?name=NAME; docs/dashboard.md "Service"): the split, the
 * running (or last) deployment as a phase timeline with its steps, weights, wait countdown
 * and gate verdicts, the actions (each behind a confirm that says what will happen), the
 * targets with their health and Actuator components, and the service's recent events. */
'use strict';

(function () {
  const { el, fill } = BG;
  const name = BG.param('name') || '';
  const PHASES = ['PRE_SCALE_UP', 'SCALE_UP', 'POST_SCALE_UP', 'TEST_TRAFFIC',
    'PRODUCTION_TRAFFIC_SHIFT', 'BAKE', 'CLEAN_UP'];
  let svc = null;
  let dep = null; /* the latest deployment, shown */
  let target = null; /* the one the actions act on: running, or still able to roll back */
  let waitEnd = null; /* epoch ms the current wait ends, when the daemon says */
  let busy = false;
  const recent = [];
  let lastEventId = 0;

  const other = (slot) => (slot === 'green' ? 'blue' : 'green');
  const slotVersion = (slot) => {
    const s = svc && svc.slots ? svc.slots[slot] : null;
    return s && s.version ? s.version + ', revision ' + s.revision : 'empty';
  };

  async function load() {
    if (!name) { BG.notice('No service named: open this page from the overview.'); return; }
    try {
      const [s, d] = await Promise.all([
        BG.get('/v1/services/' + BG.enc(name)),
        BG.get('/v1/services/' + BG.enc(name) + '/deployments?limit=10'),
      ]);
      svc = s;
      const list = d.deployments || [];
      dep = list[0] || null;
      target = list.find((x) => x.result === '' || (x.rollback_available && x.result !== 'REFUSED')) || null;
      BG.clearNotice();
      render();
    } catch (e) {
      BG.showError('Could not load service ' + name, e);
    }
  }
  const reload = BG.debounce(load, 200);

  async function loadEvents() {
    try {
      const j = await BG.get('/v1/events?service=' + BG.enc(name) + '&limit=1000');
      recent.length = 0;
      for (const e of (j.events || []).slice(-40)) recent.push(e);
      if (recent.length) lastEventId = recent[recent.length - 1].id;
      renderEvents();
    } catch (e) {
      BG.showError('Could not load the events', e);
    }
  }

  /* ---- rendering ---------------------------------------------------------------------- */

  function render() {
    if (BG.isSignedOut()) return;
    document.title = 'bluegreen · ' + svc.name;
    fill('title', 'Service ', el('span', { class: 'svc-name' }, svc.name));
    fill('summary-body',
      el('p', { class: 'live-line' }, el('span', { class: 'label' }, 'live '), BG.slotBadge(svc.live_slot),
        ' ', el('strong', { class: 'live-version' }, slotVersion(svc.live_slot))),
      el('p', { class: 'preview-line' }, el('span', { class: 'label' }, 'preview '),
        svc.preview_slot ? [BG.slotBadge(svc.preview_slot), ' ', el('strong', null, slotVersion(svc.preview_slot))]
          : 'none'),
      BG.splitBar(svc.traffic, svc.live_slot),
      svc.last_switch ? el('p', { class: 'hint' }, 'last verified switch ' + BG.fmtTime(svc.last_switch.at) +
        ' in ' + BG.fmtMs(svc.last_switch.switch_ms)) : null);
    renderDeployment();
    renderTargets();
    renderActions();
    document.body.dataset.loaded = 'true';
  }

  function phaseState(entered, p, current, ended) {
    if (!entered.has(p)) return ended ? 'skipped' : 'pending';
    if (p === current && !ended) return 'current';
    return 'done';
  }

  function renderDeployment() {
    const box = BG.$('deployment-body');
    computeWaitEnd();
    if (!dep) { fill(box, el('p', { class: 'empty' }, 'No deployment yet.')); return; }
    const running = dep.result === '';
    const entered = new Map((dep.phases || []).map((p) => [p.phase, p]));
    const kind = BG.resultKind(dep.result);
    const head = el('p', { class: 'dep-head' },
      el('strong', null, 'Deployment ' + dep.id), ': ', dep.version || '', ' into ', BG.slotBadge(dep.slot),
      ' (revision ' + dep.from_revision + ' → ' + dep.to_revision + '), ',
      BG.state(running ? (dep.paused ? 'PAUSED' : 'RUNNING') : dep.result, running ? (dep.paused ? 'warn' : 'run') : kind),
      ' ', el('span', { class: 'phase-now' }, 'phase ' + dep.phase));
    const meta = el('p', { class: 'hint' }, 'strategy ', el('code', null, dep.strategy || '–'),
      ' · started ' + BG.fmtTime(dep.started) + ' by ', el('span', null, dep.actor || '?'),
      dep.labels && dep.labels['git.sha'] ? [' · git.sha ', el('code', null, dep.labels['git.sha'])] : null);

    const timeline = el('ol', { class: 'timeline', 'aria-label': 'phases' });
    const ended = !running;
    for (const p of PHASES) {
      const st = phaseState(entered, p, dep.phase, ended);
      const e = entered.get(p);
      timeline.appendChild(el('li', { class: 'ph ph-' + st, dataset: { phase: p, state: st } },
        el('span', { class: 'ph-name' }, p),
        el('span', { class: 'ph-state' }, st === 'current' ? 'now' : st),
        e ? el('span', { class: 'ph-at' }, BG.fmtClock(e.at)) : null));
    }
    if (entered.has('ROLLBACK')) {
      timeline.appendChild(el('li', { class: 'ph ph-' + (dep.phase === 'ROLLBACK' && running ? 'current' : 'done') + ' ph-rollback', dataset: { phase: 'ROLLBACK' } },
        el('span', { class: 'ph-name' }, 'ROLLBACK'), el('span', { class: 'ph-at' }, BG.fmtClock(entered.get('ROLLBACK').at))));
    }
    timeline.appendChild(el('li', { class: 'ph ph-result ph-' + (running ? 'pending' : 'done'), dataset: { phase: 'RESULT', state: running ? 'pending' : dep.result } },
      el('span', { class: 'ph-name' }, 'result'), running ? el('span', { class: 'ph-state' }, 'pending') : BG.state(dep.result, kind)));

    const parts = [head, meta, timeline];
    if (dep.reason) parts.push(el('p', { class: 'reason' }, el('span', { class: 'label' }, 'reason '), dep.reason));
    parts.push(stepsView());
    parts.push(gateView());
    if (dep.evidence && dep.evidence.targets && dep.evidence.targets.length) parts.push(BG.evidenceView(dep.evidence));
    fill(box, ...parts);
    tick();
  }

  function stepsView() {
    if (dep.result === 'REFUSED') return el('p', { class: 'step-line' }, 'Nothing started: refused before scale-up.');
    const n = dep.steps || 0;
    const cur = Math.min(dep.step || 0, n);
    const box = el('div', { class: 'steps' });
    const tr = dep.traffic || {};
    box.appendChild(el('p', { class: 'step-line' },
      el('span', { class: 'label' }, 'step '), el('strong', { class: 'step-now' }, n ? (cur + 1) + ' of ' + n : '–'),
      ' · weights ', el('span', { class: 'weights' }, 'blue ' + (tr.blue || 0) + '% / green ' + (tr.green || 0) + '%'),
      dep.result === '' ? [' · ', el('span', { id: 'countdown', class: 'countdown' })] : null));
    if (Array.isArray(dep.plan) && dep.plan.length) {
      const ol = el('ol', { class: 'plan', 'aria-label': 'steps' });
      dep.plan.forEach((s, i) => {
        const st = dep.result !== '' ? (i <= cur ? 'done' : 'skipped') : i < cur ? 'done' : i === cur ? 'current' : 'pending';
        ol.appendChild(el('li', { class: 'ph-' + st, dataset: { state: st } },
          (s.pause ? 'pause (waits for promote)' : dep.slot + ' ' + s.percent + '%') +
          (s.wait_ms ? ', wait ' + BG.fmtDuration(s.wait_ms) : '') + ' — ' + (st === 'current' ? 'now' : st)));
      });
      box.appendChild(ol);
    }
    const sw = dep.switches || [];
    if (sw.length) {
      const tbl = el('table', { class: 'switches' },
        el('caption', null, 'Traffic switches'),
        el('thead', null, el('tr', null, el('th', { scope: 'col' }, 'at'), el('th', { scope: 'col' }, 'blue'),
          el('th', { scope: 'col' }, 'green'), el('th', { scope: 'col' }, 'verified in'))),
        el('tbody', null, sw.map((s) => el('tr', null, el('td', null, BG.fmtClock(s.at)),
          el('td', null, s.traffic.blue + '%'), el('td', null, s.traffic.green + '%'),
          el('td', null, s.switch_ms < 0 ? 'not confirmed' : BG.fmtMs(s.switch_ms))))));
      box.appendChild(tbl);
    }
    return box;
  }

  function gateView() {
    const g = dep.gate;
    if (!g) return el('p', { class: 'gate' }, el('span', { class: 'label' }, 'gate '), 'not run yet');
    if (g.ok) return el('p', { class: 'gate' }, el('span', { class: 'label' }, 'gate before scale-up '), BG.state('PASSED', 'ok'));
    return el('div', { class: 'gate' }, el('p', null, el('span', { class: 'label' }, 'gate before scale-up '), BG.state('REFUSED', 'bad')),
      el('ul', { class: 'broken-list' }, (g.broken || []).map((b) => el('li', null, BG.state('BROKEN', 'bad'), ' ', b.message || JSON.stringify(b)))));
  }

  /* The countdown of the current wait (a step's wait or the bake), from the daemon's
   * wait end when it sends one; otherwise it says what is awaited. */
  function computeWaitEnd() {
    waitEnd = null;
    if (!dep || dep.result !== '' || dep.paused) return;
    if (dep.wait_until) {
      waitEnd = Date.parse(dep.wait_until);
      return;
    }
    /* Read between a switch and the start of its wait (the step's check hooks run first):
     * count from the switch, or from entering the bake. */
    const sw = dep.switches || [];
    const step = Array.isArray(dep.plan) ? dep.plan[dep.step || 0] : null;
    if (dep.phase === 'PRODUCTION_TRAFFIC_SHIFT' && step && !step.pause && sw.length) {
      waitEnd = Date.parse(sw[sw.length - 1].at) + Number(step.wait_ms || 0);
    } else if (dep.phase === 'BAKE' && dep.bake_ms) {
      const bake = (dep.phases || []).find((p) => p.phase === 'BAKE');
      if (bake) waitEnd = Date.parse(bake.at) + Number(dep.bake_ms);
    }
  }

  function tick() {
    const c = BG.$('countdown');
    if (!c || !dep) return;
    if (dep.paused) { c.textContent = 'paused: waits for resume or promote'; return; }
    if (waitEnd === null || isNaN(waitEnd)) {
      c.textContent = dep.phase === 'BAKE' ? 'baking' : dep.phase === 'PRODUCTION_TRAFFIC_SHIFT' ? 'waiting on this step' : 'in progress';
      return;
    }
    const left = Math.max(0, waitEnd - Date.now());
    c.textContent = (dep.phase === 'BAKE' ? 'bake ends in ' : 'next step in ') + BG.fmtDuration(left);
  }

  function healthWord(t) {
    if (t.draining) return ['DRAINING', 'warn'];
    if (t.healthy) return ['HEALTHY', 'ok'];
    if (!t.health || !t.health.last_check) return ['STARTING', 'neutral'];
    return ['UNHEALTHY', 'bad'];
  }

  /* Actuator components: the daemon's list when it sends one, else the failing ones named
   * in the reason ("DOWN (db: DOWN, broker/us1: OUT_OF_SERVICE)"). */
  function components(t) {
    const h = t.health || {};
    let list = [];
    if (Array.isArray(h.components)) list = h.components.map((c) => [c.name, c.status]);
    else if (h.components && typeof h.components === 'object') list = Object.entries(h.components).map(([k, v]) => [k, typeof v === 'string' ? v : v && v.status]);
    else {
      const m = /\(([^()]*)\)\s*$/.exec(h.reason || '');
      if (m) for (const part of m[1].split(', ')) {
        const i = part.lastIndexOf(': ');
        if (i > 0) list.push([part.slice(0, i), part.slice(i + 2)]);
      }
    }
    if (!list.length) return h.reason === 'UP' ? 'none failing' : '–';
    return el('ul', { class: 'components' }, list.map(([n, s]) => el('li', null, el('code', null, n), ' ', BG.state(s || '?', s === 'UP' ? 'ok' : 'bad'))));
  }

  function renderTargets() {
    const rows = [];
    for (const slot of ['blue', 'green']) {
      for (const t of (svc.slots[slot].targets || [])) {
        const [w, k] = healthWord(t);
        const h = t.health || {};
        const r = t.requests || {};
        rows.push(el('tr', { dataset: { target: t.id, slot } },
          el('td', null, BG.slotBadge(slot)),
          el('td', null, el('code', null, t.address)),
          el('td', null, t.instance && t.instance.version ? t.instance.version : (svc.slots[slot].version || '–')),
          el('td', null, BG.state(w, k)),
          el('td', null, h.last_check ? BG.fmtClock(h.last_check) : '–', h.last_status ? ' · HTTP ' + h.last_status : '',
            h.reason ? [el('br'), el('span', { class: 'check-reason' }, h.reason)] : null),
          el('td', null, components(t)),
          el('td', null, (r['2xx'] || 0) + ' / ' + (r['5xx'] || 0) + ' / ' + (r.failed || 0))));
      }
    }
    if (!rows.length) { fill('targets-body', el('p', { class: 'empty' }, 'No targets.')); return; }
    fill('targets-body', el('table', { class: 'targets' },
      el('thead', null, el('tr', null, ['slot', 'address', 'version', 'state', 'last check', 'Actuator components', '2xx / 5xx / failed']
        .map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', null, rows)));
  }

  function renderEvents() {
    fill('recent-body', recent.slice().reverse().map((e) => BG.eventItem(e)));
  }

  /* ---- actions ------------------------------------------------------------------------ */

  function renderActions() {
    const t = target;
    const running = !!(t && t.result === '');
    const can = {
      promote: running, pause: running && !t.paused, resume: running && t.paused, abort: running,
      rollback: !!(t && t.rollback_available),
    };
    for (const [a, ok] of Object.entries(can)) BG.$('act-' + a).disabled = busy || !ok || BG.isSignedOut();
  }

  function describe(action) {
    const dep = target;
    const n = svc.name;
    const newSlot = dep.slot;
    const oldSlot = other(newSlot);
    const tr = dep.traffic || {};
    const running = dep.result === '';
    switch (action) {
      case 'promote':
        return ['Promote ' + n + '?', ['Deployment ' + dep.id + ' skips its remaining steps and waits' + (dep.paused ? ' (and its pause)' : '') + ': ' +
          newSlot + ' (' + dep.version + ') gets 100% of the traffic now, then bakes.'], 'Promote'];
      case 'pause':
        return ['Pause deployment ' + dep.id + '?', ['The traffic stays at blue ' + tr.blue + '% / green ' + tr.green +
          '% until you resume or promote.'], 'Pause'];
      case 'resume':
        return ['Resume deployment ' + dep.id + '?', ['Its remaining steps continue from blue ' + tr.blue + '% / green ' + tr.green + '%.'], 'Resume'];
      case 'abort':
        return ['Abort deployment ' + dep.id + '?', [oldSlot + ' (' + slotVersion(oldSlot) + ') gets 100% of the traffic in one switch; the ' +
          newSlot + ' targets (' + dep.version + ') stop. The deployment ends ABORTED.'], 'Abort'];
      case 'rollback':
        return ['Roll back ' + n + '?', [
          (running ? 'Deployment ' + dep.id + ' stops. ' : '') + oldSlot + ' (' + slotVersion(oldSlot) + ') gets 100% of the traffic in one switch; ' +
          newSlot + ' (' + dep.version + ') drains and stops.',
          'Deployment ' + dep.id + ' ends ROLLED_BACK (manual rollback).'], 'Roll back'];
    }
    return [action, [], action];
  }

  async function act(action, force) {
    if (!svc || !target || busy) return;
    const [title, lines, word] = describe(action);
    if (!force && !(await BG.confirm(title, lines, word))) return;
    busy = true;
    renderActions();
    const out = BG.$('action-result');
    fill(out, action + '…');
    try {
      const body = action === 'rollback' ? { force: !!force } : undefined;
      const d = await BG.api('POST', '/v1/services/' + BG.enc(svc.name) + '/' + action, body);
      fill(out, BG.state('DONE', 'ok'), ' ' + action + ': deployment ' + d.id + ' is ' +
        (d.result || d.phase) + (d.reason ? ' (' + d.reason + ')' : ''));
    } catch (e) {
      if (e.status === 409 && e.error && e.error.gate) showRefusal(e.error);
      else if (e.status === 401) fill(out, BG.state('REFUSED', 'bad'), ' not signed in: nothing was done');
      else fill(out, BG.state('FAILED', 'bad'), ' ' + action + ': ' + e.message);
    } finally {
      busy = false;
      load();
    }
  }

  /* The rollback gate said no: name the consumers that would break, offer --force. */
  function showRefusal(err) {
    const force = el('button', { type: 'button', class: 'btn btn-danger action', id: 'act-force' }, 'Roll back anyway (force)');
    force.addEventListener('click', async () => {
      const ok = await BG.confirm('Force the rollback of ' + svc.name + '?',
        ['These consumers would break:'].concat((err.broken || []).map((b) => b.message || '')).concat(
          ['Roll back anyway, as `bluegreen rollback ' + svc.name + ' --force` does?']), 'Roll back anyway');
      if (ok) act('rollback', true);
    });
    fill('action-result', el('div', { class: 'refusal', role: 'alert' },
      el('p', null, BG.state('REFUSED BY THE GATE', 'bad'), ' ', err.message || ''),
      el('ul', { class: 'broken-list' }, (err.broken || []).map((b) => el('li', null, BG.state('BROKEN', 'bad'), ' ', b.message || JSON.stringify(b)))),
      force));
  }

  document.addEventListener('DOMContentLoaded', () => {
    for (const a of ['promote', 'pause', 'resume', 'abort', 'rollback']) {
      BG.$('act-' + a).addEventListener('click', () => act(a, false));
    }
    setInterval(tick, 1000); /* the countdown's text; no request */
    load();
    loadEvents();
    BG.live({
      open() { reload(); loadEvents(); },
      event(e) {
        if (e.service !== name) return;
        if (e.id && e.id <= lastEventId) return;
        lastEventId = e.id || lastEventId;
        recent.push(e);
        if (recent.length > 40) recent.shift();
        renderEvents();
        reload();
      },
    }, name);
  });
})();

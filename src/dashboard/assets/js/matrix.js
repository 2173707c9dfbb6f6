/* Matrix (docs/dashboard.md "Matrix"): services × services. Each cell: the range the row
 * (consumer) requires of the column's API, the provider's live versions, OK or BROKEN; the
 * diagonal holds the service's live versions. Broken edges are those of what runs now
 * (GET /v1/matrix) and those the gate named when it refused a service's last deployment:
 * that edge is what keeps the refused revision out. Reloaded on deployments and traffic. */
'use strict';

(function () {
  const { el, fill } = BG;

  function liveText(entries) {
    return (entries || []).map((l) => l.version + ' (' + l.slot + ', ' + l.weight_pct + '%)').join(', ') || 'nothing live';
  }

  /* Edges the gate refused: the last deployment of each service, when REFUSED. */
  async function refusals(names) {
    const out = [];
    const lists = await Promise.all(names.map((n) => BG.get('/v1/services/' + BG.enc(n) + '/deployments?limit=1')));
    for (const j of lists) {
      const d = (j.deployments || [])[0];
      if (!d || d.result !== 'REFUSED' || !d.gate) continue;
      for (const b of d.gate.broken || []) out.push({ dep: d, edge: b });
    }
    return out;
  }

  async function load() {
    let m;
    let refused;
    try {
      m = await BG.get('/v1/matrix');
      refused = await refusals(m.services || []);
      BG.clearNotice();
    } catch (e) {
      BG.showError('Could not load the matrix', e);
      return;
    }
    const names = m.services || [];
    const cells = new Map(); /* consumer|provider -> [cell] */
    for (const c of m.cells || []) {
      const k = c.consumer + '|' + c.provider;
      if (!cells.has(k)) cells.set(k, []);
      cells.get(k).push(c);
    }
    const refusedAt = new Map();
    for (const r of refused) {
      const k = r.edge.consumer + '|' + r.edge.provider;
      if (!refusedAt.has(k)) refusedAt.set(k, []);
      refusedAt.get(k).push(r);
    }
    const nLive = (m.broken || []).length;
    const plural = (n) => n + ' broken edge' + (n === 1 ? '' : 's');
    fill('matrix-status', el('p', null, 'What runs now: ', m.ok ? BG.state('COMPATIBLE', 'ok') : BG.state('BROKEN', 'bad'),
      ' (' + plural(nLive) + ') · refused by the gate: ' + plural(refused.length),
      (m.missing || []).length ? ' · missing providers: ' + m.missing.map((x) => (x.consumer || '?') + ' needs ' + (x.api || x.provider || '?')).join(', ') : ''));

    const head = el('tr', null, el('th', { scope: 'col' }, el('span', { class: 'sr-only' }, 'consumer \\ provider'), 'consumer ↓ / provider →'),
      names.map((n) => el('th', { scope: 'col' }, n)));
    const rows = names.map((row) => el('tr', { dataset: { consumer: row } },
      el('th', { scope: 'row' }, row),
      names.map((col) => {
        const k = row + '|' + col;
        if (row === col) {
          return el('td', { class: 'diag', dataset: { provider: col } }, el('span', { class: 'label' }, 'live '), liveText(m.live && m.live[row]));
        }
        const cs = cells.get(k) || [];
        const rs = refusedAt.get(k) || [];
        if (!cs.length && !rs.length) return el('td', { class: 'none', dataset: { provider: col } }, '–');
        const bad = cs.some((c) => c.status !== 'ok') || rs.length > 0;
        return el('td', { class: bad ? 'cell broken' : 'cell ok', dataset: { provider: col, status: bad ? 'broken' : 'ok' } },
          cs.map((c) => el('div', { class: 'edge' },
            BG.state(c.status === 'ok' ? 'OK' : 'BROKEN', c.status === 'ok' ? 'ok' : 'bad'), ' ',
            c.consumer_version + ' (' + c.consumer_slot + ') requires ', el('code', null, c.api + ' ' + (c.range || '')),
            el('br'), 'live: ' + ((c.provider_versions || []).join(', ') || 'none'))),
          rs.map((r) => el('div', { class: 'edge edge-refused' },
            BG.state('BROKEN', 'bad'), ' ', 'refused: ' + r.edge.consumer + ' ' + (r.edge.consumer_version || '') + ' requires ',
            el('code', null, (r.edge.api || r.edge.provider) + ' ' + (r.edge.range || '')),
            el('br'), 'live: ' + (r.edge.provider_live || []).map((l) => l.version + ' (' + l.slot + ', ' + l.weight_pct + '%)').join(', '))));
      })));
    fill('matrix', el('table', { class: 'matrix' }, el('caption', { class: 'sr-only' }, 'Compatibility matrix'),
      el('thead', null, head), el('tbody', null, rows)));

    const items = (m.broken || []).map((b) => el('li', null, BG.state('BROKEN', 'bad'), ' live: ', b.message || JSON.stringify(b)))
      .concat(refused.map((r) => el('li', null, BG.state('BROKEN', 'bad'), ' ',
        el('a', { href: 'service.html?name=' + BG.enc(r.dep.service) }, r.dep.service), ' ' + r.dep.version +
        ' refused by the gate (deployment ' + r.dep.id + '): ', r.edge.message || '')));
    fill('broken', items.length ? items : el('li', null, 'none'));
    document.body.dataset.loaded = 'true';
  }
  const reload = BG.debounce(load, 300);

  document.addEventListener('DOMContentLoaded', () => {
    load();
    BG.live({ open: reload, event(e) { if (e.kind !== 'health') reload(); } });
  });
})();

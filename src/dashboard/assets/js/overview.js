/* Overview: one card per service (docs/dashboard.md "Overview"). Live version and slot,
 * preview revision, traffic split, healthy/total targets, req/s, 5xx % and p99 per slot,
 * and sparklines of p99 and 5xx % over the last minutes. Reloaded on the events that change
 * a service; the numbers come with the stream's stats events. */
'use strict';

(function () {
  const { el, fill } = BG;
  const cards = new Map(); /* name -> {root, charts, svc} */
  let services = [];

  async function load() {
    try {
      const j = await BG.get('/v1/services');
      services = j.services || [];
      BG.clearNotice();
      render();
    } catch (e) {
      BG.showError('Could not load the services', e);
    }
  }
  const reload = BG.debounce(load, 250);

  function slotRow(svc, slot) {
    const s = svc.slots && svc.slots[slot] ? svc.slots[slot] : { targets: [] };
    const targets = s.targets || [];
    const healthy = targets.filter((t) => t.healthy && !t.draining).length;
    const last = BG.samples(svc.name, slot).slice(-1)[0] || {};
    const role = slot === svc.live_slot ? 'live' : slot === svc.preview_slot ? 'preview' : 'empty';
    return el('tr', { dataset: { slot } },
      el('th', { scope: 'row' }, BG.slotBadge(slot), el('br'), el('span', { class: 'role' }, role)),
      el('td', { class: 'version' }, s.version ? s.version + ' (r' + s.revision + ')' : '–'),
      el('td', { class: 'targets', dataset: { healthy, total: targets.length } },
        healthy + '/' + targets.length),
      el('td', { class: 'rps' }, BG.fmtNum(last.rps, 1)),
      el('td', { class: 'err' }, BG.fmtPct(last.err_pct)),
      el('td', { class: 'p99' }, BG.fmtMs(last.p99_ms)));
  }

  function card(svc) {
    const live = svc.slots ? svc.slots[svc.live_slot] : null;
    const prev = svc.preview_slot && svc.slots ? svc.slots[svc.preview_slot] : null;
    const title = el('h2', null, el('a', { href: 'service.html?name=' + BG.enc(svc.name) }, svc.name));
    const liveLine = el('p', { class: 'live-line' },
      el('span', { class: 'label' }, 'live '), BG.slotBadge(svc.live_slot),
      ' ', el('strong', { class: 'live-version' }, live && live.version ? live.version : '–'),
      live && live.revision ? ' (revision ' + live.revision + ')' : '');
    const prevLine = el('p', { class: 'preview-line' }, el('span', { class: 'label' }, 'preview '),
      prev ? [BG.slotBadge(svc.preview_slot), ' ', el('strong', null, prev.version || '–'),
        ' (revision ' + prev.revision + ')'] : 'none');
    const table = el('div', { class: 'scroll' }, el('table', { class: 'slots' },
      el('caption', { class: 'sr-only' }, svc.name + ' per slot'),
      el('thead', null, el('tr', null, el('th', { scope: 'col' }, 'slot'),
        el('th', { scope: 'col' }, 'version'), el('th', { scope: 'col' }, 'healthy'),
        el('th', { scope: 'col' }, 'req/s'), el('th', { scope: 'col' }, '5xx'),
        el('th', { scope: 'col' }, 'p99'))),
      el('tbody', null, slotRow(svc, 'blue'), slotRow(svc, 'green'))));
    const p99 = el('div', { class: 'spark' });
    const err = el('div', { class: 'spark' });
    const root = el('article', { class: 'card', dataset: { service: svc.name }, 'aria-label': svc.name },
      title, liveLine, prevLine, BG.splitBar(svc.traffic, svc.live_slot), table,
      el('div', { class: 'sparks' },
        el('figure', null, el('figcaption', null, 'p99 (ms), last 5 min — blue solid, green dashed'), p99),
        el('figure', null, el('figcaption', null, '5xx (%), last 5 min — blue solid, green dashed'), err)));
    return { root, p99, err };
  }

  function render() {
    const box = BG.$('cards');
    if (BG.isSignedOut()) return;
    const names = new Set(services.map((s) => s.name));
    for (const [name, c] of cards) {
      if (!names.has(name)) { c.charts.forEach((ch) => ch.destroy()); c.root.remove(); cards.delete(name); }
    }
    if (!services.length) {
      fill(box, el('p', { class: 'empty' }, 'No services are configured.'));
      return;
    }
    box.querySelector('.empty')?.remove();
    for (const svc of services) {
      const built = card(svc);
      let c = cards.get(svc.name);
      if (!c) {
        box.appendChild(built.root);
        c = { root: built.root, charts: [] };
        cards.set(svc.name, c);
        c.charts = [BG.sparkline(built.p99, svc.name, 'p99_ms', 'p99 in ms'),
          BG.sparkline(built.err, svc.name, 'err_pct', '5xx in %')];
      } else {
        /* keep the charts, replace the rest */
        const sparks = c.root.querySelector('.sparks');
        built.root.querySelector('.sparks').replaceWith(sparks);
        c.root.replaceWith(built.root);
        c.root = built.root;
      }
      c.svc = svc;
      c.charts.forEach((ch) => ch.update());
    }
    document.body.dataset.loaded = 'true';
  }

  /* Numbers of the last sample only (the cards are not rebuilt for every stats event). */
  function refreshNumbers() {
    for (const [name, c] of cards) {
      for (const slot of ['blue', 'green']) {
        const row = c.root.querySelector('tr[data-slot="' + slot + '"]');
        if (!row) continue;
        const last = BG.samples(name, slot).slice(-1)[0] || {};
        row.querySelector('.rps').textContent = BG.fmtNum(last.rps, 1);
        row.querySelector('.err').textContent = BG.fmtPct(last.err_pct);
        row.querySelector('.p99').textContent = BG.fmtMs(last.p99_ms);
      }
      c.charts.forEach((ch) => ch.update());
    }
  }

  window.addEventListener('resize', BG.debounce(() => {
    for (const c of cards.values()) c.charts.forEach((ch) => ch.resize());
  }, 200));

  async function loadHistory() {
    try {
      await BG.loadStatsHistory();
      refreshNumbers();
    } catch (e) {
      BG.showError('Could not load the statistics', e);
    }
  }

  document.addEventListener('DOMContentLoaded', () => {
    load().then(loadHistory);
    BG.live({
      open() { reload(); },
      event() { reload(); },
      stats(s) {
        BG.ingestStats(s);
        refreshNumbers();
      },
    });
  });
})();

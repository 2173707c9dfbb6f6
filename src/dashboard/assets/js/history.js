/* History (docs/dashboard.md "History"): every service's deployments, newest first, with
 * result, reason, duration, versions, git.sha and, for an automatic rollback, its evidence.
 * Reloaded when a deployment starts or ends. */
'use strict';

(function () {
  const { el, fill } = BG;
  let names = [];
  let only = BG.param('service') || '';

  function duration(d) {
    const a = Date.parse(d.started);
    const b = d.ended ? Date.parse(d.ended) : Date.now();
    return isNaN(a) || isNaN(b) ? null : b - a;
  }

  function row(d) {
    const kind = BG.resultKind(d.result);
    const sha = d.labels && d.labels['git.sha'];
    const hasEvidence = d.evidence && d.evidence.targets && d.evidence.targets.length;
    const tr = el('tr', { class: 'dep dep-' + kind, dataset: { id: d.id, service: d.service, result: d.result || 'RUNNING' } },
      el('td', null, String(d.id)),
      el('td', null, el('a', { href: 'service.html?name=' + BG.enc(d.service) }, d.service)),
      el('td', null, 'r' + d.from_revision + ' → r' + d.to_revision, el('br'), el('strong', null, d.version || ''), ' in ', BG.slotBadge(d.slot)),
      el('td', null, BG.state(d.result || 'RUNNING', kind), d.result ? null : [el('br'), d.phase]),
      el('td', { class: 'reason-cell' }, d.reason || '–',
        hasEvidence ? el('details', { class: 'evidence-box' }, el('summary', null, 'evidence'), BG.evidenceView(d.evidence)) : null),
      el('td', null, BG.fmtDuration(duration(d))),
      el('td', null, BG.fmtTime(d.started)),
      el('td', null, sha ? el('code', null, sha) : '–'),
      el('td', null, d.actor || '–'));
    return tr;
  }

  async function load() {
    try {
      const lists = await Promise.all((only ? [only] : names).map((n) =>
        BG.get('/v1/services/' + BG.enc(n) + '/deployments?limit=50')));
      const all = lists.flatMap((j) => j.deployments || []);
      all.sort((a, b) => b.id - a.id);
      BG.clearNotice();
      if (!all.length) { fill('history', el('p', { class: 'empty' }, 'No deployments yet.')); return; }
      fill('history', el('table', { class: 'history' },
        el('thead', null, el('tr', null, ['#', 'service', 'versions', 'result', 'reason / evidence', 'duration', 'started', 'git.sha', 'by']
          .map((h) => el('th', { scope: 'col' }, h)))),
        el('tbody', null, all.map(row))));
      document.body.dataset.loaded = 'true';
    } catch (e) {
      BG.showError('Could not load the history', e);
    }
  }
  const reload = BG.debounce(load, 300);

  document.addEventListener('DOMContentLoaded', async () => {
    try {
      names = (await BG.fillServiceSelect((v) => { only = v; load(); })).map((s) => s.name);
    } catch (e) {
      BG.showError('Could not load the services', e);
      return;
    }
    load();
    BG.live({
      open: reload,
      event(e) {
        if (/^deploy\.|^release\./.test(e.kind)) reload();
      },
    });
  });
})();

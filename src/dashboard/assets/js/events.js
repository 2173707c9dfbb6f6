/* Events (docs/dashboard.md "Events"): the audit trail, newest first, followed live. The
 * last MAX events are kept; messages (hook output, health answers) are shown as text. */
'use strict';

(function () {
  const MAX = 500;
  let only = BG.param('service') || '';
  let hideHealth = false;
  let lastId = 0;
  const seen = [];

  function visible(e) {
    return (!only || e.service === only) && !(hideHealth && e.kind === 'health');
  }

  function redraw() {
    BG.fill('events', seen.filter(visible).slice(-MAX).reverse().map(BG.eventItem));
  }

  function add(e) {
    if (e.id && e.id <= lastId) return;
    lastId = e.id || lastId;
    seen.push(e);
    if (seen.length > MAX * 2) seen.splice(0, seen.length - MAX);
    if (!visible(e)) return;
    const list = BG.$('events');
    list.insertBefore(BG.eventItem(e), list.firstChild);
    while (list.children.length > MAX) list.lastChild.remove();
  }

  /* The backlog: everything after the last event seen (all of it on the first load). */
  async function catchUp() {
    try {
      for (let page = 0; page < 50; page++) {
        const j = await BG.get('/v1/events?after=' + lastId + '&limit=1000');
        const ev = j.events || [];
        for (const e of ev) add(e);
        if (ev.length < 1000) break;
      }
      BG.clearNotice();
      document.body.dataset.loaded = 'true';
    } catch (e) {
      BG.showError('Could not load the events', e);
    }
  }

  document.addEventListener('DOMContentLoaded', async () => {
    BG.$('hide-health').addEventListener('change', (ev) => { hideHealth = ev.target.checked; redraw(); });
    try {
      await BG.fillServiceSelect((v) => { only = v; redraw(); });
    } catch (e) {
      BG.showError('Could not load the services', e);
      return;
    }
    await catchUp();
    BG.live({ open: catchUp, event: add });
  });
})();

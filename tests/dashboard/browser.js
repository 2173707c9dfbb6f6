/* Browser tests of the dashboard (tests/dashboard/README.md). usage: node browser.js SCENARIO
 *
 *   pages     the overview lists the services; every page loads with no console error and
 *             no serious/critical axe violation, at 1280 px and at 390 px (no sideways
 *             scroll); an HTML event message (a test hook's command) shows as text;
 *             a refused deployment's broken edge is marked in the matrix
 *   canary    a canary started with the CLI moves the split bar and the phase timeline live
 *             (the page is not reloaded); Roll back in the page rolls back (seen by the CLI)
 *   auto      an automatic rollback (health never passes) shows its reason and its evidence
 *             on the service page and in the history
 *   gated     Roll back of a service whose new API a consumer already uses: the gate's
 *             refusal is shown with the consumer, and nothing changes
 *   auth      no token, a wrong token, a missing CSRF token, a dropped session: no data and
 *             no action
 *   proxy     `bluegreen dashboard` in front of the Unix socket: one-time login URL, the
 *             pages live through it, Roll back through it
 *   screenshots DIR   the pages as PNG into DIR (docs/dashboard/), not a test
 */
'use strict';

const fs = require('fs');
const path = require('path');
const T = require('./lib');
const { check, waitFor, log } = T;

const HTML_MARK = '<img src=x onerror="window.__bgInjected=1"><b>bold</b>';

function config({ dir, lb, adminPort, app, token, unix }) {
  const run = (svc, ver, extra = '') =>
    `{command: ["${app}", "--service", "${svc}", "--version", "${ver}"${extra}]}`;
  return `listen: 127.0.0.1:${lb}
${unix ? `admin: unix:${dir}/state/bluegreen.sock` : `admin: http://127.0.0.1:${adminPort}\nadmin_token: ${token}`}
state_dir: ${dir}/state
driver: process
proxy: {workers: 2}
services:
  payments:
    route: {path_prefix: /payments}
    version: 1.9.2
    run: ${run('payments', '1.9.2')}
    health: {path: /actuator/health, format: actuator, interval: 200ms, healthy_threshold: 2}
    strategy: all-at-once
    startup_timeout: 20s
    termination_wait: 10m
    drain: 500ms
    stop_timeout: 2s
    api:
      provides: {payments: 1.9.2}
  orders:
    route: {path_prefix: /orders}
    version: 1.0.0
    count: 2
    run: ${run('orders', '1.0.0')}
    health: {path: /actuator/health, format: actuator, interval: 200ms, healthy_threshold: 2}
    strategy: {canary: {percent: 20, wait: 10m}}
    startup_timeout: 4s
    termination_wait: 10m
    drain: 500ms
    stop_timeout: 2s
    api:
      provides: {orders: 1.0.0}
      requires: {payments: "^1.4"}
  web:
    route: {path_prefix: /web}
    version: 1.0.0
    run: ${run('web', '1.0.0')}
    health: {path: /actuator/health, format: actuator, interval: 200ms, healthy_threshold: 2}
    strategy: all-at-once
    startup_timeout: 20s
    termination_wait: 10m
    drain: 500ms
    stop_timeout: 2s
    hooks: {test: ['exit 3 # ${HTML_MARK}']}
    api:
      provides: {web: 1.0.0}
      requires: {orders: ">=1.0"}
`;
}
const SERVICES = ['payments', 'orders', 'web'];

function revisionFile(dir, name, text) {
  const f = path.join(dir, name);
  fs.writeFileSync(f, text);
  return f;
}

/* Deploys with the CLI (no --wait); the deployment runs on in the daemon. */
async function deploy(d, svc, version, extraArgs = []) {
  const r = await T.cli(d, ['deploy', svc, '--version', version, '--cmd',
    `${T.APP} --service ${svc} --version ${version}`].concat(extraArgs));
  log('bluegreen deploy ' + svc + ' ' + version + ': exit ' + r.code + ' ' + (r.stdout + r.stderr).trim().split('\n').slice(-1)[0]);
  return r;
}

async function lastDeployment(d, svc) {
  const j = await T.cliJson(d, ['history', svc]);
  const list = j.deployments || j;
  return list[0];
}

/* The split bar of SERVICE's card (or the service page's) as {blue, green}. */
async function split(p, scope) {
  return p.$eval(scope + ' .split', (e) => ({ blue: Number(e.dataset.blue), green: Number(e.dataset.green), label: e.getAttribute('aria-label') }));
}

async function noSidewaysScroll(p, what) {
  const w = await p.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  check(w[0] <= w[1] + 1, what + ' has no sideways scroll at ' + w[1] + ' px (content ' + w[0] + ' px)');
}

/* ---- scenarios ------------------------------------------------------------------------- */

async function pages() {
  const d = await T.startDaemon(config, { services: SERVICES });
  const b = await T.launch();
  const ctx = await T.signedIn(b, d);

  /* a web deployment whose test hook fails: its command (HTML) is in events and reason */
  await deploy(d, 'web', '1.1.0');
  await waitFor('web 1.1.0 rolled back by its test hook', async () => (await lastDeployment(d, 'web')).result === 'ROLLED_BACK', 60000);
  /* orders 3.0.0 requires payments ^2.0: refused by the gate */
  const f = revisionFile(d.dir, 'orders-3.yaml', `version: 3.0.0\nrun: {command: ["${T.APP}", "--service", "orders", "--version", "3.0.0"]}\napi:\n  provides: {orders: 3.0.0}\n  requires: {payments: "^2.0"}\n`);
  const r = await T.cli(d, ['deploy', 'orders', '-f', f]);
  check(r.code === 3, 'the CLI deploy of orders 3.0.0 is refused by the gate (exit 3, got ' + r.code + ')');

  const ov = await T.openPage(ctx, d, '');
  const names = await ov.$$eval('.card', (cs) => cs.map((c) => c.dataset.service));
  check(SERVICES.every((n) => names.includes(n)), 'the overview lists the services: ' + names.join(', '));
  for (const n of SERVICES) {
    const s = await split(ov, `.card[data-service="${n}"]`);
    check(s.blue === 100 && s.green === 0, n + ': the split bar says blue 100% (' + s.label + ')');
  }
  check(/1\.9\.2/.test(await ov.textContent('.card[data-service="payments"] .live-version')), 'payments shows its live version 1.9.2');
  check((await ov.textContent('.card[data-service="orders"] tr[data-slot="blue"] .targets')).trim() === '2/2', 'orders: 2/2 healthy targets in blue');
  await T.axe(ov, 'the overview');
  await ov.close(); /* each page holds an EventSource: a browser has 6 connections per host */

  const ev = await T.openPage(ctx, d, 'events.html');
  await waitFor('the hook command in the events', () => ev.$$eval('.ev-msg', (ms) => ms.some((m) => m.textContent.includes('<img src=x'))));
  const injected = await ev.evaluate(() => ({
    flag: window.__bgInjected === 1,
    imgs: document.querySelectorAll('#events img, #events b').length,
    text: Array.from(document.querySelectorAll('.ev-msg')).map((m) => m.textContent).find((t) => t.includes('<b>bold</b>')) || '',
  }));
  check(!injected.flag && injected.imgs === 0 && injected.text.includes('<img src=x onerror='),
    'an event message holding HTML is shown as text: "' + injected.text.slice(0, 120) + '"');
  await T.axe(ev, 'the events page');
  await ev.close();

  const hi = await T.openPage(ctx, d, 'history.html');
  await waitFor('two deployments in the history', async () => (await hi.$$('tr.dep')).length >= 2);
  check(await hi.$eval('tr.dep[data-service="web"]', (t) => t.dataset.result === 'ROLLED_BACK' && t.textContent.includes('<img src=x')),
    'the history shows web ROLLED_BACK with its reason as text');
  check(await hi.evaluate(() => document.querySelectorAll('#history img').length === 0), 'no element was made from the reason');
  await T.axe(hi, 'the history page');
  await hi.close();

  const mx = await T.openPage(ctx, d, 'matrix.html');
  const cell = 'tr[data-consumer="orders"] td[data-provider="payments"]';
  await mx.waitForSelector(cell + '[data-status="broken"]');
  const txt = await mx.textContent(cell);
  check(/BROKEN/.test(txt) && /\^2\.0/.test(txt) && /1\.9\.2/.test(txt), 'the matrix marks orders → payments BROKEN (^2.0 vs live 1.9.2): ' + txt.replace(/\s+/g, ' ').trim());
  check(/orders 3\.0\.0 refused by the gate/.test(await mx.textContent('#broken')), 'the broken-edge list names the refused orders 3.0.0');
  check((await mx.textContent('tr[data-consumer="web"] td[data-provider="orders"]')).includes('OK'), 'web → orders is OK');
  await T.axe(mx, 'the matrix page');
  await mx.close();

  const sv = await T.openPage(ctx, d, 'service.html?name=orders');
  check((await sv.$$('#targets-body tr[data-target]')).length === 2, 'the orders page lists 2 targets');
  check(/HEALTHY/.test(await sv.textContent('#targets-body')), 'the targets say HEALTHY in words');
  await T.axe(sv, 'the service page');

  /* the phone width */
  const phone = await T.signedIn(b, d, { width: 390, height: 844 });
  for (const rel of ['', 'service.html?name=orders', 'history.html', 'events.html', 'matrix.html']) {
    const p = await T.openPage(phone, d, rel);
    await noSidewaysScroll(p, '/dashboard/' + rel);
    if (rel === '') await T.axe(p, 'the overview at 390 px');
    await p.close();
  }
  T.noConsoleErrors(ctx);
  T.noConsoleErrors(phone);
}

async function canary() {
  const d = await T.startDaemon(config, { services: SERVICES });
  const b = await T.launch();
  const ctx = await T.signedIn(b, d);
  const ov = await T.openPage(ctx, d, '');
  const sv = await T.openPage(ctx, d, 'service.html?name=orders');
  const before = await sv.evaluate(() => performance.timeOrigin);

  const load = startLoad(d, ['/orders/']);
  const r = await deploy(d, 'orders', '2.0.0', ['--label', 'git.sha=0123abcd']);
  check(r.code === 0, 'the CLI started the orders 2.0.0 canary');
  await waitFor('the overview split bar at blue 80 / green 20', async () => {
    const s = await split(ov, '.card[data-service="orders"]');
    return s.blue === 80 && s.green === 20;
  }, 60000);
  log('ok: the overview split bar moved to blue 80% / green 20% live');
  await waitFor('the service page split bar at 80/20', async () => {
    const s = await split(sv, '#summary-body');
    return s.blue === 80 && s.green === 20;
  }, 30000);
  await waitFor('the timeline at PRODUCTION_TRAFFIC_SHIFT', () =>
    sv.$eval('.timeline li[data-phase="PRODUCTION_TRAFFIC_SHIFT"]', (e) => e.dataset.state === 'current'), 30000);
  const states = await sv.$$eval('.timeline li', (ls) => ls.map((l) => l.dataset.phase + '=' + l.dataset.state));
  check(['PRE_SCALE_UP=done', 'SCALE_UP=done', 'POST_SCALE_UP=done', 'TEST_TRAFFIC=done', 'PRODUCTION_TRAFFIC_SHIFT=current', 'BAKE=pending'].every((s) => states.includes(s)),
    'the phase timeline moved live: ' + states.join(' '));
  const countdown = await waitFor('the step countdown', async () => {
    const t = await sv.textContent('#countdown');
    return /next step in \d/.test(t) ? t : null;
  }, 15000);
  check(true, 'the step countdown runs: ' + countdown);
  check(/1 of 2/.test(await sv.textContent('.step-now')), 'step 1 of 2 is shown');
  check(await sv.evaluate((t) => performance.timeOrigin === t, before), 'the service page was not reloaded');
  check(await ov.$eval('.card[data-service="orders"] .preview-line', (e) => /2\.0\.0/.test(e.textContent)), 'the overview shows the preview revision 2.0.0');
  await T.axe(sv, 'the service page during a canary');
  /* the per-slot figures of the stats stream, for both slots while split */
  const figures = await waitFor('req/s, 5xx and p99 for both orders slots', () => ov.$$eval('.card[data-service="orders"] tr[data-slot]', (rows) => {
    const v = rows.map((r) => ({ slot: r.dataset.slot, rps: r.querySelector('.rps').textContent, err: r.querySelector('.err').textContent, p99: r.querySelector('.p99').textContent }));
    return v.every((x) => Number(x.rps) > 0 && /%/.test(x.err) && /ms/.test(x.p99)) ? v : null;
  }), 60000);
  check(true, 'the overview shows live figures per slot: ' + JSON.stringify(figures));
  check(await ov.$eval('.card[data-service="orders"] .spark', (e) => /blue \d/.test(e.getAttribute('aria-label') || '') && !!e.querySelector('canvas')),
    'the p99 sparkline is drawn: ' + await ov.$eval('.card[data-service="orders"] .spark', (e) => e.getAttribute('aria-label')));
  load.stop();

  /* Roll back from the page: the confirm names what will happen */
  await sv.click('#act-rollback');
  const dlg = await sv.waitForSelector('dialog.confirm[open]');
  const said = await dlg.textContent();
  check(/blue \(1\.0\.0, revision 1\) gets 100%/.test(said) && /green \(2\.0\.0\) drains and stops/.test(said),
    'the rollback confirm says what will happen: ' + said.replace(/\s+/g, ' ').trim());
  await T.axe(sv, 'the confirm dialog');
  await sv.click('dialog.confirm button:has-text("Roll back")');
  await sv.waitForSelector('#action-result:has-text("ROLLED_BACK")', { timeout: 60000 * T.SLOW });
  const st = await T.cliJson(d, ['status', 'orders']);
  const svc = st.services ? st.services.find((s) => s.name === 'orders') : st;
  check(svc.traffic.blue === 100 && svc.traffic.green === 0, 'the CLI sees orders back on blue 100% (' + JSON.stringify(svc.traffic) + ')');
  const dep = await lastDeployment(d, 'orders');
  check(dep.result === 'ROLLED_BACK' && /manual rollback by dashboard/.test(dep.reason), 'the CLI history says ROLLED_BACK: ' + dep.reason);
  await waitFor('the split bar back at blue 100', async () => (await split(ov, '.card[data-service="orders"]')).blue === 100, 30000);
  await waitFor('the timeline with its result', () => sv.$eval('.timeline li[data-phase="RESULT"]', (e) => /ROLLED_BACK/.test(e.textContent)), 30000);
  T.noConsoleErrors(ctx);
}

async function autoFailHealth() {
  const d = await T.startDaemon(config, { services: SERVICES });
  const b = await T.launch();
  const ctx = await T.signedIn(b, d);
  const sv = await T.openPage(ctx, d, 'service.html?name=orders');
  const f = revisionFile(d.dir, 'orders-2.1.yaml', `version: 2.1.0\nrun: {command: ["${T.APP}", "--service", "orders", "--version", "2.1.0", "--fail-health"]}\napi:\n  provides: {orders: 2.1.0}\n  requires: {payments: "^1.4"}\n`);
  const r = await T.cli(d, ['deploy', 'orders', '-f', f]);
  check(r.code === 0, 'the CLI started orders 2.1.0 (its health never passes): exit ' + r.code + ' ' + r.stdout + r.stderr);
  await waitFor('the result ROLLED_BACK on the service page', () =>
    sv.$eval('.timeline li[data-phase="RESULT"]', (e) => /ROLLED_BACK/.test(e.textContent)), 90000);
  const reason = await sv.textContent('#deployment-body .reason');
  check(/startup|healthy|POST_SCALE_UP|timeout/i.test(reason), 'the service page shows the reason: ' + reason.trim());
  await sv.waitForSelector('#deployment-body .evidence .evidence-target');
  const evid = await sv.textContent('#deployment-body .evidence');
  check(/UNHEALTHY/.test(evid) && /127\.0\.0\.1:\d+/.test(evid), 'the service page shows the evidence: ' + evid.replace(/\s+/g, ' ').slice(0, 200));
  const hi = await T.openPage(ctx, d, 'history.html');
  const row = 'tr.dep[data-service="orders"][data-result="ROLLED_BACK"]';
  await hi.waitForSelector(row);
  await hi.click(row + ' details.evidence-box summary');
  const ht = await hi.textContent(row);
  check(/2\.1\.0/.test(ht) && /evidence/i.test(ht) && /UNHEALTHY/.test(ht), 'the history row holds version, reason and evidence');
  check(/log tail|last health response/.test(ht), 'the evidence has the last health response or log tail');
  await T.axe(hi, 'the history with evidence open');
  T.noConsoleErrors(ctx);
}

async function gated() {
  const d = await T.startDaemon(config, { services: SERVICES });
  /* payments 2.0.0 serves both majors (expand); orders 3.0.0 then needs payments ^2.0 */
  const pf = revisionFile(d.dir, 'payments-2.yaml', `version: 2.0.0\nrun: {command: ["${T.APP}", "--service", "payments", "--version", "2.0.0"]}\napi:\n  provides: {payments: [1.10.0, 2.0.0]}\n`);
  let r = await T.cli(d, ['deploy', 'payments', '-f', pf, '--wait']);
  check(r.code === 0, 'payments 2.0.0 deployed (exit ' + r.code + ' ' + r.stderr.trim() + ')');
  const of = revisionFile(d.dir, 'orders-3.yaml', `version: 3.0.0\nrun: {command: ["${T.APP}", "--service", "orders", "--version", "3.0.0"]}\napi:\n  provides: {orders: 3.0.0}\n  requires: {payments: "^2.0"}\n`);
  r = await T.cli(d, ['deploy', 'orders', '-f', of]);
  check(r.code === 0, 'orders 3.0.0 (requires payments ^2.0) started');
  const b = await T.launch();
  const ctx = await T.signedIn(b, d);
  const sv = await T.openPage(ctx, d, 'service.html?name=payments');
  await waitFor('orders 3.0.0 taking traffic', async () => {
    const j = await T.cliJson(d, ['status', 'orders']);
    const o = j.services ? j.services.find((x) => x.name === 'orders') : j;
    return o.traffic.green === 20;
  }, 60000);
  await sv.click('#act-rollback');
  await sv.waitForSelector('dialog.confirm[open]');
  await sv.click('dialog.confirm button:has-text("Roll back")');
  await sv.waitForSelector('#action-result .refusal');
  const said = await sv.textContent('#action-result .refusal');
  check(/REFUSED BY THE GATE/.test(said) && /orders 3\.0\.0 requires payments \^2\.0/.test(said),
    'the gate\'s refusal of the rollback is shown, naming the consumer: ' + said.replace(/\s+/g, ' ').trim().slice(0, 240));
  check(await sv.isVisible('#act-force'), 'and "Roll back anyway (force)" is offered');
  const j = await T.cliJson(d, ['status', 'payments']);
  const p = j.services ? j.services.find((x) => x.name === 'payments') : j;
  check(p.traffic.green === 100, 'the CLI sees payments still on green 2.0.0 (' + JSON.stringify(p.traffic) + ')');
  await T.axe(sv, 'the service page with a gate refusal');
  T.noConsoleErrors(ctx, [/service\.html\?name=payments: console: Failed to load resource: .* 409 \(Conflict\)$/]);
}

/* `bluegreen dashboard` in front of a daemon on its Unix socket: its one-time URL signs in
 * (once), the pages work through it, live, and an action made there reaches the daemon. */
async function proxy() {
  const d = await T.startDaemon(config, { services: SERVICES, unix: true });
  const { spawn } = require('child_process');
  const port = await T.freePort();
  const cmd = spawn(T.BG, ['--admin', d.admin, 'dashboard', '--no-browser', '--json', '--listen', '127.0.0.1:' + port],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((r) => cmd.on('exit', r));
  T.addCleanup(async () => { cmd.kill('SIGINT'); await exited; });
  let out = '';
  cmd.stdout.on('data', (c) => { out += c; });
  const info = await waitFor('bluegreen dashboard to print its URL', () => {
    const line = out.split('\n').find((l) => l.startsWith('{'));
    return line ? JSON.parse(line) : null;
  }, 30000);
  check(info.proxy === true && /^http:\/\/127\.0\.0\.1:\d+\/dashboard\/login\?token=/.test(info.login_url),
    'bluegreen dashboard prints a one-time login URL: ' + info.login_url.replace(/token=.*/, 'token=…'));
  d.base = info.url;
  const b = await T.launch();
  const ctx = await T.signedIn(b, d, undefined, info.login_url);
  const again = await b.newContext();
  const r = await (await again.newPage()).goto(info.login_url);
  check(r.status() === 401, 'the login URL works only once (second use: HTTP ' + r.status() + ')');
  await again.close();
  const ov = await T.openPage(ctx, d, '');
  const names = await ov.$$eval('.card', (cs) => cs.map((c) => c.dataset.service));
  check(SERVICES.every((n) => names.includes(n)), 'through the proxy the overview lists the services: ' + names.join(', '));
  const sv = await T.openPage(ctx, d, 'service.html?name=orders');
  check((await deploy(d, 'orders', '2.0.0')).code === 0, 'the CLI started a canary');
  await waitFor('the split bar at 80/20 through the proxy', async () => (await split(ov, '.card[data-service="orders"]')).green === 20, 60000);
  log('ok: the split bar moved live through the proxy');
  await sv.waitForSelector('.timeline li[data-phase="PRODUCTION_TRAFFIC_SHIFT"][data-state="current"]');
  await sv.click('#act-rollback');
  await sv.waitForSelector('dialog.confirm[open]');
  await sv.click('dialog.confirm button:has-text("Roll back")');
  await sv.waitForSelector('#action-result:has-text("ROLLED_BACK")', { timeout: 60000 * T.SLOW });
  const dep = await lastDeployment(d, 'orders');
  check(dep.result === 'ROLLED_BACK' && /manual rollback by dashboard/.test(dep.reason), 'Roll back through the proxy: the CLI history says ' + dep.result + ': ' + dep.reason);
  await T.axe(ov, 'the overview through the proxy');
  T.noConsoleErrors(ctx);
}

async function auth() {
  const d = await T.startDaemon(config, { services: SERVICES });
  const b = await T.launch();
  /* no token at all */
  const anon = await b.newContext();
  const p = await anon.newPage();
  let r = await p.goto(d.base);
  check(r.status() === 401, 'without a session /dashboard/ is 401 (got ' + r.status() + ')');
  check(!/orders|payments/.test(await p.content()), 'and shows no service');
  r = await p.goto(d.admin + '/v1/services');
  check(r.status() === 401, 'without a session /v1/services is 401');
  /* a wrong token */
  r = await p.goto(d.base + 'login?token=wrong-' + T.TOKEN);
  check(r.status() === 401, 'a wrong login token is 401 (got ' + r.status() + ')');
  check((await anon.cookies()).length === 0, 'and sets no cookie');
  r = await p.goto(d.base);
  check(r.status() === 401, 'still no page after a wrong token');
  await anon.close();

  /* signed in, then actions without CSRF / after the session is dropped */
  const ctx = await T.signedIn(b, d);
  const sv = await T.openPage(ctx, d, 'service.html?name=orders');
  await deploy(d, 'orders', '2.0.0');
  await waitFor('the canary at 80/20 on the page', async () => (await split(sv, '#summary-body')).green === 20, 60000);
  const noCsrf = await sv.evaluate(async () => (await fetch('/v1/services/orders/rollback', { method: 'POST', credentials: 'same-origin' })).status);
  check(noCsrf === 403, 'a rollback without the CSRF token is 403 (got ' + noCsrf + ')');
  let st = await T.cliJson(d, ['status', 'orders']);
  let svc = st.services ? st.services.find((s) => s.name === 'orders') : st;
  check(svc.traffic.green === 20, 'and nothing changed (green still 20%)');

  /* drop the session (sign out in another tab), then press rollback in the stale page */
  const other = await ctx.newPage();
  await other.goto(d.base);
  await other.click('#signout');
  await other.waitForSelector('body.signed-out');
  await sv.click('#act-rollback');
  const dlg = await sv.waitForSelector('dialog.confirm[open]', { timeout: 5000 }).catch(() => null);
  if (dlg) await sv.click('dialog.confirm button:has-text("Roll back")');
  await sv.waitForSelector('body.signed-out');
  check(/Signed out/.test(await sv.textContent('#notice')), 'the page says it is signed out');
  check((await sv.$$('#targets-body tr')).length === 0 && (await sv.textContent('#summary-body')).trim() === '', 'and shows no data');
  check(await sv.$eval('#act-rollback', (e) => e.disabled), 'and its actions are disabled');
  st = await T.cliJson(d, ['status', 'orders']);
  svc = st.services ? st.services.find((s) => s.name === 'orders') : st;
  check(svc.traffic.green === 20, 'and nothing changed: the CLI sees green 20% still');
  const dep = await lastDeployment(d, 'orders');
  check(dep.result === '', 'the canary still runs');
}

async function screenshots(out) {
  fs.mkdirSync(out, { recursive: true });
  const d = await T.startDaemon(config, { services: SERVICES });
  const b = await T.launch();
  /* history worth showing: a refused, a rolled back, a canary in progress with traffic */
  const f = revisionFile(d.dir, 'orders-3.yaml', `version: 3.0.0\nrun: {command: ["${T.APP}", "--service", "orders", "--version", "3.0.0"]}\napi:\n  provides: {orders: 3.0.0}\n  requires: {payments: "^2.0"}\n`);
  await T.cli(d, ['deploy', 'orders', '-f', f]);
  const g = revisionFile(d.dir, 'orders-2.1.yaml', `version: 2.1.0\nrun: {command: ["${T.APP}", "--service", "orders", "--version", "2.1.0", "--fail-health"]}\napi:\n  provides: {orders: 2.1.0}\n  requires: {payments: "^1.4"}\n`);
  await T.cli(d, ['deploy', 'orders', '-f', g, '--label', 'git.sha=9f2c1e7']);
  await waitFor('2.1.0 rolled back', async () => (await lastDeployment(d, 'orders')).result === 'ROLLED_BACK', 90000);
  await deploy(d, 'payments', '1.9.3', ['--label', 'git.sha=4be01d2']);
  await waitFor('payments 1.9.3', async () => (await lastDeployment(d, 'payments')).result === 'SUCCEEDED', 90000);
  const w = revisionFile(d.dir, 'web-2.yaml', `version: 2.0.0\nrun: {command: ["${T.APP}", "--service", "web", "--version", "2.0.0"]}\napi:\n  provides: {web: 2.0.0}\n  requires: {orders: "^3.0"}\n`);
  await T.cli(d, ['deploy', 'web', '-f', w]);
  await deploy(d, 'orders', '2.0.0', ['--label', 'git.sha=0123abc']);
  const load = startLoad(d, ['/orders/', '/payments/', '/web/']);
  const ctx = await T.signedIn(b, d);
  const ov = await T.openPage(ctx, d, '');
  await waitFor('traffic figures', async () => ov.$eval('.card[data-service="orders"] tr[data-slot="green"] .rps', (e) => e.textContent !== '–'), 60000);
  await new Promise((r) => setTimeout(r, 40000)); /* some minutes of sparkline */
  await ov.close();
  const shots = [['', 'overview'], ['service.html?name=orders', 'service'], ['history.html', 'history'], ['events.html', 'events'], ['matrix.html', 'matrix']];
  for (const [rel, n] of shots) {
    const p = await T.openPage(ctx, d, rel);
    await new Promise((r) => setTimeout(r, 1500));
    if (n === 'history') await p.click('tr.dep[data-result="ROLLED_BACK"] details.evidence-box summary').catch(() => {});
    await p.screenshot({ path: path.join(out, n + '.png'), fullPage: n !== 'events' });
    log('wrote ' + path.join(out, n + '.png'));
    await p.close();
  }
  const phone = await T.signedIn(b, d, { width: 390, height: 844 });
  const pp = await T.openPage(phone, d, '');
  await new Promise((r) => setTimeout(r, 1500));
  await pp.screenshot({ path: path.join(out, 'overview-390.png'), fullPage: true });
  log('wrote ' + path.join(out, 'overview-390.png'));
  load.stop();
}

/* A little steady traffic through the load balancer (for the screenshots' numbers). */
function startLoad(d, paths) {
  const http = require('http');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  let on = true;
  let i = 0;
  const one = () => {
    if (!on) return;
    const req = http.get(d.lb + paths[i++ % paths.length], { agent }, (res) => { res.resume(); res.on('end', () => setTimeout(one, 20)); });
    req.on('error', () => setTimeout(one, 100));
  };
  for (let k = 0; k < 4; k++) one();
  const stop = () => { on = false; agent.destroy(); };
  T.addCleanup(stop);
  return { stop };
}

const SCENARIOS = { pages, canary, auto: autoFailHealth, gated, auth, proxy };
const which = process.argv[2];
if (which === 'screenshots') {
  T.run('screenshots', () => screenshots(path.resolve(process.argv[3] || path.join(T.ROOT, 'docs/dashboard'))));
} else if (SCENARIOS[which]) {
  T.run(which, SCENARIOS[which]);
} else {
  console.error('usage: browser.js pages|canary|auto|gated|auth|proxy|screenshots [DIR]');
  process.exit(2);
}

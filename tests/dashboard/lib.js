/* The browser tests' harness (tests/dashboard/README.md): a real `bluegreen serve` with
 * sample-app processes on loopback ports, the `bluegreen` CLI, Debian's chromium driven by
 * playwright-core, axe-core, and waits on conditions with deadlines (no fixed sleeps). */
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const net = require('net');
const http = require('http');
const { spawn, execFile } = require('child_process');

const ROOT = path.resolve(__dirname, '../..');
const BUILD = path.resolve(process.env.BG_BUILD_DIR || path.join(ROOT, 'build'));
const BG = path.join(BUILD, 'bluegreen');
const APP = path.join(BUILD, 'sample-app');
const CHROMIUM = process.env.BG_CHROMIUM || '/usr/bin/chromium';
const TOKEN = 'dash-' + Math.random().toString(16).slice(2) + '-tok';
/* Waits scale with BG_TEST_SLOW (a loaded machine): every deadline is multiplied by it. */
const SLOW = Number(process.env.BG_TEST_SLOW || 1);

let failures = 0;
const cleanups = [];

function log(...a) {
  console.log('[' + new Date().toISOString().slice(11, 23) + ']', ...a);
}

function fail(msg) {
  const e = new Error(msg);
  e.testFailure = true;
  throw e;
}

function check(cond, msg) {
  if (!cond) fail(msg);
  log('ok: ' + msg);
}

async function waitFor(what, fn, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs * SLOW;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      fail('timed out after ' + timeoutMs * SLOW + ' ms waiting for ' + what + (last ? ' (last error: ' + last.message + ')' : ''));
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

/* `bluegreen ARGS` against the daemon's admin listener; resolves {code, stdout, stderr}. */
function cli(d, args, timeoutMs = 60000) {
  return new Promise((resolve) => {
    execFile(BG, ['--admin', d.admin, '--token', TOKEN].concat(args),
      { timeout: timeoutMs * SLOW, env: Object.assign({}, process.env, { BLUEGREEN_ACTOR: 'browser-test' }) },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }));
  });
}

async function cliJson(d, args) {
  const r = await cli(d, args.concat(['--json']));
  try {
    return JSON.parse(r.stdout);
  } catch (e) {
    fail('bluegreen ' + args.join(' ') + ' --json: exit ' + r.code + ', not JSON: ' + r.stdout + r.stderr);
  }
}

/* GET/POST on the admin listener with the bearer token (or none). */
function adminRequest(d, method, p, { token = TOKEN, body = null, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const h = Object.assign({}, headers);
    if (token) h.Authorization = 'Bearer ' + token;
    if (body !== null) h['Content-Type'] = 'application/json';
    const req = http.request({ host: '127.0.0.1', port: d.adminPort, path: p, method, headers: h }, (res) => {
      let data = '';
      res.on('data', (c) => { data += c; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
    });
    req.on('error', reject);
    req.setTimeout(30000 * SLOW, () => req.destroy(new Error('timeout')));
    if (body !== null) req.write(typeof body === 'string' ? body : JSON.stringify(body));
    req.end();
  });
}

/* Starts `bluegreen serve` on CONFIG (a function of {dir, lb, adminPort, app}) and waits
 * until every service's live slot is healthy. */
async function startDaemon(config, { services, unix = false }) {
  for (const f of [BG, APP]) if (!fs.existsSync(f)) fail(f + ' is missing (build it: cmake --build build)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bg-dashboard-'));
  const d = { dir, lbPort: await freePort(), adminPort: await freePort() };
  d.admin = unix ? 'unix:' + path.join(dir, 'state', 'bluegreen.sock') : 'http://127.0.0.1:' + d.adminPort;
  d.base = d.admin + '/dashboard/';
  d.lb = 'http://127.0.0.1:' + d.lbPort;
  d.config = path.join(dir, 'bluegreen.yaml');
  fs.writeFileSync(d.config, config({ dir, lb: d.lbPort, adminPort: d.adminPort, app: APP, token: TOKEN, unix }));
  const out = fs.openSync(path.join(dir, 'serve.log'), 'a');
  d.proc = spawn(BG, ['serve', '-c', d.config], { stdio: ['ignore', out, out] });
  d.exited = new Promise((r) => d.proc.on('exit', (code, sig) => r({ code, sig })));
  cleanups.push(() => stopDaemon(d));
  log('serve pid ' + d.proc.pid + ' in ' + dir + ', admin ' + d.admin);
  const services_json = async () => (unix ? JSON.parse((await cli(d, ['status', '--json'])).stdout)
    : JSON.parse((await adminRequest(d, 'GET', '/v1/services')).body));
  if (!unix) await waitFor('the admin listener', async () => (await adminRequest(d, 'GET', '/v1/health')).status === 200, 30000);
  await waitFor('every service healthy', async () => {
    const j = await services_json();
    return services.every((n) => {
      const s = j.services.find((x) => x.name === n);
      const t = s && s.slots[s.live_slot].targets;
      return t && t.length > 0 && t.every((x) => x.healthy);
    });
  }, 60000);
  return d;
}

/* Stops the daemon and the instances it runs (shutdown --stop-targets), SIGKILL past 30 s. */
async function stopDaemon(d) {
  if (!d.proc || d.stopped) return;
  d.stopped = true;
  await cli(d, ['shutdown', '--stop-targets'], 30000);
  const t = setTimeout(() => { try { process.kill(d.proc.pid, 'SIGKILL'); } catch (e) { /* gone */ } }, 30000 * SLOW);
  await d.exited;
  clearTimeout(t);
  if (!failures && !process.env.KEEP_DASHBOARD_DIR) fs.rmSync(d.dir, { recursive: true, force: true });
  else log('kept ' + d.dir + ' (serve.log, state/logs)');
}

/* ---- the browser ------------------------------------------------------------------- */

let playwright;
try {
  playwright = require(path.join(process.env.BG_DASHBOARD_NODE_MODULES || '', 'playwright-core'));
} catch (e) {
  playwright = null;
}

async function launch() {
  if (!playwright) fail('playwright-core is not installed (tests/dashboard/run.sh installs it)');
  if (!fs.existsSync(CHROMIUM)) fail(CHROMIUM + ' is missing (chromium: scripts/install-deps.sh)');
  const args = ['--disable-dev-shm-usage', '--disable-gpu'];
  if (process.getuid && process.getuid() === 0) args.push('--no-sandbox');
  /* A browser that cannot start is a failure (the caller does not catch this). */
  const b = await playwright.chromium.launch({ executablePath: CHROMIUM, headless: true, args, timeout: 60000 * SLOW });
  cleanups.push(() => b.close().catch(() => {}));
  log('chromium ' + b.version());
  return b;
}

/* A browser context signed in through the login URL, with every console error and page
 * error of its pages collected in ctx.errors. */
async function signedIn(browser, d, viewport = { width: 1280, height: 900 }, loginUrl = null) {
  const ctx = await browser.newContext({ viewport });
  ctx.errors = [];
  ctx.on('page', (p) => watchPage(ctx, p));
  const p = await ctx.newPage();
  const r = await p.goto(loginUrl || d.base + 'login?token=' + encodeURIComponent(TOKEN));
  check(r.status() === 200 && new URL(p.url()).pathname === '/dashboard/', 'the login URL signs in and lands on /dashboard/ (HTTP ' + r.status() + ', ' + p.url() + ')');
  await p.close();
  return ctx;
}

function watchPage(ctx, p) {
  p.on('console', (m) => {
    if (m.type() === 'error') ctx.errors.push(p.url() + ': console: ' + m.text());
  });
  p.on('pageerror', (e) => ctx.errors.push(p.url() + ': page error: ' + e.message));
}

async function openPage(ctx, d, rel) {
  const p = await ctx.newPage();
  p.setDefaultTimeout(30000 * SLOW);
  const r = await p.goto(d.base + rel);
  check(r.status() === 200, 'GET /dashboard/' + rel + ' answers 200');
  try {
    await p.waitForSelector('body[data-loaded="true"]');
    await p.waitForSelector('#conn.conn-on');
  } catch (e) {
    fail('/dashboard/' + rel + ' did not load: ' + e.message.split('\n')[0] + '; page says: ' +
      ((await p.textContent('#notice').catch(() => '')) || '').trim() + '; errors: ' + ctx.errors.join(' | '));
  }
  return p;
}

/* No console error or page error; `expected` lists the ones a scenario causes on purpose
 * (Chrome logs every 4xx answer to fetch() as one). */
function noConsoleErrors(ctx, expected = []) {
  const errors = ctx.errors.filter((e) => !expected.some((re) => re.test(e)));
  if (errors.length) fail('console errors:\n  ' + errors.join('\n  '));
  log('ok: no console errors' + (expected.length ? ' (but the expected ' + expected.join(', ') + ')' : ''));
}

/* axe-core on the page: no serious or critical violation. */
const AXE = process.env.BG_DASHBOARD_NODE_MODULES ? path.join(process.env.BG_DASHBOARD_NODE_MODULES, 'axe-core', 'axe.min.js') : null;
async function axe(p, what) {
  if (!AXE || !fs.existsSync(AXE)) fail('axe-core is not installed (tests/dashboard/run.sh installs it)');
  /* Evaluated through the DevTools protocol: the page's CSP forbids inline scripts, and
   * this is not one. */
  await p.evaluate(fs.readFileSync(AXE, 'utf8') + '\n;0');
  const res = await p.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5) }));
  });
  const bad = res.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  if (bad.length) fail('axe on ' + what + ': ' + JSON.stringify(bad, null, 1));
  log('ok: axe on ' + what + ': no serious or critical violation (' + res.length + ' minor)');
}

/* ---- running --------------------------------------------------------------------------- */

async function run(name, body) {
  const t0 = Date.now();
  const onSignal = (sig) => {
    log('got ' + sig + ': cleaning up');
    failures++;
    cleanup().then(() => process.exit(1));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    await body();
    log('PASS ' + name + ' in ' + ((Date.now() - t0) / 1000).toFixed(1) + ' s');
  } catch (e) {
    failures++;
    log('FAIL ' + name + ': ' + (e.testFailure ? e.message : e.stack || e));
  }
  await cleanup();
  process.exit(failures ? 1 : 0);
}

async function cleanup() {
  while (cleanups.length) {
    const f = cleanups.pop();
    try { await f(); } catch (e) { log('cleanup: ' + e.message); }
  }
}

module.exports = {
  ROOT, BUILD, BG, APP, TOKEN, SLOW, log, fail, check, waitFor, cli, cliJson, adminRequest, freePort,
  startDaemon, stopDaemon, launch, signedIn, openPage, noConsoleErrors, axe, run, watchPage,
  addCleanup: (f) => cleanups.push(f),
};

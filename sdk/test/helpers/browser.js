'use strict';
// Headless Chromium through playwright-core: Debian's /usr/bin/chromium (no browser download),
// a fresh profile per launch (playwright creates and removes it).

const fs = require('node:fs');
const { chromium } = require('playwright-core');

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

function chromiumPath() {
  const candidates = [process.env.FRICTION_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter(Boolean);
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) {
    throw new Error('no Chromium found (tried ' + candidates.join(', ') + '); install Debian\'s `chromium` ' +
      '(scripts/test.sh does) or set FRICTION_CHROMIUM');
  }
  return found;
}

async function launch() {
  return chromium.launch({ executablePath: chromiumPath(), headless: true, args: CHROMIUM_ARGS, timeout: 60000 });
}

/** A fresh context (own storage: a new Friction session) and page; SDK options for the test pages
 * go to window.__FRICTION_OPTS before any script runs. Page errors are collected in page.errors. */
async function newPage(browser, sdkOptions, contextOptions) {
  const context = await browser.newContext(Object.assign({ viewport: { width: 1000, height: 700 } }, contextOptions));
  if (sdkOptions) {
    await context.addInitScript((o) => {
      window.__FRICTION_OPTS = o;
    }, sdkOptions);
  }
  const page = await context.newPage();
  page.errors = [];
  page.consoleMessages = [];
  page.on('pageerror', (e) => page.errors.push(String(e && e.message)));
  page.on('console', (m) => page.consoleMessages.push(m.type() + ': ' + m.text()));
  return { context, page };
}

/** Clicks the centre of an element with the mouse (also works on disabled controls). */
async function mouseClick(page, selector, options) {
  const box = await page.locator(selector).boundingBox();
  if (!box) throw new Error('no box for ' + selector);
  await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2, options);
  return box;
}

module.exports = { launch, newPage, mouseClick, chromiumPath, CHROMIUM_ARGS };

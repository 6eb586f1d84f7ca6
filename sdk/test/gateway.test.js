'use strict';
// End to end against the real gateway (`friction up`, or FRICTION_SDK_GATEWAY): the test page is
// served from another origin (so CORS preflights are exercised), the SDK produces every event type,
// and every batch — fetch with X-API-Key and the page-hide beacon with ?api_key= — must be answered
// 202 with nothing rejected.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startServer } = require('./helpers/server');
const { launch, newPage, mouseClick } = require('./helpers/browser');
const { startGateway } = require('./helpers/gateway');

const ALL_TYPES = ['pageview', 'click', 'mutation', 'network', 'error', 'scroll', 'selection', 'focus',
  'visibility', 'input', 'submit', 'custom'];

let server;
let browser;
let gateway;

before(async () => {
  [server, browser, gateway] = await Promise.all([startServer(), launch(), startGateway()]);
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.close();
  if (gateway) await gateway.stop();
});

describe('the real gateway', () => {
  it('accepts every batch the SDK sends (202, nothing rejected), by fetch and by beacon', async () => {
    const { context, page } = await newPage(browser, {
      apiKey: gateway.apiKey,
      endpoint: gateway.endpoint,
      release: 'e2e-1',
      userId: 'e2e-user',
      flushInterval: 200,
      recordTypes: true,
    });
    const batches = []; // { kind, status, body, sent }
    const pending = [];
    page.on('response', (res) => {
      const req = res.request();
      if (req.method() !== 'POST' || !req.url().startsWith(gateway.eventsUrl)) return;
      pending.push((async () => {
        let body = null;
        try {
          body = await res.json();
        } catch (_) {
          body = null;
        }
        let sent = null;
        try {
          sent = JSON.parse(req.postData() || 'null');
        } catch (_) {
          sent = null;
        }
        batches.push({ kind: req.url().includes('api_key=') ? 'beacon' : 'fetch', status: res.status(), body, sent,
          url: req.url() });
      })());
    });
    const failed = [];
    page.on('requestfailed', (req) => {
      if (req.url().startsWith(gateway.eventsUrl)) failed.push(req.url() + ' ' + (req.failure() || {}).errorText);
    });

    await page.goto(server.origin + '/pages/basic.html');
    await page.click('#plain');
    await page.click('[data-friction-key=keyed]');
    await mouseClick(page, '#disabled-btn');
    await page.click('#ignored');
    await page.click('#link-secret');
    await page.click('#mutate-near');
    for (const id of ['#fetch-ok', '#fetch-fail', '#xhr-ok', '#fetch-neterr', '#throw', '#reject', '#focus-other']) {
      await page.click(id);
    }
    await page.click('#para', { clickCount: 3 });
    await page.mouse.wheel(0, 400);
    await page.fill('#notes', 'hunter2-Zebra-Value');
    await page.fill('#email', 'jane.doe@example.com');
    await page.fill('#zip', 'abc');
    await page.click('#submit');
    await page.fill('#zip', '12345');
    await page.click('#submit');
    await page.click('#push');
    await page.click('#hash');
    await page.goBack();
    await page.evaluate(() => window.Friction.track('e2e_done', { step: 3 }));
    await page.waitForTimeout(400);
    await page.evaluate(() => window.Friction.flush());
    // Page hide: the rest goes by beacon (text/plain, key in the query).
    await page.click('#plain');
    await page.evaluate(() => {
      Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true });
      document.dispatchEvent(new Event('visibilitychange'));
    });
    await page.waitForTimeout(1000);
    await page.evaluate(() => window.Friction.flush());
    await page.waitForTimeout(300);
    await Promise.all(pending);
    const stats = await page.evaluate(() => window.Friction.stats());
    const sentTypes = new Set(await page.evaluate(() => window.__sentTypes));
    // The gateway's own count covers the beacons too, whose answers the page cannot read.
    const metrics = gateway.metricsUrl ? await (await fetch(gateway.metricsUrl)).text() : null;
    await context.close();

    const summary = batches.map((b) => b.kind + ' ' + b.status + ' ' + JSON.stringify(b.body)).join('\n');
    assert.deepEqual(failed, [], 'no request to the gateway failed');
    assert.ok(batches.filter((b) => b.kind === 'fetch').length >= 2, 'several fetch batches:\n' + summary);
    process.stdout.write(summary.replace(/^/gm, '# ') + '\n');
    for (const b of batches) {
      assert.equal(b.status, 202, 'a batch was not accepted:\n' + summary);
      if (b.kind === 'beacon' && !b.body) continue; // a beacon's answer body is not readable: see the metrics
      assert.deepEqual(b.body.rejected, [], 'the gateway rejected events:\n' + summary);
      if (b.sent) assert.equal(b.body.accepted, b.sent.events.length, 'all events of the batch accepted');
    }
    assert.deepEqual(ALL_TYPES.filter((t) => !sentTypes.has(t)), [], 'every event type went through the gateway');
    assert.equal(stats.failed, 0);
    assert.equal(stats.dropped, 0);
    assert.equal(stats.rejected, 0);
    const beacons = batches.filter((b) => b.kind === 'beacon');
    assert.ok(stats.beacons >= 1, 'the page-hide beacon was sent');
    let accepted = null;
    if (metrics) {
      const count = (outcome) => {
        const m = new RegExp('^friction_gateway_events_total\\{outcome="' + outcome + '"\\} (\\d+)', 'm').exec(metrics);
        return m ? Number(m[1]) : 0;
      };
      accepted = count('accepted');
      assert.equal(count('rejected'), 0, 'the gateway rejected nothing');
      assert.equal(accepted, stats.sent, 'the gateway accepted every event the SDK sent, beacons included');
    }
    process.stdout.write('# gateway ' + gateway.eventsUrl + ': ' + batches.length + ' batches (' + beacons.length +
      ' by beacon), ' + accepted + ' events accepted, 0 rejected\n');
  });
});

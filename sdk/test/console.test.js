'use strict';
// The console in headless Chromium against `friction up` (docs/console.md): the admin logs in with
// the password `friction up` wrote to DATA_DIR/admin-password; a shopper rage-clicks the demo
// shop's "Pay" and the incident appears in the incidents list; its page shows the evidence; an
// engineer (made with `friction users create`) resolves it; a viewer has no button and gets 403
// when forcing the change; the audit log lists the login, the change and the refusal; logout ends
// the session; the login form works from the keyboard with labelled fields; the admin adds a Jira
// integration against the fake Jira, tests it (success), and tests it again once Jira no longer
// accepts its token (failure, 401); the audit page lists each of these and filters by action; and
// axe-core finds no serious or critical violation on the login, incidents, incident, users,
// integrations, audit, keys, tokens, rules, analytics and live pages.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { startServer } = require('./helpers/server');
const { launch, newPage } = require('./helpers/browser');
const { startGateway } = require('./helpers/gateway');
const { startFakeJira } = require('./helpers/fake-jira');

const JIRA = { email: 'console-e2e@example.com', token: 'jira-console-token-' + process.pid, projectKey: 'SHOP' };

// The incidents page updates itself (the live list): a new row must appear without a reload within
// LIVE_LIMIT_MS of the API having it.
const LIVE_LIMIT_MS = 1000;

const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

let server;
let browser;
let gateway;
let jira;

before(async () => {
  [server, browser, gateway, jira] = await Promise.all([startServer(), launch(), startGateway(), startFakeJira(JIRA)]);
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.close();
  if (gateway) await gateway.stop();
  if (jira) await jira.close();
});

/** Runs `friction args...` against the running console's data directory; its stdout. */
function friction(args) {
  const r = spawnSync(gateway.bin, args, { env: Object.assign({}, process.env, { FRICTION_DATA_DIR: gateway.dataDir,
    FRICTION_LOG: 'warn' }), encoding: 'utf8' });
  assert.equal(r.status, 0, 'friction ' + args.join(' ') + ': ' + r.stderr);
  return r.stdout;
}

/** Creates a user with `friction users create`; their generated password. */
function createUser(name, role) {
  const out = friction(['users', 'create', '--role', role, name]);
  const password = out.trim().split(/\s+/).pop();
  assert.ok(password && password.length >= 12, 'a generated password: ' + out);
  return password;
}

/** Waits until `check()` resolves truthy, polling; fails with `what()` after `limitMs`. */
async function until(check, limitMs, what, everyMs = 250) {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) assert.fail(typeof what === 'function' ? await what() : what);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Injects axe-core and fails on serious or critical violations, naming them. */
async function assertAccessible(page, what) {
  await page.evaluate(AXE);
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return { passes: r.passes.length, violations: r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5) })) };
  });
  assert.ok(result.passes > 0, what + ': axe-core ran its rules');
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad, [], what + ': axe-core finds serious or critical violations');
}

/** Every visible input, select and textarea has a label (or an aria-label). */
async function assertLabelled(page, what) {
  const unlabelled = await page.evaluate(() => Array.from(document.querySelectorAll('input, select, textarea'))
    .filter((e) => e.type !== 'hidden')
    .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby'))
    .map((e) => e.outerHTML));
  assert.deepEqual(unlabelled, [], what + ': inputs without a label');
}

/** Logs in through the form, typing and submitting from the keyboard. */
async function logIn(page, username, password) {
  await page.goto(gateway.consoleUrl + '/login');
  await page.fill('input[name=username]', username);
  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForURL('**/incidents**'), page.press('input[name=password]', 'Enter')]);
}

/** The page's CSRF token (every logged-in page's logout form carries it). */
function csrfOf(page) {
  return page.evaluate(() => document.querySelector('input[name=csrf]').value);
}

/** A same-origin request from the page with its session cookie; { status, body }. */
function fetchFromPage(page, url, init) {
  return page.evaluate(async ([u, i]) => {
    const r = await fetch(u, Object.assign({ redirect: 'manual', credentials: 'same-origin' }, i));
    return { status: r.status, body: await r.text() };
  }, [url, init]);
}

/** Waits for the incident's row to appear in the open incidents list, without a reload. */
async function waitForIncidentRow(page, id) {
  await page.waitForSelector(`[data-incident-id="${id}"]`, { timeout: LIVE_LIMIT_MS });
}

/** A shopper rage-clicks the demo shop's "Pay", which does nothing. */
async function rageClickPay() {
  const { context, page } = await newPage(browser, null);
  const shop = server.origin + '/examples/shop/';
  await page.goto(shop + 'index.html?endpoint=' + encodeURIComponent(gateway.endpoint) + '&key=' +
    encodeURIComponent(gateway.apiKey) + '&flush=200&user=console-e2e&release=console-e2e');
  await page.click('[data-friction-key="nav-cart"]');
  await page.waitForURL('**/cart.html');
  await page.click('[data-friction-key="proceed-to-checkout"]');
  await page.waitForURL('**/checkout.html');
  await page.evaluate(() => window.SHOP.ready);
  for (let i = 0; i < 5; i++) {
    await page.click('[data-friction-key="pay"]');
    await page.waitForTimeout(200);
  }
  const sent = page.waitForResponse((r) => r.url().startsWith(gateway.eventsUrl), { timeout: 5000 }).catch(() => null);
  await page.evaluate(() => window.Friction.flush());
  await sent;
  await context.close();
}

/** The integrations page: the admin adds a Jira integration against the fake Jira with the form,
 * "Test connection" succeeds; once Jira refuses the stored token (rotated there), it fails with 401. */
async function addAndTestJira(page) {
  await page.goto(gateway.consoleUrl + '/integrations');
  assert.equal(await page.locator('h1').textContent(), 'Integrations');
  await assertLabelled(page, 'integrations');
  await assertAccessible(page, 'integrations (empty)');
  const form = page.locator('#integration-create');
  await form.locator('input[name=name]').fill('jira-shop');
  await form.locator('select[name=kind]').selectOption('jira');
  await form.locator('input[name=url]').fill(jira.url);
  await form.locator('input[name=secret]').fill(JIRA.token);
  await form.locator('input[name=email]').fill(JIRA.email);
  await form.locator('input[name=project_key]').fill(JIRA.projectKey);
  await form.locator('input[name=issue_type_id]').fill('10001');
  await Promise.all([page.waitForURL('**/integrations?**'), form.locator('button[type=submit]').click()]);
  assert.match(await page.locator('#flash').textContent(), /Added jira integration jira-shop/);
  const row = page.locator('#integrations-table tr[data-integration-name="jira-shop"]');
  assert.equal(await row.count(), 1, 'the new integration is listed');
  assert.equal((await row.locator('td.state').textContent()).trim(), 'enabled');

  const testButton = page.getByRole('button', { name: 'Test connection jira-shop', exact: true });
  assert.equal(await testButton.getAttribute('data-action'), 'test');
  await testButton.click();
  const ok = page.locator('#test-result[data-ok="true"]');
  await ok.waitFor({ timeout: 10000 });
  assert.match(await ok.textContent(), /jira-shop: success/);
  await assertAccessible(page, 'integrations (a successful test)');

  // The token is revoked at Jira: the one the console stored is now refused.
  jira.setToken(JIRA.token + '-rotated');
  await page.getByRole('button', { name: 'Test connection jira-shop', exact: true }).click();
  const failed = page.locator('#test-result[data-ok="false"]');
  await failed.waitFor({ timeout: 10000 });
  assert.equal(await failed.getAttribute('data-status'), '401');
  assert.match(await failed.textContent(), /jira-shop: failed \(HTTP 401\)/);
  assert.ok((await page.locator('#test-message').textContent()).trim().length > 0, 'a failure message');
  assert.equal(await failed.getAttribute('role'), 'alert', 'the failure is announced');
  await assertAccessible(page, 'integrations (a failed test)');
}

/** The rows of the audit page: { action, outcome, actor, resource }. */
function auditRows(page) {
  return page.locator('#audit-table tbody tr[data-audit-id]').evaluateAll((rows) => rows.map((r) => ({
    action: r.getAttribute('data-action'), outcome: r.getAttribute('data-outcome'),
    actor: r.cells[1].textContent.trim(), resource: r.cells[3].textContent.trim() })));
}

/** The audit page lists the logins, the status change, the refusal, the integration's addition and
 * both tests; filtering by action leaves only that action's rows. */
async function checkAuditPage(page) {
  await page.goto(gateway.consoleUrl + '/audit');
  assert.equal(await page.locator('h1').textContent(), 'Audit log');
  await assertLabelled(page, 'audit');
  await assertAccessible(page, 'audit');
  const rows = await auditRows(page);
  const has = (actor, action, outcome) => rows.some((r) => r.actor === actor && r.action === action && r.outcome === outcome);
  const listing = JSON.stringify(rows);
  assert.ok(has('user:admin', 'login', 'success'), 'the admin\'s login: ' + listing);
  assert.ok(has('user:erin', 'login', 'success'), 'the engineer\'s login: ' + listing);
  assert.ok(has('user:erin', 'incident.update', 'success'), 'the status change: ' + listing);
  assert.ok(has('user:vic', 'incident.update', 'failure'), 'the refused change: ' + listing);
  assert.ok(has('user:admin', 'integration.add', 'success'), 'the integration\'s addition: ' + listing);
  assert.ok(has('user:admin', 'integration.test', 'success'), 'the successful test: ' + listing);
  assert.ok(has('user:admin', 'integration.test', 'failure'), 'the failed test: ' + listing);

  const filters = page.locator('#audit-filters');
  await filters.locator('input[name=action]').fill('integration.test');
  await Promise.all([page.waitForURL('**/audit?**action=integration.test**'),
    filters.locator('button[type=submit]').click()]);
  const tests = await auditRows(page);
  assert.equal(tests.length, 2, 'only the two tests: ' + JSON.stringify(tests));
  assert.ok(tests.every((r) => r.action === 'integration.test' && r.actor === 'user:admin'), JSON.stringify(tests));
  assert.deepEqual(tests.map((r) => r.outcome).sort(), ['failure', 'success']);
  assert.equal(await filters.locator('input[name=action]').inputValue(), 'integration.test', 'the filter stays shown');
  await assertAccessible(page, 'audit (filtered)');
}

describe('the console in a browser', () => {
  it('login, a new incident, its evidence, roles, an integration and its tests, the audit log, logout, keyboard and accessibility', async (t) => {
    if (!gateway.consoleUrl || !gateway.dataDir) {
      t.skip('an external gateway (FRICTION_SDK_GATEWAY) has no console to drive');
      return;
    }
    const adminPassword = fs.readFileSync(path.join(gateway.dataDir, 'admin-password'), 'utf8').trim();
    assert.match(gateway.log(), /admin password:/, 'friction up says where the admin password is');

    // The login page: labelled fields, reachable with Tab in order, and accessible.
    const { context: adminContext, page } = await newPage(browser, null);
    await page.goto(gateway.consoleUrl + '/incidents');
    assert.match(page.url(), /\/login\?next=%2Fincidents$/);
    await assertLabelled(page, 'login');
    await assertAccessible(page, 'login');
    // From where the page puts the focus (the username field is autofocused), Tab moves on.
    const focused = () => page.evaluate(() => document.activeElement.getAttribute('name') ||
      document.activeElement.getAttribute('type') || document.activeElement.tagName.toLowerCase());
    const reached = [await focused()];
    for (let i = 0; i < 6 && !reached.includes('submit'); i++) {
      await page.keyboard.press('Tab');
      reached.push(await focused());
    }
    const order = ['username', 'password', 'submit'].map((n) => reached.indexOf(n));
    assert.ok(order.every((i) => i >= 0) && order[0] < order[1] && order[1] < order[2],
      'Tab reaches username, password and the button in order: ' + reached.join(', '));
    // Log in from the keyboard alone.
    await page.focus('input[name=username]');
    await page.keyboard.type('admin');
    await page.keyboard.press('Tab');
    await page.keyboard.type(adminPassword);
    await Promise.all([page.waitForURL('**/incidents'), page.keyboard.press('Enter')]);
    assert.equal(await page.locator('h1').textContent(), 'Incidents');

    // A shopper rage-clicks: the incident comes to the list.
    await rageClickPay();
    const incident = await until(async () => {
      const r = await fetchFromPage(page, '/v1/incidents?limit=200');
      assert.equal(r.status, 200, r.body);
      return JSON.parse(r.body).incidents.find((i) => i.elementKey === 'pay' && i.kind === 'rage_click');
    }, 120000, async () => 'no rage-click incident on "pay" within 120 s\n' + gateway.log());
    await waitForIncidentRow(page, incident.id);
    await assertLabelled(page, 'incidents');
    await assertAccessible(page, 'incidents');

    // Its page: the evidence of the session.
    await Promise.all([page.waitForURL('**/incidents/' + incident.id),
      page.click(`[data-incident-id="${incident.id}"] a`)]);
    const evidence = page.locator('section.sample');
    assert.ok((await evidence.count()) >= 1, 'an evidence sample');
    assert.match(await evidence.first().textContent(), /in session/);
    await assertAccessible(page, 'incident detail');

    // The users page (admin).
    await page.goto(gateway.consoleUrl + '/users');
    assert.equal(await page.locator('h1').textContent(), 'Users');
    await assertLabelled(page, 'users');
    await assertAccessible(page, 'users');

    // An engineer resolves it with the button.
    const engineer = createUser('erin', 'engineer');
    const viewer = createUser('vic', 'viewer');
    const { context: engineerContext, page: engineerPage } = await newPage(browser, null);
    await logIn(engineerPage, 'erin', engineer);
    await engineerPage.goto(gateway.consoleUrl + '/incidents/' + incident.id);
    await Promise.all([engineerPage.waitForURL('**changed=resolved'),
      engineerPage.click('button:text-is("Resolve")')]);
    assert.match(await engineerPage.locator('.badge').first().textContent(), /resolved/);
    await engineerContext.close();

    // A viewer sees no status button, and forcing the change is refused.
    const { context: viewerContext, page: viewerPage } = await newPage(browser, null);
    await logIn(viewerPage, 'vic', viewer);
    await viewerPage.goto(gateway.consoleUrl + '/incidents/' + incident.id);
    assert.equal(await viewerPage.locator(`form[action="/incidents/${incident.id}/status"]`).count(), 0);
    assert.equal(await viewerPage.locator('button:text-is("Reopen")').count(), 0);
    const csrf = await csrfOf(viewerPage);
    const forced = await fetchFromPage(viewerPage, '/incidents/' + incident.id + '/status', {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'status=open&csrf=' + encodeURIComponent(csrf) });
    assert.equal(forced.status, 403, forced.body);
    const api = await fetchFromPage(viewerPage, '/v1/incidents/' + incident.id, {
      method: 'PATCH', headers: { 'content-type': 'application/json', 'x-csrf-token': csrf },
      body: '{"status":"open"}' });
    assert.equal(api.status, 403, api.body);
    const still = await fetchFromPage(viewerPage, '/v1/incidents/' + incident.id);
    assert.equal(JSON.parse(still.body).status, 'resolved', 'the viewer changed nothing');
    await viewerContext.close();

    // The audit log, read by the admin's session.
    const audit = await fetchFromPage(page, '/v1/audit?limit=1000');
    assert.equal(audit.status, 200, audit.body);
    const entries = JSON.parse(audit.body).entries;
    const has = (actor, action, success) => entries.some((e) => e.actor === actor && e.action === action &&
      e.outcome === (success ? 'success' : 'failure'));
    assert.ok(has('user:erin', 'login', true), 'the engineer\'s login is audited');
    assert.ok(has('user:erin', 'incident.update', true), 'the change is audited');
    assert.ok(has('user:vic', 'incident.update', false), 'the refused change is audited');

    // Integrations, the audit page, and the other pages' accessibility.
    await addAndTestJira(page);
    await checkAuditPage(page);
    for (const p of ['/keys', '/tokens', '/rules', '/analytics', '/live']) {
      await page.goto(gateway.consoleUrl + p);
      assert.equal(new URL(page.url()).pathname, p, 'the admin opens ' + p);
      await assertLabelled(page, p);
      await assertAccessible(page, p);
    }

    // Logout ends the session: the old cookie is sent to the login page.
    const cookie = (await adminContext.cookies()).find((c) => c.name === 'friction_session');
    assert.ok(cookie && cookie.httpOnly && cookie.sameSite === 'Lax', 'an HttpOnly, SameSite=Lax session cookie');
    await Promise.all([page.waitForURL('**/login'), page.click('form[action="/logout"] button')]);
    const old = await fetch(gateway.consoleUrl + '/incidents', { headers: { cookie: 'friction_session=' + cookie.value },
      redirect: 'manual' });
    assert.equal(old.status, 303);
    assert.match(old.headers.get('location'), /^\/login/);
    await adminContext.close();
  });
});

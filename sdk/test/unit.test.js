'use strict';
// Unit tests of the SDK's pure helpers (Friction._internal), run in a bare VM context: no window,
// no document. Loading the SDK there must not throw, and init must do nothing.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const { webcrypto } = require('node:crypto');

const SOURCE = fs.readFileSync(path.join(__dirname, '..', 'friction.js'), 'utf8');

function load(extra) {
  const sandbox = Object.assign({ URL, crypto: webcrypto, console }, extra || {});
  vm.createContext(sandbox);
  vm.runInContext(SOURCE, sandbox, { filename: 'friction.js' });
  return sandbox.Friction;
}

const F = load();
const I = F._internal;
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('loads without a DOM; init and track do nothing there', () => {
  assert.equal(typeof F.version, 'string');
  assert.doesNotThrow(() => F.init({ apiKey: 'k', endpoint: 'http://x' }));
  assert.doesNotThrow(() => F.track('x'));
  assert.equal(F.sessionId(), null);
  assert.equal(F.stats().events, 0);
});

test('loading twice keeps the first instance', () => {
  const sandbox = { URL, crypto: webcrypto, console };
  vm.createContext(sandbox);
  vm.runInContext(SOURCE, sandbox);
  const first = sandbox.Friction;
  vm.runInContext(SOURCE, sandbox);
  assert.equal(sandbox.Friction, first);
});

test('uuid: v4 from crypto.randomUUID, and from the getRandomValues / Math.random fallbacks', () => {
  assert.match(I.uuid(), UUID_V4);
  const noRandomUUID = load({ crypto: { getRandomValues: (b) => webcrypto.getRandomValues(b) } })._internal;
  const noCrypto = load({ crypto: undefined })._internal;
  const seen = new Set();
  for (let i = 0; i < 200; i++) {
    for (const u of [noRandomUUID.uuid(), noCrypto.uuid()]) {
      assert.match(u, UUID_V4);
      seen.add(u);
    }
  }
  assert.equal(seen.size, 400);
});

test('maskText: letters and digits masked, whitespace collapsed, 64 characters at most', () => {
  assert.equal(I.maskText('  Pay  €12.50 now\n'), '*** €**.** ***');
  assert.equal(I.maskText('Jane Doe'), '**** ***');
  assert.equal(I.maskText('Ünïcödé 名前'), '******* **');
  assert.equal(I.maskText('x'.repeat(100)).length, 64);
  assert.equal(I.maskText('   '), undefined);
  assert.equal(I.maskText(undefined), undefined);
});

test('maskText: stepper and pager vocabulary is kept (the detector needs it), anything else is not', () => {
  for (const s of ['+', '-', '−', 'Next', 'prev', '‹ Previous', '>', '« ‹']) assert.equal(I.maskText(s), s);
  assert.equal(I.maskText('Next page'), '**** ****');
  assert.equal(I.maskText('Next 2'), '**** *');
});

test('scrubText: emails and Luhn-valid card numbers, not other numbers', () => {
  assert.equal(I.scrubText('mail jane.doe+x@mail.example.co.uk now'), 'mail [email] now');
  assert.equal(I.scrubText('card 4242 4242 4242 4242 ok'), 'card [card] ok');
  assert.equal(I.scrubText('card 4242-4242-4242-4242'), 'card [card]');
  assert.equal(I.scrubText('order 1234567890123456'), 'order 1234567890123456'); // not Luhn
  assert.equal(I.scrubText('id 12345'), 'id 12345');
  assert.ok(I.luhn('79927398713'));
  assert.ok(!I.luhn('79927398710'));
});

test('scrubFreeText: emails, cards and secret URL parameters inside messages and stacks', () => {
  assert.equal(I.scrubFreeText('GET https://api.example/v1?token=abc123&page=2 failed for jane@example.com'),
    'GET https://api.example/v1?token=[redacted]&page=2 failed for [email]');
  assert.equal(I.scrubFreeText('at f (https://cdn.example/app.js?v=3&api_key=k1:10:5)'),
    'at f (https://cdn.example/app.js?v=3&api_key=[redacted]:10:5)');
  assert.equal(I.scrubFreeText('x=1 and y'), 'x=1 and y');
});

test('stripUrl: secret query parameters removed, the rest kept as written', () => {
  const s = (u, extra) => I.stripUrl(u, 'https://shop.example/cart', extra);
  assert.equal(s('https://a.example/p?q=shoes&page=2'), 'https://a.example/p?q=shoes&page=2');
  assert.equal(s('https://a.example/p?token=abc&q=shoes'), 'https://a.example/p?q=shoes');
  assert.equal(s('https://a.example/p?access_token=1&id_token=2&api_key=3&apiKey=4&password=5&code=6'),
    'https://a.example/p');
  assert.equal(s('https://a.example/p?sessionid=1&PHPSESSID=2&x=1'), 'https://a.example/p?x=1');
  assert.equal(s('https://a.example/p?contact=jane%40example.com&x=1'), 'https://a.example/p?x=1');
  assert.equal(s('https://a.example/p?n=4242424242424242'), 'https://a.example/p');
  assert.equal(s('https://a.example/p?t=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig'), 'https://a.example/p');
  assert.equal(s('https://a.example/p?ref=home&promo=x', ['promo']), 'https://a.example/p?ref=home');
});

test('stripUrl: credentials, fragments, paths, special schemes, relative URLs', () => {
  const s = (u) => I.stripUrl(u, 'https://shop.example/cart/');
  assert.equal(s('https://user:pw@a.example/x'), 'https://a.example/x');
  assert.equal(s('https://a.example/cb#access_token=zz&state=1&tab=2'), 'https://a.example/cb#tab=2');
  assert.equal(s('https://a.example/app#/orders?token=1&x=2'), 'https://a.example/app#/orders?x=2');
  assert.equal(s('https://a.example/app#/orders'), 'https://a.example/app#/orders');
  assert.equal(s('https://a.example/users/jane@example.com/edit'), 'https://a.example/users/[email]/edit');
  assert.equal(s('mailto:jane@example.com?subject=hi'), 'mailto:');
  assert.equal(s('tel:+15551234567'), 'tel:');
  assert.equal(s('javascript:void(0)'), 'javascript:');
  assert.equal(s('../help?x=1&token=2'), 'https://shop.example/help?x=1');
  assert.equal(s(''), undefined);
  assert.equal(I.stripUrl('not a url jane@example.com'), 'not a url [email]');
});

test('isGeneratedId: framework ids are rejected, readable ids kept', () => {
  for (const id of ['ember1234', ':r1:', 'react-select-2-input', 'mui-12', 'radix-:R1:', '1abc', 'x-9f8e7d6c',
    '3f2504e0-4f89-11d3-9a0c-0305e82c3301', 'headlessui-menu-button-1', 'a b', 'uid-7', 'kq8zt2mxp4wd9']) {
    assert.ok(I.isGeneratedId(id), id);
  }
  for (const id of ['checkout', 'pay-button', 'add_to_cart', 'step2', 'h1-title', 'mainNav']) {
    assert.ok(!I.isGeneratedId(id), id);
  }
});

test('isStableClass: CSS-in-JS hashes and state classes are not stable', () => {
  for (const c of ['btn', 'product-card', 'carousel__next']) assert.ok(I.isStableClass(c), c);
  for (const c of ['css-1a2b3c', 'sc-bdVaJa', 'jsx-123456', 'is-active', 'active', 'selected', '_x1', 'a1b2c3d4'])
    assert.ok(!I.isStableClass(c), c);
});

test('lengthBucket: power-of-two lower bounds as strings', () => {
  const cases = [[0, '0'], [1, '1'], [2, '2'], [3, '2'], [4, '4'], [7, '4'], [8, '8'], [19, '16'], [100, '64'],
    [5000, '1024'], [-3, '0'], ['x', '0']];
  for (const [n, b] of cases) assert.equal(I.lengthBucket(n), b, String(n));
});

test('parseRetryAfter: seconds or an HTTP date', () => {
  assert.equal(I.parseRetryAfter('3'), 3);
  assert.equal(I.parseRetryAfter(' 0 '), 0);
  const now = Date.parse('2024-01-15T10:00:00Z');
  assert.equal(I.parseRetryAfter('Mon, 15 Jan 2024 10:00:05 GMT', now), 5);
  assert.equal(I.parseRetryAfter('Mon, 15 Jan 2024 09:00:00 GMT', now), 0);
  assert.equal(I.parseRetryAfter('soon'), null);
  assert.equal(I.parseRetryAfter(null), null);
});

test('backoffMs: exponential with jitter, capped', () => {
  assert.equal(I.backoffMs(1, 60000, 0.5), 1000);
  assert.equal(I.backoffMs(2, 60000, 0.5), 2000);
  assert.equal(I.backoffMs(4, 60000, 0.5), 8000);
  assert.equal(I.backoffMs(20, 60000, 0.5), 60000);
  assert.equal(I.backoffMs(1, 60000, 0), 750);
  assert.equal(I.backoffMs(1, 60000, 1), 1250);
});

test('errorFingerprint: stable across numbers, ids and quoted values; distinct across types and sites', () => {
  const stack1 = 'TypeError: x\n    at pay (https://shop.example/app.js?v=3:10:5)\n    at HTMLButtonElement.<anonymous>';
  const stack2 = 'TypeError: x\n    at pay (https://shop.example/app.js?v=4:12:9)';
  const a = I.errorFingerprint('TypeError', 'Cannot read "price" of order 123', stack1);
  const b = I.errorFingerprint('TypeError', 'Cannot read "total" of order 98765', stack2);
  assert.match(a, /^[0-9a-f]{8}$/);
  assert.equal(a, b);
  assert.notEqual(a, I.errorFingerprint('RangeError', 'Cannot read "price" of order 123', stack1));
  assert.notEqual(a, I.errorFingerprint('TypeError', 'Cannot read "price" of order 123',
    'TypeError: x\n    at other (https://shop.example/lib.js:1:1)'));
});

test('chunk and batchBody: bounded by bytes and by count; the body is the contract shape', () => {
  const jsons = Array.from({ length: 10 }, (_, i) => JSON.stringify({ i, pad: 'x'.repeat(100) }));
  const byBytes = I.chunk(jsons, 350, 100);
  assert.ok(byBytes.length >= 4);
  for (const c of byBytes) assert.ok(c.join(',').length <= 350);
  assert.deepEqual(Array.from(I.chunk(jsons, 1e6, 3), (c) => c.length), [3, 3, 3, 1]);
  assert.deepEqual(Array.from(byBytes.flat()), jsons);
  const body = JSON.parse(I.batchBody(jsons.slice(0, 2), 1700000000000));
  assert.equal(body.sentAt, 1700000000000);
  assert.equal(body.events.length, 2);
  assert.equal(body.events[1].i, 1);
});

test('eventsUrl: an origin or the full events URL', () => {
  assert.equal(I.eventsUrl('http://127.0.0.1:8080'), 'http://127.0.0.1:8080/v1/events');
  assert.equal(I.eventsUrl('http://127.0.0.1:8080/'), 'http://127.0.0.1:8080/v1/events');
  assert.equal(I.eventsUrl('https://gw.example/v1/events'), 'https://gw.example/v1/events');
  assert.equal(I.eventsUrl('https://gw.example/friction'), 'https://gw.example/friction/v1/events');
});

test('the SDK is small and dependency-free', () => {
  assert.ok(SOURCE.length < 64 * 1024, 'friction.js is ' + SOURCE.length + ' bytes');
  assert.ok(!/\brequire\(|\bimport\s/.test(SOURCE), 'no require/import');
});

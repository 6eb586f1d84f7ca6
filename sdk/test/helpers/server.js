'use strict';
// A tiny HTTP server for the browser tests. It serves the SDK (/friction.js), the test pages
// (/pages/), the demo shop (/examples/shop/) and a few API endpoints (/api/), and it is also the ingest
// endpoint: every POST /v1/events is recorded with its headers and body, validated against the
// gateway's JSON Schema (schemas/json/events.schema.json) and the gateway's extra rules, and
// answered 202 — or with whatever a test scripted (503 with Retry-After, 429, 400, ...).

const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const { validateBody } = require('./schema');

const SDK_DIR = path.resolve(__dirname, '..', '..');
const REPO = path.resolve(SDK_DIR, '..');
// The shop and the SDK at their repository paths, as any static server run at the repository root
// would serve them (the shop loads ../../sdk/friction.js).
const STATIC = {
  '/pages/': path.join(SDK_DIR, 'test', 'pages'),
  '/examples/shop/': path.join(REPO, 'examples', 'shop'),
};
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.svg': 'image/svg+xml', '.png': 'image/png' };

function sendFile(res, file) {
  fs.readFile(file, (err, data) => {
    if (err) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not found');
      return;
    }
    res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream',
      'Cache-Control': 'no-store' });
    res.end(data);
  });
}

function json(res, status, body, headers) {
  res.writeHead(status, Object.assign({ 'Content-Type': 'application/json' }, headers || {}));
  res.end(JSON.stringify(body));
}

async function startServer() {
  const requests = []; // every POST /v1/events
  const scripted = []; // answers for the next POSTs: { status, headers, body }
  const waiters = new Set();
  const retiredTabs = new Set(); // tab ids seen before the last reset()
  const late = []; // requests from retired tabs, arrived after a reset

  function notify() {
    for (const w of Array.from(waiters)) w();
  }

  const server = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://x');
    res.setHeader('Access-Control-Allow-Origin', req.headers.origin || '*');
    res.setHeader('Access-Control-Expose-Headers', 'retry-after');
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { 'Access-Control-Allow-Methods': 'POST, GET, OPTIONS',
        'Access-Control-Allow-Headers': 'content-type, x-api-key, authorization' });
      res.end();
      return;
    }
    if (u.pathname === '/v1/events' && req.method === 'POST') {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        let body = null;
        let parseError = null;
        try {
          body = JSON.parse(raw);
        } catch (e) {
          parseError = e.message;
        }
        const problems = parseError ? ['not JSON: ' + parseError] : validateBody(body);
        // A page of an earlier test (closed by its afterEach) may deliver its page-hide beacon after
        // the reset: such a request is answered 202 but kept out of this test's record and script.
        const tabs = body && Array.isArray(body.events) ? body.events.map((e) => e && e.tabId) : [];
        const isLate = tabs.length > 0 && tabs.every((t) => retiredTabs.has(t));
        const answer = !isLate && scripted.length ? scripted.shift() : null;
        const status = answer ? answer.status : 202;
        const rec = {
          t: Date.now(),
          url: req.url,
          query: Object.fromEntries(u.searchParams),
          headers: req.headers,
          contentType: String(req.headers['content-type'] || ''),
          raw,
          body,
          problems,
          status,
        };
        (isLate ? late : requests).push(rec);
        if (answer) {
          json(res, answer.status, answer.body || { error: { code: 'scripted', message: 'scripted answer' } },
            answer.headers);
        } else {
          const n = body && Array.isArray(body.events) ? body.events.length : 0;
          json(res, 202, { accepted: n, rejected: [] });
        }
        notify();
      });
      return;
    }
    if (u.pathname === '/friction.js' || u.pathname === '/sdk/friction.js') {
      return sendFile(res, path.join(SDK_DIR, 'friction.js'));
    }
    if (u.pathname.startsWith('/api/')) {
      const ms = Number(u.searchParams.get('ms') || 0);
      const reply = () => {
        if (u.pathname.startsWith('/api/fail')) return json(res, 500, { error: 'boom' });
        if (u.pathname.startsWith('/api/notfound')) return json(res, 404, { error: 'nope' });
        return json(res, 200, { ok: true, path: u.pathname });
      };
      req.resume();
      req.on('end', () => (ms ? setTimeout(reply, ms) : reply()));
      return;
    }
    for (const prefix of Object.keys(STATIC)) {
      if (u.pathname.startsWith(prefix)) {
        const rel = decodeURIComponent(u.pathname.slice(prefix.length)) || 'index.html';
        const file = path.resolve(STATIC[prefix], rel.endsWith('/') ? rel + 'index.html' : rel);
        if (!file.startsWith(STATIC[prefix])) return json(res, 403, { error: 'forbidden' });
        return sendFile(res, file);
      }
    }
    json(res, 404, { error: 'not found' });
  });
  server.keepAliveTimeout = 1000;
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = 'http://127.0.0.1:' + server.address().port;

  const api = {
    origin,
    requests,
    /** Answers the next POST /v1/events with these (in order), then 202 again. */
    script(...answers) {
      scripted.push(...answers);
    },
    reset() {
      for (const r of requests) {
        if (r.body && Array.isArray(r.body.events)) for (const e of r.body.events) if (e && e.tabId) retiredTabs.add(e.tabId);
      }
      requests.length = 0;
      late.length = 0;
      scripted.length = 0;
    },
    /** Every event recorded, in arrival order, each with `_req` (its request's index). */
    events() {
      const out = [];
      requests.forEach((r, i) => {
        if (r.body && Array.isArray(r.body.events)) {
          for (const e of r.body.events) out.push(Object.assign({ _req: i }, e));
        }
      });
      return out;
    },
    /** Resolves with the first truthy value of fn() (re-evaluated on each request), or rejects. */
    waitFor(fn, timeoutMs = 5000, what = 'condition') {
      return new Promise((resolve, reject) => {
        let done = false;
        const check = () => {
          if (done) return;
          let v;
          try {
            v = fn();
          } catch (e) {
            v = undefined;
          }
          if (v) {
            done = true;
            waiters.delete(check);
            clearTimeout(timer);
            resolve(v);
          }
        };
        const timer = setTimeout(() => {
          if (done) return;
          done = true;
          waiters.delete(check);
          reject(new Error('timed out after ' + timeoutMs + ' ms waiting for ' + what + '; events seen: ' +
            JSON.stringify(api.events().map((e) => e.eventType))));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    /** Waits for an event matching pred. */
    waitForEvent(pred, timeoutMs = 5000, what = 'event') {
      return api.waitFor(() => api.events().find(pred), timeoutMs, what);
    },
    /** Every schema or gateway-rule problem seen in any recorded body. */
    problems() {
      const out = [];
      requests.forEach((r, i) => r.problems.forEach((p) => out.push('request ' + i + ': ' + p)));
      late.forEach((r, i) => r.problems.forEach((p) => out.push('late request ' + i + ': ' + p)));
      return out;
    },
    close() {
      return new Promise((resolve) => {
        server.closeAllConnections && server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
  return api;
}

module.exports = { startServer, REPO, SDK_DIR };

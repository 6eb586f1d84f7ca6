/*! Friction browser SDK v0.1.0 | plain ES2020, no dependencies, no build step.
 *
 *   <script src="friction.js" data-api-key="KEY" data-endpoint="https://gateway.example"></script>
 * or
 *   Friction.init({ apiKey: 'KEY', endpoint: 'https://gateway.example', release: '1.4.2' });
 *
 * Captures the event types of the ingest contract (pageview, click, mutation, network, error, scroll,
 * selection, focus, visibility, input, submit, custom) and posts them in batches to
 * ENDPOINT/v1/events. Never sends input values; element text is masked; secret query parameters,
 * emails and card numbers are stripped before anything leaves the page. Never throws into the page.
 * See sdk/README.md.
 */
(function (root) {
  'use strict';

  if (!root) return;
  if (root.Friction && root.Friction.version) return; // loaded twice: keep the first

  const VERSION = '0.1.0';
  const win = typeof window !== 'undefined' ? window : undefined;
  const doc = typeof document !== 'undefined' ? document : undefined;

  const SESSION_KEY = 'friction.session';
  const TAB_KEY = 'friction.tab';
  const LAST_URL_KEY = 'friction.lastUrl';

  const DEFAULTS = {
    apiKey: '',
    endpoint: '',
    release: undefined,
    userId: undefined,
    sampleRate: 1,
    maskText: true,
    flushAt: 20, // events: send a batch as soon as this many are waiting
    flushInterval: 1000, // ms: or this long after the first waiting event
    maxQueue: 1000, // events kept while the gateway cannot take them; oldest dropped beyond
    maxBatchEvents: 100,
    sessionTimeout: 30 * 60 * 1000,
    sessionMaxAge: 24 * 60 * 60 * 1000,
    initiatorWindow: 1000, // ms: a request started this soon after a click was started by it
    mutationWindow: 250, // ms: mutations are batched per window (and per click)
    scrollWindow: 250,
    selectionWindow: 250,
    inputDebounce: 500,
    maxRetryDelay: 60000,
    maxRetryAfter: 300000,
    maxAttempts: 6, // for network errors and 5xx other than 503; 429 and 503 retry while the queue holds
    secretParams: [], // extra query parameter names to strip
    ignoreUrls: [], // requests (strings contained in the URL, or RegExps) not reported as network events
    beforeSend: null, // (event) => event | null
    capture: {}, // e.g. { network: false, scroll: false }
    debug: false,
  };

  // ---------------------------------------------------------------------------------------------
  // pure helpers (exported as Friction._internal for the unit tests)

  function uuid() {
    const c = root.crypto;
    if (c && typeof c.randomUUID === 'function') {
      try {
        return c.randomUUID();
      } catch (_) {
        /* insecure context: fall through */
      }
    }
    const b = new Uint8Array(16);
    if (c && typeof c.getRandomValues === 'function') c.getRandomValues(b);
    else for (let i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => (x + 0x100).toString(16).slice(1));
    return h.slice(0, 4).join('') + '-' + h.slice(4, 6).join('') + '-' + h.slice(6, 8).join('') + '-' +
      h.slice(8, 10).join('') + '-' + h.slice(10).join('');
  }

  /** FNV-1a 32-bit, as 8 hex digits. */
  function fnv1a(s) {
    let h = 0x811c9dc5;
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    return ('0000000' + h.toString(16)).slice(-8);
  }

  function luhn(digits) {
    let sum = 0;
    let dbl = false;
    for (let i = digits.length - 1; i >= 0; i--) {
      let d = digits.charCodeAt(i) - 48;
      if (dbl) {
        d *= 2;
        if (d > 9) d -= 9;
      }
      sum += d;
      dbl = !dbl;
    }
    return sum % 10 === 0;
  }

  const EMAIL_RE = /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/g;
  const CARD_RE = /\b\d(?:[ -]?\d){12,18}\b/g;

  /** Replaces emails and (Luhn-valid) card numbers in free text. */
  function scrubText(s) {
    if (typeof s !== 'string' || !s) return s;
    return s
      .replace(EMAIL_RE, '[email]')
      .replace(CARD_RE, (m) => {
        const d = m.replace(/\D/g, '');
        return d.length >= 13 && d.length <= 19 && luhn(d) ? '[card]' : m;
      });
  }

  // Pager and stepper vocabulary is not personal data and the detector needs it (stepper
  // suppression), so a text made only of these tokens is sent as is even when masking.
  const SAFE_TOKENS = new Set(['+', '-', '−', '–', '<', '>', '‹', '›', '«', '»', '←', '→', '×', 'next', 'prev',
    'previous']);

  /** Masks element text: every letter and digit becomes `*`, whitespace collapsed, 64 chars max. */
  function maskText(s) {
    if (typeof s !== 'string') return undefined;
    const t = s.replace(/\s+/g, ' ').trim().slice(0, 64);
    if (!t) return undefined;
    const tokens = t.toLowerCase().split(' ');
    if (tokens.every((x) => SAFE_TOKENS.has(x))) return t;
    return t.replace(/[\p{L}\p{N}]/gu, '*');
  }

  const SECRET_EXACT = new Set(['key', 'code', 'sid', 'sig', 'pin', 'otp', 'cc', 'cvv', 'cvc', 'pwd', 'pass', 'ssn',
    'tel', 'jwt', 'mail', 'phone', 'mobile', 'iban', 'state', 'nonce', 'ticket', 'hash', 'secret', 'pw']);
  const SECRET_WORDS = ['token', 'secret', 'password', 'passwd', 'apikey', 'auth', 'session', 'email', 'signature',
    'credential', 'cardnumber', 'creditcard', 'accesskey', 'privatekey', 'sessid'];

  function isSecretParam(name, value, extra) {
    const n = String(name).toLowerCase().replace(/[^a-z0-9]/g, '');
    if (SECRET_EXACT.has(n) || SECRET_WORDS.some((w) => n.indexOf(w) >= 0)) return true;
    if (extra && extra.some((x) => String(x).toLowerCase().replace(/[^a-z0-9]/g, '') === n)) return true;
    const v = String(value || '');
    if (scrubText(v) !== v) return true; // an email or a card number as a value
    if (/^eyJ[\w-]+\.[\w-]+\./.test(v)) return true; // a JWT
    return false;
  }

  /** Free text that may hold URLs (error messages, stacks): secret query values redacted too. */
  function scrubFreeText(s) {
    if (typeof s !== 'string' || !s) return s;
    // (a value stops before a stack frame's :line:column)
    return scrubText(s).replace(/([?&#])([\w.%-]+)=([^&#\s)'"]*?)(?=(?::\d+){1,2}(?:[)\s]|$)|[&#\s)'"]|$)/g, (m, sep, k, v) =>
      isSecretParam(k, v) ? sep + k + '=[redacted]' : m);
  }

  function stripParams(search, extra) {
    // search without the leading '?'; keeps the original text when nothing is removed
    if (!search) return search;
    const pairs = search.split('&');
    const kept = pairs.filter((p) => {
      const i = p.indexOf('=');
      let k = i < 0 ? p : p.slice(0, i);
      let v = i < 0 ? '' : p.slice(i + 1);
      try {
        k = decodeURIComponent(k.replace(/\+/g, ' '));
        v = decodeURIComponent(v.replace(/\+/g, ' '));
      } catch (_) {
        /* keep raw */
      }
      return !isSecretParam(k, v, extra);
    });
    return kept.length === pairs.length ? search : kept.join('&');
  }

  /**
   * A URL safe to send: absolute, no credentials, secret query (and fragment) parameters removed,
   * emails and card numbers in the path replaced; `mailto:`/`tel:`/`sms:` reduced to the scheme.
   */
  function stripUrl(raw, base, extra) {
    if (raw == null || raw === '') return undefined;
    let u;
    try {
      u = new URL(String(raw), base || undefined);
    } catch (_) {
      return scrubText(String(raw)).slice(0, 2000);
    }
    const proto = u.protocol;
    if (proto === 'mailto:' || proto === 'tel:' || proto === 'sms:' || proto === 'data:' || proto === 'blob:' ||
      proto === 'javascript:') {
      return proto;
    }
    u.username = '';
    u.password = '';
    const search = u.search.slice(1);
    const s2 = stripParams(search, extra);
    if (s2 !== search) u.search = s2 ? '?' + s2 : '';
    if (u.hash.indexOf('=') >= 0) {
      const h = u.hash.slice(1);
      const q = h.indexOf('?');
      const h2 = q >= 0 ? h.slice(0, q + 1) + stripParams(h.slice(q + 1), extra) : stripParams(h, extra);
      if (h2 !== h) u.hash = h2.replace(/\?$/, '');
    }
    let path = u.pathname;
    let decoded = path;
    try {
      decoded = decodeURIComponent(path);
    } catch (_) {
      /* keep */
    }
    const scrubbed = scrubText(decoded);
    if (scrubbed !== decoded) u.pathname = scrubbed;
    return u.href.slice(0, 2000);
  }

  /** Ids that frameworks generate (they change between renders or deploys): not stable keys. */
  function isGeneratedId(id) {
    if (!id || typeof id !== 'string') return true;
    if (id.length > 64) return true;
    if (/^\d/.test(id) || /\d{3,}/.test(id) || /[:\s]/.test(id)) return true;
    if (/^(ember|ext-gen|react-|mui-|radix-|headlessui-|rc-|__|yui_|gwt-|j_id|uid-|ng-|vue-|svelte-|auto-|tmp-)/i
      .test(id)) return true;
    if (/[0-9a-f]{6,}/i.test(id) && /\d/.test(id)) return true;
    if (/^[a-z0-9_-]{12,}$/i.test(id) && /\d/.test(id) && /[a-z]/i.test(id) && !/[-_]/.test(id)) return true;
    return false;
  }

  const STATE_CLASS = /^(active|is-.*|has-.*|hover|hovered|focus|focused|focus-visible|selected|open|opened|closed|disabled|enabled|visible|hidden|show|shown|collapsed|expanded|loading|loaded|current|checked|pressed|ng-.*)$/i;

  function isStableClass(c) {
    if (!c || c.length > 40) return false;
    if (/^(css|sc|jsx|emotion|svelte|jss|makeStyles|styled)-/i.test(c) || /^_/.test(c)) return false;
    if (/\d{3,}/.test(c) || (/[0-9a-f]{5,}/i.test(c) && /\d/.test(c))) return false;
    if (!/^[A-Za-z][\w-]*$/.test(c)) return false;
    return !STATE_CLASS.test(c);
  }

  /** Power-of-two lower bound of a length, as a string: 0, 1, 2, 4, 8, ... 1024. */
  function lengthBucket(n) {
    n = Math.max(0, Math.floor(Number(n) || 0));
    if (n === 0) return '0';
    let b = 1;
    while (b * 2 <= n && b < 1024) b *= 2;
    return String(b);
  }

  /** Seconds from a Retry-After header (delta seconds or HTTP date), or null. */
  function parseRetryAfter(value, nowMs) {
    if (value == null || value === '') return null;
    const v = String(value).trim();
    if (/^\d+(\.\d+)?$/.test(v)) return Number(v);
    const t = Date.parse(v);
    if (isNaN(t)) return null;
    return Math.max(0, (t - (nowMs || Date.now())) / 1000);
  }

  /** Exponential backoff with jitter: 1 s, 2 s, 4 s, ... capped. */
  function backoffMs(attempt, capMs, rnd) {
    const base = Math.min(capMs || 60000, 1000 * Math.pow(2, Math.max(0, attempt - 1)));
    const r = typeof rnd === 'number' ? rnd : Math.random();
    return Math.round(base * (0.75 + 0.5 * r));
  }

  function normalizeMessage(m) {
    return String(m || '')
      .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '<uuid>')
      .replace(/0x[0-9a-f]+|\b[0-9a-f]{8,}\b/gi, '<hex>')
      .replace(/\d+(\.\d+)?/g, '<n>')
      .replace(/(["'`]).*?\1/g, '<s>')
      .slice(0, 300);
  }

  function topFrame(stack) {
    if (!stack) return '';
    const lines = String(stack).split('\n');
    for (const line of lines) {
      if (/\bat\b|@/.test(line) && /:\d+/.test(line)) {
        return line.trim().replace(/\?[^:)\s]*/g, '').replace(/:\d+(:\d+)?/g, '').slice(0, 200);
      }
    }
    return '';
  }

  /** Groups the same error across sessions: type, message without numbers/ids/strings, top frame. */
  function errorFingerprint(type, message, stack) {
    return fnv1a(String(type || 'Error') + '|' + normalizeMessage(message) + '|' + topFrame(stack));
  }

  /** Splits serialized events into bodies of at most maxBytes (and maxEvents). */
  function chunk(jsons, maxBytes, maxEvents) {
    const out = [];
    let cur = [];
    let size = 0;
    for (const j of jsons) {
      if (cur.length && (size + j.length + 1 > maxBytes || cur.length >= maxEvents)) {
        out.push(cur);
        cur = [];
        size = 0;
      }
      cur.push(j);
      size += j.length + 1;
    }
    if (cur.length) out.push(cur);
    return out;
  }

  function batchBody(jsons, sentAt) {
    return '{"sentAt":' + sentAt + ',"events":[' + jsons.join(',') + ']}';
  }

  function eventsUrl(endpoint) {
    const e = String(endpoint || '').replace(/\/+$/, '');
    return /\/v1\/events$/.test(e) ? e : e + '/v1/events';
  }

  const internal = {
    uuid, fnv1a, luhn, scrubText, scrubFreeText, maskText, stripUrl, isSecretParam, isGeneratedId, isStableClass, lengthBucket,
    parseRetryAfter, backoffMs, normalizeMessage, errorFingerprint, chunk, batchBody, eventsUrl,
  };

  // ---------------------------------------------------------------------------------------------
  // the live SDK

  let opts = null; // set by init
  let started = false;
  let userId;
  let tabId;
  let viewId;
  let currentHref = '';
  let urlCache = { href: null, url: '', route: '' };
  let lastClick = null; // { id, t, el, raw }
  let lastPointerDown = null; // { el, raw, t }
  let pendingDisabled = null;
  let warned = {};
  const memStore = {};
  const stats = { events: 0, sent: 0, batches: 0, beacons: 0, retries: 0, dropped: 0, failed: 0, rejected: 0,
    lastStatus: null };

  // ---- transport state
  let queue = []; // serialized events waiting
  let inflight = null; // { jsons, promise }
  let flushTimer = null;
  let flushSoon = false; // flushTimer is a 0 ms timer
  let retryTimer = null;
  let attempts = 0;
  let nativeFetch = null;
  let url = '';

  function log() {
    if (opts && opts.debug && root.console) root.console.log.apply(root.console, ['[friction]'].concat([].slice.call(arguments)));
  }

  function warnOnce(key, msg) {
    if (warned[key]) return;
    warned[key] = true;
    try {
      root.console && root.console.warn('[friction] ' + msg);
    } catch (_) {
      /* ignore */
    }
  }

  /** Wraps a handler so that nothing it does can throw into the host page. */
  function guard(fn) {
    return function () {
      try {
        return fn.apply(this, arguments);
      } catch (e) {
        log('internal error', e);
        return undefined;
      }
    };
  }

  const storages = {};

  /** localStorage / sessionStorage when usable (probed once), else null: memory only. */
  function storage(kind) {
    if (!(kind in storages)) {
      try {
        const s = root[kind];
        const k = '__friction_probe';
        s.setItem(k, '1');
        s.removeItem(k);
        storages[kind] = s;
      } catch (_) {
        storages[kind] = null;
      }
    }
    return storages[kind];
  }

  function storeGet(kind, key) {
    const s = storage(kind);
    try {
      return s ? s.getItem(key) : memStore[kind + key] || null;
    } catch (_) {
      return memStore[kind + key] || null;
    }
  }

  function storeSet(kind, key, value) {
    memStore[kind + key] = value;
    const s = storage(kind);
    try {
      if (s) s.setItem(key, value);
    } catch (_) {
      /* full or blocked: memory only */
    }
  }

  // ---- sessions: kept in localStorage (shared by the tabs of an origin), renewed after 30 minutes
  // of inactivity or 24 hours. Only user activity extends a session; background events (mutations,
  // requests) never start or extend one.

  function readSession() {
    try {
      const s = JSON.parse(storeGet('localStorage', SESSION_KEY) || 'null');
      return s && typeof s.id === 'string' && typeof s.last === 'number' ? s : null;
    } catch (_) {
      return null;
    }
  }

  function session(activity) {
    const now = Date.now();
    let s = readSession();
    if (!s || now - s.last > opts.sessionTimeout || now - (s.start || now) > opts.sessionMaxAge) {
      if (activity === 'bg') return null;
      s = { id: uuid(), start: now, last: now, sampled: Math.random() < opts.sampleRate };
      storeSet('localStorage', SESSION_KEY, JSON.stringify(s));
      log('new session', s.id, s.sampled ? '(sampled)' : '(not sampled)');
    } else if (activity === 'user' && now - s.last > 1000) {
      s.last = now;
      storeSet('localStorage', SESSION_KEY, JSON.stringify(s));
    }
    return s;
  }

  function currentUrl() {
    const href = win.location.href;
    if (urlCache.href !== href) {
      const l = win.location;
      let route = l.pathname;
      if (/^#!?\//.test(l.hash)) route += l.hash.split('?')[0];
      urlCache = { href, url: stripUrl(href, undefined, opts.secretParams), route: scrubText(route).slice(0, 1000) };
    }
    return urlCache;
  }

  /** Adds one event to the queue. `activity`: 'user' (extends the session), 'start' (may start a
   * session but does not extend it), 'bg' (dropped when no session is live). */
  function emit(type, fields, activity) {
    if (!started) return null;
    const s = session(activity || 'user');
    if (!s || !s.sampled) return null;
    const u = currentUrl();
    let ev = {
      eventId: uuid(),
      eventType: type,
      timestamp: Math.round(fields.timestamp || Date.now()),
      sessionId: s.id,
      tabId,
      viewId,
      url: u.url,
      route: u.route,
    };
    if (opts.release != null && opts.release !== '') ev.release = String(opts.release).slice(0, 200);
    if (userId != null && userId !== '') ev.userId = String(userId).slice(0, 200);
    for (const k in fields) if (k !== 'timestamp' && fields[k] !== undefined) ev[k] = fields[k];
    if (typeof opts.beforeSend === 'function') {
      try {
        ev = opts.beforeSend(ev);
      } catch (e) {
        log('beforeSend threw', e);
      }
      if (!ev) return null;
    }
    enqueue(JSON.stringify(ev));
    stats.events++;
    return ev;
  }

  // ---- transport

  function enqueue(json) {
    if (json.length > 60000) {
      stats.dropped++;
      warnOnce('big', 'an event over 60 KB was dropped');
      return;
    }
    queue.push(json);
    capQueue();
    if (queue.length >= opts.flushAt) {
      if (!flushSoon) {
        clearTimeout(flushTimer);
        flushTimer = setTimeout(guard(flush), 0);
        flushSoon = true;
      }
    } else if (!flushTimer) {
      flushTimer = setTimeout(guard(flush), opts.flushInterval);
    }
  }

  function capQueue() {
    if (queue.length > opts.maxQueue) {
      const n = queue.length - opts.maxQueue;
      queue.splice(0, n);
      stats.dropped += n;
      warnOnce('queue', 'the event queue is full (the gateway is not taking events); dropping the oldest ' +
        '(Friction.stats().dropped counts them)');
    }
  }

  function takeBatch(maxBytes) {
    const batches = chunk(queue.slice(0, opts.maxBatchEvents), maxBytes, opts.maxBatchEvents);
    const jsons = batches.length ? batches[0] : [];
    queue.splice(0, jsons.length);
    return jsons;
  }

  function flush() {
    if (flushTimer) {
      clearTimeout(flushTimer);
      flushTimer = null;
    }
    flushSoon = false;
    if (!started || inflight || retryTimer || !queue.length) return inflight ? inflight.promise : Promise.resolve();
    const jsons = takeBatch(900000);
    const body = batchBody(jsons, Date.now());
    const keepalive = body.length < 60000;
    const p = Promise.resolve()
      .then(() => nativeFetch(url, {
        method: 'POST',
        body,
        keepalive,
        credentials: 'omit',
        headers: { 'Content-Type': 'application/json', 'X-API-Key': opts.apiKey },
      }))
      .then((res) => done(jsons, res.status, res.headers.get('Retry-After'), res),
        (err) => done(jsons, 0, null, null, err))
      .catch((e) => log('flush failed', e));
    inflight = { jsons, promise: p };
    return p;
  }

  function done(jsons, status, retryAfter, res, err) {
    inflight = null;
    stats.lastStatus = status;
    if (status >= 200 && status < 300) {
      attempts = 0;
      stats.sent += jsons.length;
      stats.batches++;
      if (res && status === 202) {
        res.json().then((b) => {
          if (b && Array.isArray(b.rejected) && b.rejected.length) {
            stats.rejected += b.rejected.length;
            warnOnce('rejected', 'the gateway rejected ' + b.rejected.length + ' event(s): ' +
              JSON.stringify(b.rejected[0]));
          }
        }).catch(() => {});
      }
      schedule();
      return;
    }
    const throttled = status === 429 || status === 503;
    const retryable = throttled || status === 0 || status === 408 || (status >= 500 && status !== 501);
    if (retryable) {
      attempts++;
      if (!throttled && attempts >= opts.maxAttempts) {
        stats.failed += jsons.length;
        stats.dropped += jsons.length;
        warnOnce('retries', 'giving up on a batch after ' + attempts + ' attempts (last: ' +
          (status || (err && err.message) || 'network error') + ')');
        attempts = 0;
        schedule();
        return;
      }
      queue = jsons.concat(queue);
      capQueue();
      const ra = parseRetryAfter(retryAfter);
      const delay = ra != null ? Math.min(ra * 1000, opts.maxRetryAfter) : backoffMs(attempts, opts.maxRetryDelay);
      stats.retries++;
      log('status', status, '; retrying in', delay, 'ms');
      retryTimer = setTimeout(guard(() => {
        retryTimer = null;
        flush();
      }), delay);
      return;
    }
    // Any other 4xx: the batch will never be accepted; do not retry it.
    stats.failed += jsons.length;
    stats.dropped += jsons.length;
    attempts = 0;
    warnOnce('status' + status, 'the gateway answered ' + status + '; the batch was dropped, not retried');
    schedule();
  }

  function schedule() {
    if (!queue.length || flushTimer || retryTimer) return;
    flushSoon = queue.length >= opts.flushAt;
    flushTimer = setTimeout(guard(flush), flushSoon ? 0 : opts.flushInterval);
  }

  /** Page hide: everything waiting goes out now with sendBeacon (no headers: key in the query,
   * text/plain body); a failed batch waiting for its retry goes too, as this is the last chance. */
  function flushBeacon() {
    if (!started || !queue.length) return;
    if (flushTimer) {
      clearTimeout(flushTimer);
      flushTimer = null;
    }
    flushSoon = false;
    if (retryTimer) {
      clearTimeout(retryTimer);
      retryTimer = null;
      attempts = 0;
    }
    const beaconUrl = url + (url.indexOf('?') >= 0 ? '&' : '?') + 'api_key=' + encodeURIComponent(opts.apiKey);
    const parts = chunk(queue, 60000, opts.maxBatchEvents);
    queue = [];
    const nav = win.navigator;
    for (let i = 0; i < parts.length; i++) {
      const body = batchBody(parts[i], Date.now());
      let ok = false;
      try {
        ok = !!(nav && typeof nav.sendBeacon === 'function' && nav.sendBeacon(beaconUrl, body));
      } catch (_) {
        ok = false;
      }
      if (!ok) {
        try {
          nativeFetch(beaconUrl, { method: 'POST', body, keepalive: true, credentials: 'omit',
            headers: { 'Content-Type': 'text/plain' } }).catch(() => {});
          ok = true;
        } catch (_) {
          ok = false;
        }
      }
      if (ok) {
        stats.beacons++;
        stats.sent += parts[i].length;
      } else {
        queue = queue.concat(parts[i]);
      }
    }
  }

  // ---- elements

  const INTERACTIVE = 'a[href],button,input:not([type=hidden]),select,textarea,summary,label,option,' +
    '[role=button],[role=link],[role=menuitem],[role=menuitemcheckbox],[role=menuitemradio],[role=tab],' +
    '[role=option],[role=switch],[role=checkbox],[role=radio],[role=treeitem],[role=spinbutton],[role=slider],' +
    '[onclick],[contenteditable=""],[contenteditable=true]';

  function elementOf(node) {
    if (!node) return null;
    if (node.nodeType === 1) return node;
    return node.parentElement || null;
  }

  function eventTarget(ev) {
    let t = ev.target;
    try {
      const path = ev.composedPath && ev.composedPath();
      if (path && path.length && path[0] && path[0].nodeType) t = path[0];
    } catch (_) {
      /* keep target */
    }
    return elementOf(t);
  }

  function tagOf(el) {
    return String(el.tagName || '').toLowerCase();
  }

  function attr(el, name) {
    const v = el.getAttribute && el.getAttribute(name);
    return v == null ? null : String(v).trim();
  }

  /** The element a click is about: the closest interactive ancestor, else the closest element with
   * data-friction-key, else the element itself. */
  function resolveTarget(raw) {
    if (!raw || !raw.closest) return raw;
    return raw.closest(INTERACTIVE) || raw.closest('[data-friction-key]') || raw;
  }

  function isInteractive(el) {
    try {
      if (el.matches && el.matches(INTERACTIVE)) return true;
      if (attr(el, 'tabindex') != null && Number(attr(el, 'tabindex')) >= 0) return true;
      return win.getComputedStyle(el).cursor === 'pointer';
    } catch (_) {
      return false;
    }
  }

  function isDisabled(el) {
    if (el.disabled === true) return true;
    if (attr(el, 'aria-disabled') === 'true') return true;
    try {
      return !!(el.matches && el.matches(':disabled'));
    } catch (_) {
      return false;
    }
  }

  const IMPLICIT_ROLES = { a: 'link', button: 'button', select: 'combobox', textarea: 'textbox', summary: 'button',
    option: 'option', dialog: 'dialog', nav: 'navigation', img: 'img' };
  const INPUT_ROLES = { button: 'button', submit: 'button', reset: 'button', image: 'button', checkbox: 'checkbox',
    radio: 'radio', range: 'slider', number: 'spinbutton', search: 'searchbox' };

  function roleOf(el) {
    const r = attr(el, 'role');
    if (r) return r.split(/\s+/)[0].toLowerCase();
    const tag = tagOf(el);
    if (tag === 'a') return el.hasAttribute('href') ? 'link' : undefined;
    if (tag === 'input') return INPUT_ROLES[String(el.type).toLowerCase()] || 'textbox';
    return IMPLICIT_ROLES[tag];
  }

  function typeOf(el) {
    const tag = tagOf(el);
    if (tag === 'input' || tag === 'button' || tag === 'select' || tag === 'textarea') {
      const ty = String(el.type || '').toLowerCase() || undefined;
      // A button outside any form submits nothing, whatever its default type says.
      return tag === 'button' && ty === 'submit' && !el.form ? 'button' : ty;
    }
    return undefined;
  }

  function cssEscape(s) {
    return root.CSS && root.CSS.escape ? root.CSS.escape(s) : String(s).replace(/[^\w-]/g, (c) => '\\' + c);
  }

  function nthOfType(el) {
    const p = el.parentElement;
    if (!p) return '';
    let n = 0;
    let idx = 0;
    for (let c = p.firstElementChild; c; c = c.nextElementSibling) {
      if (c.tagName === el.tagName) {
        n++;
        if (c === el) idx = n;
      }
    }
    return n > 1 ? ':nth-of-type(' + idx + ')' : '';
  }

  /** The anchor of a path: an element with data-friction-key or a stable id. */
  function anchorOf(el) {
    const k = attr(el, 'data-friction-key');
    if (k) return '[data-friction-key="' + k.replace(/["\\]/g, '\\$&') + '"]';
    const id = el.id;
    if (id && !isGeneratedId(id)) return '#' + cssEscape(id);
    return null;
  }

  function stop(el) {
    if (!el || !el.parentElement) return true;
    const t = tagOf(el);
    return t === 'body' || t === 'html';
  }

  /** Text-free CSS path: tag, stable classes (when `classes`), role/type, nth-of-type; anchored at the
   * closest ancestor with a key or stable id. */
  function cssPath(el, classes, maxDepth) {
    const parts = [];
    let cur = el;
    for (let depth = 0; cur && cur.nodeType === 1 && depth < maxDepth; depth++) {
      const a = anchorOf(cur);
      if (a) {
        parts.unshift(depth === 0 || !classes ? a : tagOf(cur) + a);
        break;
      }
      if (stop(cur)) {
        if (!parts.length) parts.unshift(tagOf(cur));
        break;
      }
      let seg = tagOf(cur);
      if (classes && cur.classList) {
        const cls = Array.from(cur.classList).filter(isStableClass).slice(0, 2);
        if (cls.length) seg += '.' + cls.map(cssEscape).join('.');
      }
      const r = attr(cur, 'role');
      if (r) seg += '[role="' + r.replace(/["\\]/g, '') + '"]';
      if (tagOf(cur) === 'input' && cur.type) seg += '[type="' + String(cur.type).toLowerCase() + '"]';
      if (cur.isContentEditable && attr(cur, 'contenteditable') != null) seg += '[contenteditable]';
      seg += nthOfType(cur);
      parts.unshift(seg);
      cur = cur.parentElement;
    }
    return parts.join(' > ').slice(0, 500);
  }

  /** The stable element key: data-friction-key, else a stable id, else a text-free tag/role path. */
  function elementKey(el) {
    const k = attr(el, 'data-friction-key');
    if (k) return k.slice(0, 200);
    if (el.id && !isGeneratedId(el.id)) return '#' + el.id;
    return cssPath(el, false, 6);
  }

  function ignoreKinds(el) {
    const out = [];
    for (let c = el; c && c.nodeType === 1; c = c.parentElement) {
      if (c.hasAttribute('data-friction-ignore')) {
        const v = String(c.getAttribute('data-friction-ignore') || '').trim().toLowerCase();
        const toks = v ? v.split(/[\s,]+/) : ['all'];
        for (const t of toks) if (t && out.indexOf(t) < 0) out.push(t);
      }
    }
    return out;
  }

  function masked(el) {
    return opts.maskText !== false || !!(el.closest && el.closest('[data-friction-mask]'));
  }

  function isSafeText(t) {
    const x = String(t || '').replace(/\s+/g, ' ').trim().toLowerCase();
    return !!x && x.length <= 64 && x.split(' ').every((w) => SAFE_TOKENS.has(w));
  }

  function textOf(el) {
    const tag = tagOf(el);
    let visible = null;
    if (tag === 'input') {
      const ty = String(el.type).toLowerCase();
      visible = ty === 'submit' || ty === 'button' || ty === 'reset' ? el.value : null; // labels, not user input
    } else if (tag !== 'textarea' && tag !== 'select' && !el.isContentEditable && el.childElementCount <= 20) {
      visible = el.textContent; // not for big containers: their text says nothing about the click
    }
    // A stepper's "+" beats its aria-label "Increase quantity": the detector recognises the symbol.
    let t = visible && isSafeText(visible) ? visible : attr(el, 'aria-label') || visible;
    if (!t) return undefined;
    t = String(t).slice(0, 2000);
    if (masked(el)) return maskText(t);
    const s = scrubText(t.replace(/\s+/g, ' ').trim()).slice(0, 64);
    return s || undefined;
  }

  /** The `target` object of the contract, without text for text-entry fields. */
  function describe(el, raw, x, y, newTabHint) {
    const tag = tagOf(el);
    const t = {
      selector: cssPath(el, true, 6),
      key: elementKey(el),
      tag,
      role: roleOf(el),
      type: typeOf(el),
    };
    const text = textOf(el);
    if (text) t.text = text;
    if (x != null) {
      t.x = Math.round(x);
      t.y = Math.round(y);
    }
    t.interactive = isInteractive(el);
    t.disabled = isDisabled(el);
    const link = tag === 'a' ? el : el.closest && el.closest('a[href]');
    if (link && link.hasAttribute('href')) {
      t.href = stripUrl(link.getAttribute('href'), win.location.href, opts.secretParams);
      const target = String(link.getAttribute('target') || '').toLowerCase();
      t.newTab = !!newTabHint || (target !== '' && target !== '_self' && target !== '_parent' && target !== '_top');
      if (link.hasAttribute('download')) t.download = true;
    }
    const ign = ignoreKinds(raw || el);
    if (ign.length) t.ignore = ign;
    if (t.type === undefined) delete t.type;
    if (t.role === undefined) delete t.role;
    return t;
  }

  function modifiers(ev) {
    const m = [];
    if (ev.altKey) m.push('alt');
    if (ev.ctrlKey) m.push('ctrl');
    if (ev.metaKey) m.push('meta');
    if (ev.shiftKey) m.push('shift');
    return m;
  }

  // ---- clicks

  function recordClick(raw, el, info) {
    flushMutations();
    flushScroll();
    const newTabHint = info.button === 1 || info.modifiers.indexOf('ctrl') >= 0 || info.modifiers.indexOf('meta') >= 0 ||
      info.modifiers.indexOf('shift') >= 0;
    const target = describe(el, raw, info.x, info.y, newTabHint);
    if (info.disabled) target.disabled = true;
    const ev = emit('click', { target, button: Math.min(4, Math.max(0, info.button | 0)), modifiers: info.modifiers });
    lastClick = { id: ev ? ev.eventId : null, t: Date.now(), el, raw };
  }

  const onClick = guard(function (ev) {
    if (!ev.isTrusted) return; // element.click() from page code is not a user action
    if (ev.type === 'auxclick' && ev.button !== 1) return;
    const raw = eventTarget(ev);
    if (!raw) return;
    const el = resolveTarget(raw);
    if (pendingDisabled && pendingDisabled.el === el) pendingDisabled.clicked = true; // the click came after all
    // A click on a <label> is followed by one the browser dispatches on its control: one user click.
    if (lastClick && lastClick.el && tagOf(lastClick.el) === 'label' && Date.now() - lastClick.t < 100 &&
      (lastClick.el.control === el || lastClick.el.contains(el))) {
      return;
    }
    recordClick(raw, el, { x: ev.clientX, y: ev.clientY, button: ev.button, modifiers: modifiers(ev) });
  });

  const onPointerDown = guard(function (ev) {
    const raw = eventTarget(ev);
    if (!raw) return;
    lastPointerDown = { el: resolveTarget(raw), raw, t: Date.now() };
  });

  // Browsers dispatch no click on a disabled form control, but they do dispatch pointer events:
  // a pointerup on a disabled control is recorded as its click (disabled: true), unless a click
  // follows in the same task after all.
  const onPointerUp = guard(function (ev) {
    if (!ev.isTrusted || ev.button !== 0) return;
    const raw = eventTarget(ev);
    if (!raw) return;
    const el = resolveTarget(raw);
    if (!el || !isDisabled(el)) return;
    const info = { x: ev.clientX, y: ev.clientY, button: 0, modifiers: modifiers(ev), disabled: true };
    // One record per pointerup: a second disabled control pressed before this timer runs must
    // not cancel this one.
    const pending = { el, clicked: false };
    pendingDisabled = pending;
    setTimeout(guard(() => {
      if (pendingDisabled === pending) pendingDisabled = null;
      if (!pending.clicked) recordClick(raw, el, info);
    }), 0);
  });

  // ---- mutations

  let mut = null;
  const OVERLAY = 'dialog,[role=dialog],[role=alertdialog],[aria-modal=true],[role=alert],[role=status]';

  /** Whether a mutation record is "near" the clicked element: inside its subtree, within three
   * levels of it (a common ancestor at most three levels above both, never body), the clicked
   * element's removal, or an overlay/dialog/toast insertion. */
  function isNear(r, click) {
    const el = click.el;
    const node = elementOf(r.target);
    if (!node) return false;
    if (!el.isConnected) {
      for (const n of r.removedNodes || []) if (n === el || (n.contains && n.contains(el))) return true;
    }
    if (el.contains(node)) return true;
    const ancestors = [];
    for (let a = el, i = 0; a && i <= 3 && !stop(a); i++, a = a.parentElement) ancestors.push(a);
    for (let n = node, i = 0; n && i <= 3 && !stop(n); i++, n = n.parentElement) {
      if (ancestors.indexOf(n) >= 0) return true;
    }
    for (const n of r.addedNodes || []) {
      if (n.nodeType === 1 && (n.matches(OVERLAY) || n.querySelector(OVERLAY))) return true;
    }
    return false;
  }

  const onMutations = guard(function (records) {
    if (!started) return;
    const now = Date.now();
    for (const r of records) {
      if (r.type === 'attributes' && r.attributeName === 'aria-invalid' && attr(r.target, 'aria-invalid') === 'true') {
        emitInput(r.target, true);
      }
    }
    if (!mut) {
      mut = { count: 0, near: false, ts: now, timer: setTimeout(guard(flushMutations), opts.mutationWindow) };
    }
    mut.count += records.length;
    const click = lastClick && now - lastClick.t <= 7000 && lastClick.el ? lastClick : null;
    if (click && !mut.near) {
      for (const r of records) {
        if (isNear(r, click)) {
          mut.near = true;
          break;
        }
      }
    }
  });

  function flushMutations() {
    if (!mut) return;
    const m = mut;
    mut = null;
    clearTimeout(m.timer);
    emit('mutation', { timestamp: m.ts, mutation: { count: m.count, nearTarget: m.near } }, 'bg');
  }

  // ---- scroll and selection

  let scr = null;
  let lastWinY = 0;
  const elemScroll = new WeakMap();

  const onScroll = guard(function (ev) {
    const t = ev.target;
    let y;
    let dy;
    if (!t || t === doc || t === doc.documentElement || t === doc.body) {
      y = win.scrollY || 0;
      dy = y - lastWinY;
      lastWinY = y;
    } else if (t.nodeType === 1) {
      y = t.scrollTop || 0;
      const prev = elemScroll.has(t) ? elemScroll.get(t) : 0;
      elemScroll.set(t, y);
      dy = y - prev;
    } else {
      return;
    }
    if (!scr) scr = { dy: 0, y, ts: Date.now(), timer: setTimeout(guard(flushScroll), opts.scrollWindow) };
    scr.dy += dy;
    scr.y = y;
  });

  function flushScroll() {
    if (!scr) return;
    const s = scr;
    scr = null;
    clearTimeout(s.timer);
    emit('scroll', { timestamp: s.ts, scroll: { dy: Math.round(s.dy), y: Math.round(s.y) } });
  }

  // Only the length of the selection is ever read. The event is stamped with the time the length
  // first changed in its window (a triple-click's selection falls inside its burst).
  let sel = null;
  let lastSelLen = 0; // last length sent
  let seenSelLen = 0; // last length seen

  function selectionLength() {
    try {
      const g = win.getSelection && win.getSelection();
      return g && !g.isCollapsed ? String(g).length : 0;
    } catch (_) {
      return 0;
    }
  }

  const onSelection = guard(function () {
    const len = selectionLength();
    if (len === seenSelLen) return;
    seenSelLen = len;
    if (!sel) sel = { ts: Date.now(), peak: 0, timer: setTimeout(guard(flushSelection), opts.selectionWindow) };
    if (len > sel.peak) sel.peak = len;
  });

  function flushSelection() {
    if (!sel) return;
    const s = sel;
    sel = null;
    clearTimeout(s.timer);
    const len = selectionLength();
    seenSelLen = len;
    // A selection made and dropped within one window (select, then click elsewhere) still counts.
    const out = len === 0 && s.peak > 0 ? s.peak : len;
    if (out !== lastSelLen) {
      lastSelLen = out;
      emit('selection', { timestamp: s.ts, selection: { length: out } });
    }
    if (out !== len) sel = { ts: Date.now(), peak: 0, timer: setTimeout(guard(flushSelection), opts.selectionWindow) };
  }

  // ---- focus, visibility

  const onFocusIn = guard(function (ev) {
    const el = eventTarget(ev);
    if (!el || el === doc.body || el === doc.documentElement) return;
    // Focus that a click gives the element clicked is not a response to that click.
    const pd = lastPointerDown;
    if (pd && Date.now() - pd.t < 1000 && (pd.el === el || (pd.el && pd.el.contains(el)) || el.contains(pd.raw))) return;
    emit('focus', { target: { key: elementKey(el), tag: tagOf(el), role: roleOf(el), selector: cssPath(el, true, 6) } });
  });

  const onVisibility = guard(function () {
    const state = doc.visibilityState === 'hidden' ? 'hidden' : 'visible';
    flushMutations();
    flushScroll();
    flushInputs();
    emit('visibility', { visibility: { state } }, state === 'hidden' ? 'bg' : 'user');
    if (state === 'hidden') flushBeacon();
  });

  // ---- forms: lengths and validity, never values

  const pendingInputs = new Map();
  const lastInvalid = new WeakMap();

  function isField(el) {
    if (!el) return false;
    const tag = tagOf(el);
    return tag === 'input' || tag === 'textarea' || tag === 'select' || !!el.isContentEditable;
  }

  function isTextField(el) {
    const tag = tagOf(el);
    if (tag === 'textarea' || el.isContentEditable) return true;
    if (tag !== 'input') return false;
    return ['checkbox', 'radio', 'range', 'color', 'file', 'submit', 'button', 'reset', 'image', 'hidden']
      .indexOf(String(el.type).toLowerCase()) < 0;
  }

  function fieldKey(el) {
    const k = attr(el, 'data-friction-key');
    if (k) return k.slice(0, 200);
    const n = attr(el, 'name');
    if (n) return n.slice(0, 200);
    if (el.id && !isGeneratedId(el.id)) return '#' + el.id;
    return cssPath(el, false, 6);
  }

  function valueLength(el) {
    const tag = tagOf(el);
    const ty = String(el.type || '').toLowerCase();
    if (tag === 'input' && (ty === 'checkbox' || ty === 'radio')) return el.checked ? 1 : 0;
    if (tag === 'select') return el.selectedIndex >= 0 && el.value !== '' ? 1 : 0;
    if (tag === 'input' && ty === 'file') return el.files ? el.files.length : 0;
    if (el.isContentEditable) return (el.textContent || '').length;
    return typeof el.value === 'string' ? el.value.length : 0;
  }

  function isInvalid(el) {
    if (attr(el, 'aria-invalid') === 'true') return true;
    try {
      return el.matches(':user-invalid');
    } catch (_) {
      return false;
    }
  }

  function emitInput(el, forceInvalid, ts) {
    if (!isField(el)) return;
    const now = Date.now();
    if (forceInvalid) {
      const prev = lastInvalid.get(el);
      if (prev && now - prev < 30) return; // `invalid` and aria-invalid for the same attempt
      lastInvalid.set(el, now);
    }
    emit('input', {
      timestamp: ts || now,
      target: { key: fieldKey(el), tag: tagOf(el), type: typeOf(el), selector: cssPath(el, true, 6) },
      input: { fieldKey: fieldKey(el), lengthBucket: lengthBucket(valueLength(el)), invalid: !!forceInvalid || isInvalid(el) },
    });
  }

  function flushInput(el) {
    const p = pendingInputs.get(el);
    if (!p) return;
    pendingInputs.delete(el);
    clearTimeout(p.timer);
    emitInput(el, false, p.ts);
  }

  function flushInputs() {
    for (const el of Array.from(pendingInputs.keys())) flushInput(el);
  }

  const onInput = guard(function (ev) {
    const el = eventTarget(ev);
    if (!isField(el)) return;
    if (!isTextField(el)) {
      if (ev.type === 'change') emitInput(el, false);
      return;
    }
    if (ev.type === 'change') {
      flushInput(el);
      return;
    }
    const p = pendingInputs.get(el);
    if (p) clearTimeout(p.timer);
    const ts = p ? p.ts : Date.now();
    pendingInputs.set(el, { ts, timer: setTimeout(guard(() => flushInput(el)), opts.inputDebounce) });
  });

  const onFocusOut = guard(function (ev) {
    const el = eventTarget(ev);
    if (el && pendingInputs.has(el)) flushInput(el);
  });

  const onInvalid = guard(function (ev) {
    const el = eventTarget(ev);
    flushInput(el);
    emitInput(el, true);
  });

  const onSubmit = guard(function (ev) {
    const form = eventTarget(ev);
    if (!form) return;
    flushInputs();
    const k = attr(form, 'data-friction-key') || (form.id && !isGeneratedId(form.id) ? '#' + form.id : null) ||
      attr(form, 'name') || cssPath(form, false, 6);
    emit('submit', { submit: { formKey: k.slice(0, 200) }, target: { key: k.slice(0, 200), tag: 'form' } });
  });

  // ---- navigation

  function setLastUrl() {
    storeSet('sessionStorage', LAST_URL_KEY, currentUrl().url || '');
  }

  function pageview(kind, from) {
    const nav = { kind, to: currentUrl().url };
    if (from) nav.from = from;
    emit('pageview', { navigation: nav });
    setLastUrl();
  }

  function sameExceptHash(a, b) {
    return a.split('#')[0] === b.split('#')[0];
  }

  function onNavigate(kind) {
    const href = win.location.href;
    if (href === currentHref) return;
    const prev = currentHref;
    if (kind === 'pop' && sameExceptHash(prev, href)) kind = 'hash';
    flushMutations();
    flushScroll();
    flushInputs();
    const from = urlCache.href === prev ? urlCache.url : stripUrl(prev, undefined, opts.secretParams);
    currentHref = href;
    viewId = uuid();
    pageview(kind, from);
  }

  function patchHistory() {
    const H = win.history;
    if (!H) return;
    for (const [name, kind] of [['pushState', 'push'], ['replaceState', 'replace']]) {
      const orig = H[name];
      if (typeof orig !== 'function') continue;
      H[name] = function () {
        const r = orig.apply(this, arguments);
        guard(onNavigate)(kind);
        return r;
      };
    }
  }

  function loadKind() {
    try {
      const n = win.performance.getEntriesByType('navigation')[0];
      if (n && n.type === 'reload') return 'reload';
      if (n && n.type === 'back_forward') return 'pop';
    } catch (_) {
      /* old browser */
    }
    return 'load';
  }

  // ---- network

  let eventsPrefix = '';

  function ignoredUrl(abs) {
    if (eventsPrefix && abs.indexOf(eventsPrefix) === 0) return true; // the gateway itself
    return (opts.ignoreUrls || []).some((p) => (p instanceof RegExp ? p.test(abs) : abs.indexOf(String(p)) >= 0));
  }

  function startRequest(method, rawUrl) {
    let abs;
    try {
      abs = new URL(String(rawUrl), win.location.href).href;
    } catch (_) {
      abs = String(rawUrl);
    }
    if (ignoredUrl(abs)) return null;
    const now = Date.now();
    const click = lastClick && lastClick.id && now - lastClick.t <= opts.initiatorWindow ? lastClick.id : undefined;
    return { method: String(method || 'GET').toUpperCase().slice(0, 20), url: stripUrl(abs, undefined, opts.secretParams),
      t0: now, p0: perfNow(), initiator: click };
  }

  function perfNow() {
    return win.performance && win.performance.now ? win.performance.now() : Date.now();
  }

  function endRequest(info, status) {
    const network = { method: info.method, url: info.url, status: status == null ? null : status,
      durationMs: Math.max(0, Math.round(perfNow() - info.p0)) };
    if (info.initiator) network.initiator = info.initiator;
    emit('network', { timestamp: info.t0, network }, 'bg');
  }

  function patchFetch() {
    const orig = win.fetch;
    if (typeof orig !== 'function') return;
    win.fetch = function fetch(input, init) {
      let info = null;
      try {
        const method = (init && init.method) || (input && typeof input === 'object' && input.method) || 'GET';
        const u = typeof input === 'string' ? input : input && (input.href || input.url);
        info = startRequest(method, u);
      } catch (_) {
        info = null;
      }
      const p = orig.apply(this == null || this === root ? win : this, arguments);
      if (info) {
        try {
          p.then(guard((res) => endRequest(info, res.status)), guard(() => endRequest(info, null)));
        } catch (_) {
          /* not a promise */
        }
      }
      return p;
    };
  }

  function patchXhr() {
    const X = win.XMLHttpRequest;
    if (!X || !X.prototype) return;
    const proto = X.prototype;
    const meta = new WeakMap();
    const open = proto.open;
    const send = proto.send;
    proto.open = function (method, u) {
      try {
        meta.set(this, { method, url: u });
      } catch (_) {
        /* ignore */
      }
      return open.apply(this, arguments);
    };
    proto.send = function () {
      try {
        const m = meta.get(this);
        const info = m && startRequest(m.method, m.url);
        if (info) {
          const xhr = this;
          xhr.addEventListener('loadend', guard(() => endRequest(info, xhr.status || null)));
        }
      } catch (_) {
        /* ignore */
      }
      return send.apply(this, arguments);
    };
  }

  // ---- errors

  let errorBudget = { t: 0, n: 0 };

  function emitError(type, message, stack) {
    const now = Date.now();
    if (now - errorBudget.t > 60000) errorBudget = { t: now, n: 0 };
    if (++errorBudget.n > 100) return; // an error loop must not flood the queue
    const msg = scrubFreeText(String(message || '')).slice(0, 1000) || type || 'Error';
    const error = { type: String(type || 'Error').slice(0, 100), message: msg,
      fingerprint: errorFingerprint(type, message, stack) };
    if (stack) error.stack = scrubFreeText(String(stack)).slice(0, 4000);
    emit('error', { error }, 'start');
  }

  const onError = guard(function (ev) {
    if (!ev || (!ev.message && !ev.error)) return; // resource load errors
    const e = ev.error;
    const type = (e && e.name) || 'Error';
    emitError(type, (e && e.message) || ev.message, e && e.stack);
  });

  const onRejection = guard(function (ev) {
    const r = ev.reason;
    if (r instanceof Error || (r && typeof r === 'object' && 'message' in r)) {
      emitError(r.name || 'Error', r.message, r.stack);
    } else {
      let m;
      try {
        m = typeof r === 'string' ? r : JSON.stringify(r);
      } catch (_) {
        m = String(r);
      }
      emitError('UnhandledRejection', m, undefined);
    }
  });

  // ---- lifecycle

  const onPageHide = guard(function () {
    flushMutations();
    flushScroll();
    flushInputs();
    setLastUrl();
    flushBeacon();
  });

  const onPageShow = guard(function (ev) {
    if (!ev.persisted) return;
    // Restored from the back/forward cache: the script did not run again, but this is a new view.
    const from = storeGet('sessionStorage', LAST_URL_KEY) || undefined;
    currentHref = win.location.href;
    viewId = uuid();
    pageview('pop', from);
  });

  function capture(name) {
    return !opts.capture || opts.capture[name] !== false;
  }

  function init(options) {
    try {
      if (started) {
        warnOnce('init', 'Friction.init was called twice; the second call is ignored');
        return api;
      }
      if (!win || !doc) return api;
      opts = Object.assign({}, DEFAULTS, options || {});
      if (!opts.apiKey) {
        warnOnce('key', 'Friction.init needs an apiKey; nothing is captured');
        return api;
      }
      if (!opts.endpoint) {
        warnOnce('endpoint', 'Friction.init needs an endpoint (the gateway URL); nothing is captured');
        return api;
      }
      opts.sampleRate = Math.min(1, Math.max(0, Number(opts.sampleRate)));
      if (isNaN(opts.sampleRate)) opts.sampleRate = 1;
      for (const k of ['flushAt', 'flushInterval', 'maxQueue', 'maxBatchEvents']) {
        opts[k] = Math.max(k === 'flushInterval' ? 0 : 1, Number(opts[k]) || DEFAULTS[k]);
      }
      url = new URL(eventsUrl(opts.endpoint), win.location.href).href;
      eventsPrefix = url.replace(/\/v1\/events$/, '/v1/');
      userId = opts.userId;
      nativeFetch = win.fetch.bind(win);
      let t = storeGet('sessionStorage', TAB_KEY);
      if (!t) {
        t = uuid();
        storeSet('sessionStorage', TAB_KEY, t);
      }
      tabId = t;
      viewId = uuid();
      currentHref = win.location.href;
      lastWinY = win.scrollY || 0;
      started = true;

      // The view starts first, so that a click during loading already has a view.
      const kind = loadKind();
      let from;
      if (kind === 'load') from = doc.referrer ? stripUrl(doc.referrer, undefined, opts.secretParams) : undefined;
      else from = storeGet('sessionStorage', LAST_URL_KEY) || undefined;
      pageview(kind, from);

      const capOpt = { capture: true, passive: true };
      win.addEventListener('click', onClick, true);
      win.addEventListener('auxclick', onClick, true);
      win.addEventListener('pointerdown', onPointerDown, capOpt);
      win.addEventListener('pointerup', onPointerUp, capOpt);
      if (capture('mutation') && root.MutationObserver) {
        // The parser building the page is not a response to anything: observe once it is done.
        const observe = guard(() => new root.MutationObserver(onMutations).observe(doc.documentElement || doc, {
          childList: true, subtree: true, attributes: true, characterData: true,
        }));
        if (doc.readyState === 'loading') doc.addEventListener('DOMContentLoaded', observe, { once: true });
        else observe();
      }
      if (capture('scroll')) doc.addEventListener('scroll', onScroll, capOpt);
      if (capture('selection')) doc.addEventListener('selectionchange', onSelection, capOpt);
      if (capture('focus')) doc.addEventListener('focusin', onFocusIn, capOpt);
      doc.addEventListener('focusout', onFocusOut, capOpt);
      doc.addEventListener('visibilitychange', onVisibility, capOpt);
      if (capture('input')) {
        doc.addEventListener('input', onInput, capOpt);
        doc.addEventListener('change', onInput, capOpt);
        doc.addEventListener('invalid', onInvalid, capOpt);
        doc.addEventListener('submit', onSubmit, capOpt);
      }
      if (capture('navigation')) {
        patchHistory();
        win.addEventListener('popstate', guard(() => onNavigate('pop')));
        win.addEventListener('hashchange', guard(() => onNavigate('hash')));
      }
      win.addEventListener('pagehide', onPageHide, capOpt);
      win.addEventListener('pageshow', onPageShow, capOpt);
      if (capture('errors')) {
        win.addEventListener('error', onError);
        win.addEventListener('unhandledrejection', onRejection);
      }
      if (capture('network')) {
        patchFetch();
        patchXhr();
      }
      log('started', { endpoint: url, tabId, viewId });
    } catch (e) {
      log('init failed', e);
    }
    return api;
  }

  /** Sends everything waiting now; resolves once the queue is empty, or a retry is pending. */
  function flushNow() {
    if (!started) return Promise.resolve(false);
    flushMutations();
    flushScroll();
    flushSelection();
    flushInputs();
    let rounds = 0;
    const step = () => {
      if (!queue.length && !inflight) return Promise.resolve(true);
      if (retryTimer || rounds++ > 100) return Promise.resolve(false);
      const p = inflight ? inflight.promise : flush();
      return Promise.resolve(p).then(step);
    };
    return step().catch(() => false);
  }

  const api = {
    version: VERSION,
    init,
    /** A custom event: `Friction.track('checkout_started', { plan: 'pro' })`. */
    track: guard(function (name, properties) {
      if (!name) return;
      const f = { custom: { name: String(name).slice(0, 200) } };
      if (properties && typeof properties === 'object' && !Array.isArray(properties)) {
        try {
          const s = JSON.stringify(properties);
          if (s.length <= 8000) f.metadata = JSON.parse(scrubText(s));
        } catch (_) {
          /* not serializable: sent without */
        }
      }
      emit('custom', f);
    }),
    identify: guard(function (id) {
      userId = id == null ? undefined : String(id);
    }),
    flush: function () {
      try {
        return flushNow();
      } catch (_) {
        return Promise.resolve(false);
      }
    },
    sessionId: function () {
      const s = started ? readSession() : null;
      return s ? s.id : null;
    },
    stats: function () {
      return Object.assign({ queued: queue.length, inflight: inflight ? inflight.jsons.length : 0 }, stats);
    },
    _internal: internal,
  };

  root.Friction = api;

  // <script src=".../friction.js" data-api-key="..." data-endpoint="..."> starts itself.
  try {
    const cs = doc && doc.currentScript;
    const ds = cs && cs.dataset;
    if (ds && ds.apiKey) {
      let endpoint = ds.endpoint;
      if (!endpoint && cs.src) endpoint = new URL(cs.src, win.location.href).origin;
      const o = { apiKey: ds.apiKey, endpoint };
      if (ds.release) o.release = ds.release;
      if (ds.userId) o.userId = ds.userId;
      if (ds.sampleRate) o.sampleRate = Number(ds.sampleRate);
      if (ds.maskText) o.maskText = ds.maskText !== 'false';
      if (ds.flushInterval) o.flushInterval = Number(ds.flushInterval);
      if (ds.flushAt) o.flushAt = Number(ds.flushAt);
      if (ds.debug) o.debug = ds.debug !== 'false';
      init(o);
    }
  } catch (_) {
    /* never throw into the page */
  }
})(typeof globalThis !== 'undefined' ? globalThis : typeof window !== 'undefined' ? window : this);

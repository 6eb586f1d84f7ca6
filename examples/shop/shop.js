/* Friction demo shop: configuration, the in-browser mock backend, the SDK loader, and the cart.
 *
 * Every page loads this file first (a classic script in <head>). It
 *  1. reads the configuration from the query string (?endpoint=&key=&release=&user=&sdk=&api=&flush=),
 *     remembered in localStorage so that later pages and tabs keep it;
 *  2. installs a mock backend for the shop's own API (api/cart, api/search, api/checkout, api/coupon)
 *     as a fetch shim, so that any static server can serve the shop, and the slow and failing
 *     endpoints behave the same everywhere (?api=https://backend.example sends the requests there
 *     instead);
 *  3. loads the Friction SDK (../../sdk/friction.js, or ?sdk=URL) AFTER the shim, so the SDK's fetch
 *     instrumentation sees the shop's requests with their real statuses and durations;
 *  4. offers window.SHOP: the products, the cart, a toast, and `ready` (resolves once the SDK runs).
 */
(function () {
  'use strict';

  const CONFIG_KEY = 'friction-shop.config';
  const CART_KEY = 'friction-shop.cart';
  const here = document.currentScript ? document.currentScript.src : location.href;
  const SHOP_BASE = new URL('.', here).pathname; // e.g. /examples/shop/

  // ---- configuration -----------------------------------------------------------------------
  const params = new URLSearchParams(location.search);
  let saved = {};
  try {
    saved = JSON.parse(localStorage.getItem(CONFIG_KEY) || '{}') || {};
  } catch (_) {
    saved = {};
  }
  const cfg = Object.assign({ endpoint: 'http://127.0.0.1:8080', sdk: new URL('../../sdk/friction.js', here).href,
    release: 'shop-1.0.0' }, saved);
  for (const name of ['endpoint', 'key', 'release', 'user', 'sdk', 'api', 'flush']) {
    if (params.has(name)) cfg[name] = params.get(name);
  }
  try {
    localStorage.setItem(CONFIG_KEY, JSON.stringify(cfg));
  } catch (_) {
    /* private mode: this page only */
  }

  // ---- the mock backend ---------------------------------------------------------------------
  const realFetch = window.fetch.bind(window);
  const json = (status, body) => new Response(JSON.stringify(body), {
    status, headers: { 'Content-Type': 'application/json' } });
  const later = (ms, fn) => new Promise((resolve) => setTimeout(() => resolve(fn()), ms));

  const ROUTES = {
    // FAULT (slow_click): adding to the cart takes 3 s, with no feedback meanwhile.
    'POST cart': () => later(3000, () => json(200, { ok: true })),
    // FAULT (slow_click): search answers after 2.5 s.
    'GET search': () => later(2500, () => json(200, { results: ['Canvas tote', 'Ceramic mug'] })),
    // FAULT (error_click, network): the checkout service fails.
    'POST checkout': () => later(300, () => json(500, { error: 'payment service unavailable' })),
    // FAULT (error_click, network): the coupon service fails too (cart.html shows nothing).
    'POST coupon': () => later(300, () => json(500, { error: 'coupon service unavailable' })),
  };

  function apiUrl(path) {
    return cfg.api ? cfg.api.replace(/\/+$/, '') + '/api/' + path : SHOP_BASE + 'api/' + path;
  }

  if (!cfg.api) {
    window.fetch = function (input, init) {
      try {
        const u = new URL(typeof input === 'string' ? input : input.url || String(input), location.href);
        if (u.origin === location.origin && u.pathname.startsWith(SHOP_BASE + 'api/')) {
          const method = String((init && init.method) || (input && input.method) || 'GET').toUpperCase();
          const route = ROUTES[method + ' ' + u.pathname.slice((SHOP_BASE + 'api/').length)];
          return route ? route() : later(50, () => json(404, { error: 'no such endpoint' }));
        }
      } catch (_) {
        /* not ours */
      }
      return realFetch(input, init);
    };
  }

  // ---- products and cart ---------------------------------------------------------------------
  const PRODUCTS = {
    101: { name: 'Canvas tote', price: 19 },
    102: { name: 'Ceramic mug', price: 12 },
    103: { name: 'Notebook', price: 8 },
    // FAULT (error_click): product #999 has no price; adding it to the cart throws.
    999: { name: 'Gift card' },
  };

  function readCart() {
    try {
      return JSON.parse(localStorage.getItem(CART_KEY) || '{}') || {};
    } catch (_) {
      return {};
    }
  }

  function writeCart(cart) {
    localStorage.setItem(CART_KEY, JSON.stringify(cart));
    renderBadge();
  }

  function renderBadge() {
    const b = document.querySelector('[data-cart-count]');
    if (!b) return;
    const cart = readCart();
    b.textContent = String(Object.values(cart).reduce((n, q) => n + q, 0));
  }

  function money(n) {
    return '€' + n.toFixed(2);
  }

  function toast(text) {
    const t = document.createElement('div');
    t.className = 'toast';
    t.setAttribute('role', 'status');
    t.textContent = text;
    document.body.appendChild(t);
    setTimeout(() => t.remove(), 2500);
  }

  // ---- the SDK -------------------------------------------------------------------------------
  let resolveReady;
  const ready = new Promise((resolve) => {
    resolveReady = resolve;
  });

  function startSdk() {
    if (!window.Friction) {
      console.warn('[shop] the Friction SDK did not load from ' + cfg.sdk);
      resolveReady(false);
      return;
    }
    if (!cfg.key) {
      console.warn('[shop] no API key: open the shop with ?key=<api key>&endpoint=<gateway URL>');
      resolveReady(false);
      return;
    }
    window.Friction.init({
      apiKey: cfg.key,
      endpoint: cfg.endpoint,
      release: cfg.release,
      userId: cfg.user || undefined,
      flushInterval: Number(cfg.flush) || 1000,
    });
    resolveReady(true);
  }

  const script = document.createElement('script');
  script.src = cfg.sdk;
  script.onload = startSdk;
  script.onerror = () => {
    console.warn('[shop] could not load the Friction SDK from ' + cfg.sdk + ' (set ?sdk=URL)');
    resolveReady(false);
  };
  document.head.appendChild(script);

  document.addEventListener('DOMContentLoaded', renderBadge);

  window.SHOP = { cfg, PRODUCTS, apiUrl, readCart, writeCart, renderBadge, money, toast, ready };
})();

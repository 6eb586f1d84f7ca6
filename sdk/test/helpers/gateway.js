'use strict';
// The real gateway for the SDK's end-to-end test: FRICTION_SDK_GATEWAY (+ FRICTION_SDK_API_KEY) when
// set, otherwise `friction up` started here on free ports with a throwaway data directory
// (target/debug/friction, built with `cargo build -p friction-cli` only when missing).

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const { REPO } = require('./server');

function frictionBinary() {
  if (process.env.FRICTION_BIN) return process.env.FRICTION_BIN;
  const target = process.env.CARGO_TARGET_DIR || path.join(REPO, 'target');
  const bin = path.join(target, 'debug', 'friction');
  if (!fs.existsSync(bin)) {
    // Cargo waits for the build directory lock itself when another build is running.
    process.stderr.write('# target/debug/friction is missing: cargo build -p friction-cli\n');
    const r = spawnSync('cargo', ['build', '-p', 'friction-cli'], { cwd: REPO, stdio: ['ignore', 'inherit', 'inherit'] });
    if (r.status !== 0) throw new Error('cargo build -p friction-cli failed (exit ' + r.status + ')');
  }
  return bin;
}

/** Starts the gateway (or takes the one named in the environment); `options.env` adds variables,
 * `options.before` lists `friction` commands to run in its data directory first. Resolves to
 * { eventsUrl, endpoint, apiKey, consoleUrl, adminToken, dataDir, bin, stop() } (the console fields are
 * null for an external gateway). */
async function startGateway(options = {}) {
  if (process.env.FRICTION_SDK_GATEWAY) {
    const apiKey = process.env.FRICTION_SDK_API_KEY;
    if (!apiKey) throw new Error('FRICTION_SDK_GATEWAY is set but FRICTION_SDK_API_KEY is not');
    const endpoint = process.env.FRICTION_SDK_GATEWAY.replace(/\/v1\/events\/?$/, '').replace(/\/+$/, '');
    return { endpoint, eventsUrl: endpoint + '/v1/events', apiKey, metricsUrl: null, stop: async () => {},
      log: () => '' };
  }
  const bin = frictionBinary();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'friction-sdk-e2e-'));
  // A clean environment: no DATABASE_URL or FRICTION_* from the caller may point it elsewhere.
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('FRICTION_') && k !== 'DATABASE_URL' && k !== 'CLICKHOUSE_URL') env[k] = v;
  }
  env.FRICTION_LOG = 'warn';
  Object.assign(env, options.env || {});
  // Commands to run in the data directory before `friction up` (e.g. `integrations add`).
  for (const args of options.before || []) {
    const r = spawnSync(bin, args, { env: Object.assign({ FRICTION_DATA_DIR: dataDir }, env), encoding: 'utf8' });
    if (r.status !== 0) throw new Error('friction ' + args.join(' ') + ' failed: ' + r.stderr);
  }
  const child = spawn(bin, ['up', '--data-dir', dataDir, '--gateway-addr', '127.0.0.1:0', '--console-addr',
    '127.0.0.1:0'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  // Never leave it behind, whatever way this process ends.
  const killChild = () => {
    if (child.exitCode == null && child.signalCode == null) child.kill('SIGTERM');
  };
  process.once('exit', killChild);
  let out = '';
  let err = '';
  const info = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error('friction up did not announce its gateway within 90 s')), 90000);
    let apiKey = null;
    let eventsUrl = null;
    function fail(e) {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(e.message + '\n--- stdout ---\n' + out + '\n--- stderr ---\n' + err));
    }
    function check() {
      const k = /api key: (\S+)/.exec(out);
      const g = /gateway: (http:\/\/\S+\/v1\/events)/.exec(err);
      if (k) apiKey = k[1];
      if (g) eventsUrl = g[1];
      // The console line follows the gateway's; wait for it too.
      if (apiKey && eventsUrl && /console: http:\/\/\S+/.test(err)) {
        clearTimeout(timer);
        resolve({ apiKey, eventsUrl });
      }
    }
    child.stdout.on('data', (d) => {
      out += d;
      check();
    });
    child.stderr.on('data', (d) => {
      err += d;
      check();
    });
    child.on('exit', (code, sig) => fail(new Error('friction up exited (' + (code ?? sig) + ') before it was up')));
    child.on('error', fail);
  });
  child.removeAllListeners('exit');
  const consoleOrigin = (/console: (http:\/\/[^/\s]+)/.exec(err) || [])[1] || null;
  let adminToken = null;
  try {
    adminToken = fs.readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim();
  } catch (_) {
    adminToken = null;
  }
  return {
    apiKey: info.apiKey,
    eventsUrl: info.eventsUrl,
    consoleUrl: consoleOrigin,
    adminToken,
    // The data directory (admin-password, the SQLite store) and the binary, for CLI commands
    // against the running console.
    dataDir,
    bin,
    metricsUrl: (/console: (http:\/\/[^/\s]+)/.exec(err) || [])[1] ? /console: (http:\/\/[^/\s]+)/.exec(err)[1] + '/metrics' : null,
    endpoint: info.eventsUrl.replace(/\/v1\/events$/, ''),
    log: () => '--- stdout ---\n' + out + '\n--- stderr ---\n' + err,
    async stop() {
      if (child.exitCode == null && child.signalCode == null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 15000);
        await exited;
        clearTimeout(t);
      }
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

module.exports = { startGateway };

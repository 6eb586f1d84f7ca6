'use strict';
// Validates a POST /v1/events body the way the gateway does: the published JSON Schema
// (schemas/json/events.schema.json, with ajv) plus the rules the gateway's validate.rs adds on top
// (a click needs a target; ids non-empty, at most 200 characters, no control characters;
// timestamps after 2000-01-01; no nulls where the gateway's types do not take them).

const fs = require('node:fs');
const path = require('node:path');
const Ajv2020 = require('ajv/dist/2020');
const addFormats = require('ajv-formats');

const SCHEMA_PATH = path.resolve(__dirname, '..', '..', '..', 'schemas', 'json', 'events.schema.json');
const schema = JSON.parse(fs.readFileSync(SCHEMA_PATH, 'utf8'));
const ajv = new Ajv2020({ allErrors: true, strict: false });
addFormats(ajv);
const validate = ajv.compile(schema);

const MIN_TS = 946684800000;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function checkId(name, v, out) {
  if (v === undefined) return;
  if (typeof v !== 'string' || !v) out.push(name + ': must be a non-empty string');
  else if (v.length > 200) out.push(name + ': longer than 200 characters');
  else if (/[\u0000-\u001f\u007f]/.test(v)) out.push(name + ': contains control characters');
}

function nulls(v, at, out) {
  if (v === null) {
    if (at !== '.network.status') out.push(at + ': null');
    return;
  }
  if (Array.isArray(v)) v.forEach((x, i) => nulls(x, at + '[' + i + ']', out));
  else if (typeof v === 'object') for (const k of Object.keys(v)) nulls(v[k], at + '.' + k, out);
}

/** Returns a list of problems (empty when the body is one the gateway accepts whole). */
function validateBody(body) {
  const out = [];
  if (!validate(body)) {
    for (const e of validate.errors.slice(0, 10)) out.push('schema: ' + e.instancePath + ' ' + e.message);
  }
  if (!body || !Array.isArray(body.events)) return out.concat('no events array');
  if (typeof body.sentAt !== 'number' || body.sentAt < MIN_TS) out.push('sentAt: missing or not epoch ms');
  body.events.forEach((e, i) => {
    const p = [];
    checkId('sessionId', e.sessionId, p);
    if (e.sessionId === undefined) p.push('sessionId: missing');
    for (const k of ['userId', 'tabId', 'viewId', 'release']) checkId(k, e[k], p);
    if (typeof e.timestamp !== 'number' || e.timestamp < MIN_TS || !Number.isInteger(e.timestamp)) {
      p.push('timestamp: not integer epoch ms');
    }
    if (e.eventId !== undefined && !UUID_RE.test(e.eventId)) p.push('eventId: not a UUID');
    if (e.eventType === 'click' && !e.target) p.push('target: required for click');
    nulls(e, '', p);
    for (const x of p) out.push('events[' + i + '] (' + e.eventType + ') ' + x);
  });
  return out;
}

module.exports = { validateBody, SCHEMA_PATH };

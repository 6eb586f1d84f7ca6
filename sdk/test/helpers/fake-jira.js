'use strict';
// A local fake of the Jira Cloud REST v3 endpoints the exporter calls, enforcing what the real API
// would: Basic auth with the account e-mail and API token, JSON bodies, an ADF description, a
// project key, an issue type id and labels on create. It records every issue so tests can count
// tickets per incident marker. `setToken(t)` changes the token it accepts (a token revoked or
// rotated at Jira: the stored one is then refused with 401).

const http = require('node:http');

function startFakeJira({ email, token, projectKey }) {
  const issues = []; // { id, key, fields }
  const problems = [];
  const basic = (t) => 'Basic ' + Buffer.from(email + ':' + t).toString('base64');
  let expectedAuth = basic(token);
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (d) => {
      raw += d;
    });
    req.on('end', () => {
      const answer = (status, body) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(body === undefined ? '' : JSON.stringify(body));
      };
      if (req.headers.authorization !== expectedAuth) {
        return answer(401, { errorMessages: ['Client must be authenticated to access this resource.'] });
      }
      let body = null;
      if (raw) {
        try {
          body = JSON.parse(raw);
        } catch (_) {
          return answer(400, { errorMessages: ['Unexpected character in the JSON body'] });
        }
      }
      const url = new URL(req.url, 'http://fake');
      if (req.method === 'GET' && url.pathname === '/rest/api/3/myself') {
        return answer(200, { accountId: 'fake-account', emailAddress: email });
      }
      if (req.method === 'POST' && url.pathname === '/rest/api/3/issue') {
        const f = (body && body.fields) || {};
        const errors = {};
        if (!f.project || f.project.key !== projectKey) errors.project = 'valid project is required';
        if (!f.issuetype || !f.issuetype.id) errors.issuetype = 'valid issue type is required';
        if (typeof f.summary !== 'string' || !f.summary) errors.summary = 'You must specify a summary of the issue.';
        if (!f.description || f.description.type !== 'doc' || f.description.version !== 1) {
          errors.description = 'Operation value must be an Atlassian Document';
        }
        if (!Array.isArray(f.labels) || f.labels.some((l) => /\s/.test(l))) errors.labels = 'labels without spaces';
        if (Object.keys(errors).length) {
          problems.push(errors);
          return answer(400, { errorMessages: [], errors });
        }
        const n = issues.length + 1;
        const issue = { id: String(10000 + n), key: projectKey + '-' + n, fields: f };
        issues.push(issue);
        return answer(201, { id: issue.id, key: issue.key, self: 'http://fake/rest/api/3/issue/' + issue.id });
      }
      if (req.method === 'POST' && url.pathname === '/rest/api/3/search/jql') {
        const m = /labels = "?([^"\s]+)"?/.exec((body && body.jql) || '');
        const found = issues.filter((i) => m && i.fields.labels.includes(m[1]));
        return answer(200, { issues: found.map((i) => ({ id: i.id, key: i.key, fields: { labels: i.fields.labels, status: { name: 'To Do' } } })) });
      }
      const comment = /^\/rest\/api\/3\/issue\/([^/]+)\/comment$/.exec(url.pathname);
      if (req.method === 'POST' && comment) return answer(201, { id: '1' });
      const transitions = /^\/rest\/api\/3\/issue\/([^/]+)\/transitions$/.exec(url.pathname);
      if (transitions) return answer(204);
      return answer(404, { errorMessages: ['no such endpoint in the fake: ' + req.method + ' ' + url.pathname] });
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({
        url: 'http://127.0.0.1:' + port,
        issues,
        problems,
        setToken: (t) => {
          expectedAuth = basic(t);
        },
        close: () => new Promise((r) => server.close(r)),
      });
    });
  });
}

module.exports = { startFakeJira };

// Friction console: progressive enhancement only; every page works without this file.
document.addEventListener('DOMContentLoaded', function () {
  // Filters apply as soon as a select changes (the form's submit button stays for keyboards and no-JS).
  document.querySelectorAll('form[data-autosubmit] select').forEach(function (select) {
    select.addEventListener('change', function () { select.form.submit(); });
  });
  // Ask before a change that is hard to undo.
  document.querySelectorAll('button[data-confirm]').forEach(function (button) {
    button.addEventListener('click', function (event) {
      if (!window.confirm(button.getAttribute('data-confirm'))) { event.preventDefault(); }
    });
  });
  var rows = document.querySelector('tbody[data-live]');
  var feed = document.querySelector('[data-live-feed]');
  if ((rows || feed) && window.EventSource) { live(rows, feed); }
});

// Incident changes from GET /v1/live (server-sent events; the session cookie authenticates):
// rows of the incidents list are inserted or updated in place, the live feed gets one item each.
function live(rows, feed) {
  var status = document.querySelector('[data-live-status]');
  var source = new EventSource('/v1/live');
  source.addEventListener('ready', function () {
    if (status) { status.textContent = 'Connected: changes appear here as they are published.'; }
    document.body.setAttribute('data-live-ready', 'true');
  });
  source.addEventListener('error', function () {
    if (status) { status.textContent = 'Reconnecting to the live stream...'; }
    document.body.removeAttribute('data-live-ready');
  });
  source.addEventListener('incident', function (event) {
    var change;
    try { change = JSON.parse(event.data); } catch (e) { return; }
    if (rows) { upsertRow(rows, change); }
    if (feed) { feedItem(feed, change); }
  });
}

var DOT = ' \u00b7 ';

function el(tag, text, cls) {
  var node = document.createElement(tag);
  if (text !== undefined && text !== null) { node.textContent = String(text); }
  if (cls) { node.className = cls; }
  return node;
}

function incidentLink(change) {
  var a = el('a', change.title);
  a.href = '/incidents/' + encodeURIComponent(change.id);
  return a;
}

function matches(rows, change) {
  var want = function (name) { return rows.getAttribute('data-filter-' + name) || ''; };
  return (!want('status') || want('status') === change.status) &&
    (!want('kind') || want('kind') === change.kind) &&
    (!want('project') || want('project') === change.projectId) &&
    (!want('route') || want('route') === change.routeTemplate);
}

function projectName(id) {
  var options = document.querySelectorAll('select[name="project"] option');
  for (var i = 0; i < options.length; i++) { if (options[i].value === id) { return options[i].textContent; } }
  return id;
}

function upsertRow(rows, change) {
  var existing = null;
  rows.querySelectorAll('tr[data-incident-id]').forEach(function (tr) {
    if (tr.getAttribute('data-incident-id') === change.id) { existing = tr; }
  });
  if (!matches(rows, change)) {
    if (existing) { existing.remove(); }
    return;
  }
  var tr = document.createElement('tr');
  tr.setAttribute('data-incident-id', change.id);
  tr.setAttribute('data-status', change.status);
  tr.setAttribute('data-live-updated', 'true');
  var first = el('td');
  first.appendChild(incidentLink(change));
  first.appendChild(document.createElement('br'));
  first.appendChild(el('span', String(change.kind || '').replace(/_/g, ' ') + DOT + change.routeTemplate, 'muted'));
  tr.appendChild(first);
  var badge = el('td');
  badge.appendChild(el('span', change.status, 'badge status-' + change.status));
  tr.appendChild(badge);
  tr.appendChild(el('td', change.priority));
  tr.appendChild(el('td', Number(change.severity).toFixed(2), 'num'));
  tr.appendChild(el('td', change.users, 'num'));
  tr.appendChild(el('td', change.sessions, 'num'));
  tr.appendChild(el('td', change.occurrences, 'num'));
  tr.appendChild(el('td', change.lastSeen));
  tr.appendChild(el('td', projectName(change.projectId)));
  if (existing) { rows.replaceChild(tr, existing); } else { rows.insertBefore(tr, rows.firstChild); }
  var empty = document.getElementById('no-incidents');
  if (empty) { empty.remove(); }
}

function feedItem(feed, change) {
  var li = el('li');
  li.setAttribute('data-incident-id', change.id);
  li.setAttribute('data-status', change.status);
  li.appendChild(el('time', change.changedAt));
  li.appendChild(document.createTextNode(' '));
  li.appendChild(incidentLink(change));
  li.appendChild(document.createTextNode(' '));
  li.appendChild(el('span', change.status, 'badge status-' + change.status));
  li.appendChild(el('span', ' ' + (change.change || '') + DOT + change.users + ' users' + DOT + change.occurrences + ' occurrences', 'muted'));
  feed.insertBefore(li, feed.firstChild);
  while (feed.children.length > 200) { feed.removeChild(feed.lastChild); }
}

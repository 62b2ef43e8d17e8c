/**
 * The API reference at /docs: one self-contained page (no CDN, no build step) that fetches
 * /openapi.json and lists every operation with its parameters, request body and responses.
 * Everything is written into the page with textContent, never as HTML.
 */

export const API_DOCS_STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #1f2328; background: #f6f8fa; }
header { background: #24292f; color: #fff; padding: 14px 24px; }
header h1 { margin: 0; font-size: 20px; }
header p { margin: 4px 0 0; color: #c9d1d9; }
main { max-width: 1100px; margin: 0 auto; padding: 16px 24px 48px; }
#filter { width: 100%; box-sizing: border-box; padding: 8px; font-size: 14px; margin-bottom: 12px; }
details.op { background: #fff; border: 1px solid #d0d7de; border-radius: 6px; margin: 8px 0; }
details.op > summary { cursor: pointer; padding: 8px 12px; display: flex; gap: 10px; align-items: baseline; }
.method { font: bold 12px monospace; padding: 2px 6px; border-radius: 4px; color: #fff; min-width: 52px; text-align: center; }
.GET { background: #0969da; } .POST { background: #1a7f37; } .PATCH { background: #9a6700; }
.PUT { background: #8250df; } .DELETE { background: #cf222e; }
.path { font-family: monospace; font-weight: 600; }
.summary { color: #57606a; }
.lock { margin-left: auto; color: #57606a; font-size: 12px; }
.body { padding: 4px 16px 12px; border-top: 1px solid #d0d7de; }
h3 { font-size: 13px; margin: 12px 0 4px; text-transform: uppercase; color: #57606a; }
table { border-collapse: collapse; width: 100%; }
td, th { border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; vertical-align: top; }
pre { background: #f6f8fa; border: 1px solid #d0d7de; border-radius: 4px; padding: 8px; overflow: auto; margin: 4px 0; }
.error { color: #cf222e; }
`;

export const API_DOCS_SCRIPT = `
(function () {
  'use strict';
  var main = document.getElementById('operations');
  var filter = document.getElementById('filter');
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function resolve(doc, schema) {
    var seen = 0;
    while (schema && schema.$ref && seen++ < 20) {
      var parts = schema.$ref.replace(/^#\\//, '').split('/');
      var target = doc;
      for (var i = 0; i < parts.length && target; i++) target = target[parts[i]];
      schema = target;
    }
    return schema || {};
  }
  function describe(doc, schema, indent, depth) {
    schema = resolve(doc, schema);
    var pad = new Array(indent + 1).join('  ');
    if (depth > 8) return '...';
    var variants = schema.anyOf || schema.oneOf;
    if (variants) return variants.map(function (s) { return describe(doc, s, indent, depth + 1); }).join(' | ');
    if (schema.allOf) return schema.allOf.map(function (s) { return describe(doc, s, indent, depth + 1); }).join(' & ');
    if (schema.enum) return schema.enum.map(function (v) { return JSON.stringify(v); }).join(' | ');
    if (schema.const !== undefined) return JSON.stringify(schema.const);
    var type = schema.type;
    var suffix = schema.nullable ? ' | null' : '';
    if (type === 'array') return 'Array<' + describe(doc, schema.items || {}, indent, depth + 1) + '>' + suffix;
    if (type === 'object' || schema.properties) {
      var props = schema.properties || {};
      var names = Object.keys(props);
      var required = schema.required || [];
      if (names.length === 0) return (schema.additionalProperties ? '{ [key: string]: any }' : '{}') + suffix;
      var lines = names.map(function (name) {
        var optional = required.indexOf(name) === -1 ? '?' : '';
        var prop = resolve(doc, props[name]);
        var note = [];
        if (prop.minLength !== undefined) note.push('minLength ' + prop.minLength);
        if (prop.maxLength !== undefined) note.push('maxLength ' + prop.maxLength);
        if (prop.minimum !== undefined) note.push('min ' + prop.minimum);
        if (prop.maximum !== undefined) note.push('max ' + prop.maximum);
        if (prop.pattern) note.push('pattern ' + prop.pattern);
        if (prop.description) note.push(prop.description);
        return pad + '  ' + JSON.stringify(name).slice(1, -1) + optional + ': ' +
          describe(doc, prop, indent + 1, depth + 1) + (note.length ? '  // ' + note.join(', ') : '');
      });
      return '{\\n' + lines.join('\\n') + '\\n' + pad + '}' + suffix;
    }
    return (type || 'any') + (schema.format ? ' (' + schema.format + ')' : '') + suffix;
  }
  function parametersTable(doc, parameters) {
    var table = el('table');
    var head = el('tr');
    ['Name', 'In', 'Required', 'Type'].forEach(function (h) { head.appendChild(el('th', '', h)); });
    table.appendChild(head);
    parameters.forEach(function (raw) {
      var p = resolve(doc, raw);
      var row = el('tr');
      row.appendChild(el('td', 'path', p.name));
      row.appendChild(el('td', '', p.in));
      row.appendChild(el('td', '', p.required ? 'yes' : 'no'));
      row.appendChild(el('td', '', describe(doc, p.schema || {}, 0, 0)));
      table.appendChild(row);
    });
    return table;
  }
  function contentBlocks(doc, container, content) {
    Object.keys(content || {}).forEach(function (mediaType) {
      container.appendChild(el('div', 'summary', mediaType));
      container.appendChild(el('pre', '', describe(doc, content[mediaType].schema || {}, 0, 0)));
    });
  }
  function operation(doc, path, method, op) {
    var details = el('details', 'op');
    details.dataset.search = (method + ' ' + path + ' ' + (op.summary || '') + ' ' + (op.description || '')).toLowerCase();
    var summary = el('summary');
    summary.appendChild(el('span', 'method ' + method.toUpperCase(), method.toUpperCase()));
    summary.appendChild(el('span', 'path', path));
    if (op.summary || op.description) summary.appendChild(el('span', 'summary', op.summary || op.description));
    var security = op.security || doc.security || [];
    summary.appendChild(el('span', 'lock', security.length ? 'bearer token' : 'no token'));
    details.appendChild(summary);
    var body = el('div', 'body');
    if (op.parameters && op.parameters.length) {
      body.appendChild(el('h3', '', 'Parameters'));
      body.appendChild(parametersTable(doc, op.parameters));
    }
    if (op.requestBody) {
      body.appendChild(el('h3', '', 'Request body' + (op.requestBody.required ? ' (required)' : '')));
      contentBlocks(doc, body, resolve(doc, op.requestBody).content);
    }
    var responses = op.responses || {};
    Object.keys(responses).forEach(function (status) {
      var response = resolve(doc, responses[status]);
      body.appendChild(el('h3', '', 'Response ' + status + (response.description ? ': ' + response.description : '')));
      contentBlocks(doc, body, response.content);
    });
    details.appendChild(body);
    return details;
  }
  function render(doc) {
    document.getElementById('title').textContent = (doc.info.title || 'API') + ' ' + (doc.info.version || '');
    document.getElementById('description').textContent = doc.info.description || '';
    Object.keys(doc.paths || {}).sort().forEach(function (path) {
      var item = doc.paths[path];
      ['get', 'post', 'put', 'patch', 'delete'].forEach(function (method) {
        if (item[method]) main.appendChild(operation(doc, path, method, item[method]));
      });
    });
  }
  filter.addEventListener('input', function () {
    var words = filter.value.toLowerCase().split(/\\s+/).filter(Boolean);
    Array.prototype.forEach.call(main.children, function (node) {
      var text = node.dataset.search || '';
      node.hidden = !words.every(function (w) { return text.indexOf(w) !== -1; });
    });
  });
  fetch('/openapi.json')
    .then(function (response) {
      if (!response.ok) throw new Error('HTTP ' + response.status);
      return response.json();
    })
    .then(render)
    .catch(function (error) { main.appendChild(el('p', 'error', 'Could not load /openapi.json: ' + error.message)); });
})();
`;

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Herald API reference</title>
<style>${API_DOCS_STYLE}</style>
</head>
<body>
<header><h1 id="title">Herald API</h1><p id="description"></p></header>
<main>
<p>The machine-readable document is <a href="/openapi.json">/openapi.json</a> (OpenAPI 3).</p>
<input id="filter" type="search" placeholder="Filter operations (e.g. post webhooks)" aria-label="Filter operations">
<div id="operations"></div>
</main>
<script>${API_DOCS_SCRIPT}</script>
</body>
</html>
`;

export function apiDocsPage(): string {
  return PAGE;
}

// Live responses of the admin API against src/admin/openapi.json, with a
// validator nobody here wrote (ajv, with ajv-formats):
//
//   node t/openapi/validate-live.mjs OPENAPI.json RESPONSES.json
//
// RESPONSES.json is an array of {method, path, status, headers, body}, path
// relative to the admin location ("keys/0pqllhxq5ihp/rotate"), headers with
// lower-case names. For each response: the path and method are an operation of
// the document, the status is documented on that operation, the content type
// is the documented one, every required response header came, and a JSON body
// validates against the documented schema. Every operation must have been
// seen. Exit 0 when all hold, 1 with the problems listed.

import { createRequire } from 'node:module';
import fs from 'node:fs';

const require = createRequire(import.meta.url);
const Ajv = require('ajv').default;
const addFormats = require('ajv-formats').default;

const [docFile, responsesFile] = process.argv.slice(2);
if (!responsesFile) {
  console.error('usage: node validate-live.mjs OPENAPI.json RESPONSES.json');
  process.exit(2);
}
const doc = JSON.parse(fs.readFileSync(docFile, 'utf8'));
const responses = JSON.parse(fs.readFileSync(responsesFile, 'utf8'));

// OpenAPI 3.0 schemas are a JSON Schema dialect: `nullable` is understood by
// ajv, `example` is only an annotation (strict: false lets it be)
const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema(doc, 'openapi.json');

const escape = (s) => s.replace(/~/g, '~0').replace(/\//g, '~1');
const pointer = (parts) => '#/' + parts.map(escape).join('/');
function resolve(node, parts) {
  // follows a response's $ref to components; returns [node, its pointer parts]
  while (node && node.$ref) {
    parts = node.$ref.slice(2).split('/').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
    node = parts.reduce((n, p) => n[p], doc);
  }
  return [node, parts];
}

function operationFor(method, path) {
  let bare = path.replace(/\?.*$/, '').replace(/\/+$/, '');
  bare = bare === '' || bare === 'index.html' ? '/' : '/' + bare;
  // literal paths first: keys/openapi.json is not keys/{id}
  const templates = Object.keys(doc.paths).sort((a, b) => a.includes('{') - b.includes('{'));
  for (const template of templates) {
    const re = new RegExp('^' + template.replace(/[.]/g, '\\.').replace(/\{[^}]+\}/g, '[^/]+') + '$');
    if (re.test(bare)) return { template, op: doc.paths[template][method.toLowerCase()], ops: doc.paths[template] };
  }
  return { template: null };
}

const problems = [];
const seen = new Set();
let validated = 0;

for (const r of responses) {
  const where = `${r.method} ${r.path} -> ${r.status}`;
  const { template, op, ops } = operationFor(r.method, r.path);
  if (!template) { problems.push(`${where}: no such path in the document`); continue; }
  // a 405 is answered for a method the path has no operation for: it is
  // documented on each of the path's operations
  const documentedOn = op ? [[r.method.toLowerCase(), op]]
    : Object.entries(ops).filter(([m]) => ['get', 'post', 'put', 'patch', 'delete'].includes(m));
  if (!op && r.status !== 405) { problems.push(`${where}: no ${r.method} operation on ${template}`); continue; }
  if (op) seen.add(op.operationId);

  for (const [method, o] of documentedOn) {
    const base = ['paths', template, method, 'responses', String(r.status)];
    let [resp, parts] = resolve(o.responses[String(r.status)], base);
    if (!resp) { problems.push(`${where}: ${r.status} is not documented on ${o.operationId}`); continue; }

    for (const [name, h] of Object.entries(resp.headers || {})) {
      if (h.required && !(name.toLowerCase() in r.headers)) problems.push(`${where}: no ${name} header (documented as required)`);
    }
    const type = (r.headers['content-type'] || '').split(';')[0].trim();
    if (!resp.content) {
      if (r.body.length) problems.push(`${where}: a body, where ${o.operationId} documents none`);
      validated++;
      continue;
    }
    if (!(type in resp.content)) {
      problems.push(`${where}: Content-Type ${type || '(none)'}, documented: ${Object.keys(resp.content).join(', ')}`);
      continue;
    }
    const media = resp.content[type];
    if (type !== 'application/json') { validated++; continue; }
    let body;
    try { body = JSON.parse(r.body); } catch (e) { problems.push(`${where}: not JSON: ${e.message}`); continue; }
    const schemaPointer = pointer([...parts, 'content', type, 'schema']);
    let check;
    try {
      check = ajv.getSchema('openapi.json' + schemaPointer) || ajv.compile({ $ref: 'openapi.json' + schemaPointer });
    } catch (e) { problems.push(`${where}: schema ${schemaPointer}: ${e.message}`); continue; }
    if (!media.schema) { problems.push(`${where}: no schema documented`); continue; }
    if (!check(body)) {
      problems.push(`${where}: does not fit ${o.operationId}'s ${r.status} schema: ` +
                    ajv.errorsText(check.errors, { dataVar: 'body' }) + ` (${r.body.slice(0, 200)})`);
      continue;
    }
    validated++;
  }
}

for (const ops of Object.values(doc.paths)) {
  for (const [m, o] of Object.entries(ops)) {
    if (o && o.operationId && !seen.has(o.operationId)) problems.push(`${m.toUpperCase()} ${o.operationId}: not exercised`);
  }
}

if (problems.length) {
  for (const p of problems) console.error('validate-live: ' + p);
  process.exit(1);
}
console.log(`# validate-live: ${responses.length} live responses, ${validated} checks against ${docFile}, ${seen.size} operations covered`);
process.exit(0);

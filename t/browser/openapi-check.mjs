// Structural check of an OpenAPI 3.0.3 document, without a validator package:
//
//   node t/browser/openapi-check.mjs src/admin/openapi.json
//
// every $ref is local and resolves, and has no siblings (3.0 ignores them);
// path templates and path parameters agree; operationIds are unique; every
// component is used; `required` names declared properties; and every example
// validates against its schema (a small JSON Schema subset: the keywords the
// document uses). Exit 0 when clean, 1 with the problems listed otherwise.
// validate() is exported for checking real responses against the schemas.

import fs from 'node:fs';
import { pathToFileURL } from 'node:url';

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const KNOWN_KEYWORDS = new Set(['$ref', 'type', 'nullable', 'enum', 'pattern', 'format', 'minLength', 'maxLength',
  'minimum', 'maximum', 'items', 'minItems', 'maxItems', 'properties', 'required', 'additionalProperties',
  'allOf', 'oneOf', 'anyOf', 'minProperties', 'maxProperties', 'default', 'description', 'example', 'title', 'readOnly', 'writeOnly']);

export function resolvePointer(doc, ref) {
  if (typeof ref !== 'string' || !ref.startsWith('#/')) return undefined;
  let node = doc;
  for (const raw of ref.slice(2).split('/')) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (node === null || typeof node !== 'object' || !(part in node)) return undefined;
    node = node[part];
  }
  return node;
}

const typeOf = (v) => (v === null ? 'null' : Array.isArray(v) ? 'array'
  : typeof v === 'number' ? (Number.isInteger(v) ? 'integer' : 'number') : typeof v);

// Returns a list of problems ([] when the value fits the schema).
export function validate(doc, schema, value, where = '$') {
  const out = [];
  if (schema && schema.$ref) {
    const target = resolvePointer(doc, schema.$ref);
    if (!target) return [`${where}: unresolved ${schema.$ref}`];
    return validate(doc, target, value, where);
  }
  if (!schema || typeof schema !== 'object') return out;
  for (const k of Object.keys(schema)) if (!KNOWN_KEYWORDS.has(k)) out.push(`${where}: schema keyword "${k}" not checked`);
  if (value === null) {
    if (schema.nullable === true || (!schema.type && !schema.allOf && !schema.enum && !schema.oneOf && !schema.anyOf)) return out;
    return [...out, `${where}: null is not allowed`];
  }
  if (schema.type) {
    const t = typeOf(value);
    const ok = t === schema.type || (schema.type === 'number' && t === 'integer');
    if (!ok) return [...out, `${where}: ${t}, not ${schema.type}`];
  }
  if (schema.enum && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) {
    out.push(`${where}: ${JSON.stringify(value)} not in ${JSON.stringify(schema.enum)}`);
  }
  if (typeof value === 'string') {
    if (schema.pattern && !new RegExp(schema.pattern, 'u').test(value)) out.push(`${where}: "${value}" does not match ${schema.pattern}`);
    if (schema.minLength !== undefined && [...value].length < schema.minLength) out.push(`${where}: shorter than ${schema.minLength}`);
    if (schema.maxLength !== undefined && [...value].length > schema.maxLength) out.push(`${where}: longer than ${schema.maxLength}`);
    if (schema.format === 'date-time' && !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(value)) out.push(`${where}: "${value}" is not an RFC 3339 date-time`);
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) out.push(`${where}: below ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) out.push(`${where}: above ${schema.maximum}`);
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) out.push(`${where}: fewer than ${schema.minItems} items`);
    if (schema.maxItems !== undefined && value.length > schema.maxItems) out.push(`${where}: more than ${schema.maxItems} items`);
    if (schema.items) value.forEach((v, i) => out.push(...validate(doc, schema.items, v, `${where}[${i}]`)));
  }
  if (typeOf(value) === 'object') {
    const props = schema.properties || {};
    for (const r of schema.required || []) if (!(r in value)) out.push(`${where}: "${r}" is missing`);
    for (const [k, v] of Object.entries(value)) {
      if (props[k]) out.push(...validate(doc, props[k], v, `${where}.${k}`));
      else if (schema.additionalProperties === false) out.push(`${where}: unknown property "${k}"`);
      else if (schema.additionalProperties && typeof schema.additionalProperties === 'object') {
        out.push(...validate(doc, schema.additionalProperties, v, `${where}.${k}`));
      }
    }
    if (schema.minProperties !== undefined && Object.keys(value).length < schema.minProperties) out.push(`${where}: fewer than ${schema.minProperties} properties`);
    if (schema.maxProperties !== undefined && Object.keys(value).length > schema.maxProperties) out.push(`${where}: more than ${schema.maxProperties} properties`);
  }
  for (const s of schema.allOf || []) out.push(...validate(doc, s, value, where));
  if (schema.oneOf) {
    const n = schema.oneOf.filter((s) => validate(doc, s, value, where).length === 0).length;
    if (n !== 1) out.push(`${where}: matches ${n} of oneOf, not exactly 1`);
  }
  if (schema.anyOf && !schema.anyOf.some((s) => validate(doc, s, value, where).length === 0)) out.push(`${where}: matches none of anyOf`);
  return out;
}

export function check(doc) {
  const problems = [];
  const used = new Set();
  const bad = (msg) => problems.push(msg);

  if (doc.openapi !== '3.0.3') bad(`openapi is ${JSON.stringify(doc.openapi)}, not "3.0.3"`);
  if (!doc.info || typeof doc.info.title !== 'string' || typeof doc.info.version !== 'string') bad('info needs title and version');
  if (!doc.paths || typeof doc.paths !== 'object') bad('no paths');

  // every $ref, anywhere
  (function walk(node, where) {
    if (Array.isArray(node)) { node.forEach((v, i) => walk(v, `${where}/${i}`)); return; }
    if (!node || typeof node !== 'object') return;
    if ('$ref' in node) {
      if (resolvePointer(doc, node.$ref) === undefined) bad(`${where}: $ref ${node.$ref} does not resolve`);
      used.add(node.$ref);
      const siblings = Object.keys(node).filter((k) => k !== '$ref');
      if (siblings.length) bad(`${where}: ${siblings.join(', ')} beside $ref (ignored in OpenAPI 3.0)`);
    }
    for (const [k, v] of Object.entries(node)) {
      // examples are data, not document structure
      if (k === 'example' || (k === 'value' && where.includes('/examples/')) || k === 'default') continue;
      walk(v, `${where}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`);
    }
  })(doc, '#');

  for (const section of ['schemas', 'parameters', 'responses', 'requestBodies', 'examples', 'headers']) {
    for (const name of Object.keys((doc.components || {})[section] || {})) {
      if (!used.has(`#/components/${section}/${name}`)) bad(`#/components/${section}/${name} is never used`);
    }
  }

  const deref = (n) => (n && n.$ref ? resolvePointer(doc, n.$ref) : n);
  const operationIds = new Set();
  for (const [path, item] of Object.entries(doc.paths || {})) {
    if (!path.startsWith('/')) bad(`path ${path} does not start with /`);
    const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
    const common = (item.parameters || []).map(deref);
    for (const method of Object.keys(item)) {
      if (method === 'parameters' || method === 'summary' || method === 'description' || method === 'servers') continue;
      if (!METHODS.includes(method)) { bad(`${path}: "${method}" is not an HTTP method`); continue; }
      const op = item[method];
      const where = `${method.toUpperCase()} ${path}`;
      if (!op.operationId) bad(`${where}: no operationId`);
      else if (operationIds.has(op.operationId)) bad(`${where}: operationId ${op.operationId} repeated`);
      else operationIds.add(op.operationId);
      const params = [...common, ...(op.parameters || []).map(deref)];
      const seen = new Set();
      for (const p of params) {
        if (!p || !p.name || !p.in) { bad(`${where}: a parameter without name or in`); continue; }
        const id = `${p.in}:${p.name}`;
        if (seen.has(id) && !common.includes(p)) bad(`${where}: parameter ${id} twice`);
        seen.add(id);
        if (!p.schema) bad(`${where}: parameter ${p.name} has no schema`);
        if (p.in === 'path' && p.required !== true) bad(`${where}: path parameter ${p.name} must be required`);
        if (p.in === 'path' && !templated.includes(p.name)) bad(`${where}: path parameter ${p.name} not in the path`);
        if (p.example !== undefined && p.schema) for (const e of validate(doc, p.schema, p.example, `${where} parameter ${p.name} example`)) bad(e);
      }
      for (const t of templated) if (!params.some((p) => p && p.in === 'path' && p.name === t)) bad(`${where}: {${t}} has no path parameter`);
      if (!op.responses || !Object.keys(op.responses).length) bad(`${where}: no responses`);
      for (const [code, r0] of Object.entries(op.responses || {})) {
        if (!/^([1-5][0-9][0-9]|[1-5]XX|default)$/.test(code)) bad(`${where}: response code ${code}`);
        const r = deref(r0);
        if (!r || typeof r.description !== 'string') bad(`${where} ${code}: response without description`);
        if (code === '204' && r && r.content) bad(`${where} 204: a 204 has no body`);
      }
      if (op.requestBody) {
        const rb = deref(op.requestBody);
        if (!rb.content || !rb.content['application/json']) bad(`${where}: request body is not application/json`);
      }
    }
  }

  // schemas: required names declared properties; nullable needs a type
  (function walkSchemas(node, where) {
    if (Array.isArray(node)) { node.forEach((v, i) => walkSchemas(v, `${where}/${i}`)); return; }
    if (!node || typeof node !== 'object') return;
    if (node.required && Array.isArray(node.required) && node.properties && !node.allOf) {
      for (const r of node.required) if (!(r in node.properties)) bad(`${where}: required "${r}" is not a property`);
    }
    if (node.nullable === true && !node.type) bad(`${where}: nullable without type`);
    for (const [k, v] of Object.entries(node)) {
      if (k === 'example' || k === 'examples' || k === 'default' || k === 'enum') continue;
      walkSchemas(v, `${where}/${k}`);
    }
  })(doc, '#');

  // examples against their schemas: media types, and schemas' own examples
  (function walkMedia(node, where) {
    if (Array.isArray(node)) { node.forEach((v, i) => walkMedia(v, `${where}/${i}`)); return; }
    if (!node || typeof node !== 'object') return;
    if (node.schema && (node.examples || node.example !== undefined)) {
      for (const [name, ex0] of Object.entries(node.examples || {})) {
        const ex = deref(ex0);
        if (!ex || !('value' in ex)) { bad(`${where}/examples/${name}: no value`); continue; }
        for (const e of validate(doc, node.schema, ex.value, `${where}/examples/${name}`)) bad(e);
      }
      if (node.example !== undefined) for (const e of validate(doc, node.schema, node.example, `${where}/example`)) bad(e);
    }
    for (const [k, v] of Object.entries(node)) if (k !== 'example' && k !== 'examples') walkMedia(v, `${where}/${k}`);
  })(doc.paths, '#/paths');
  for (const [name, s] of Object.entries((doc.components || {}).schemas || {})) {
    (function walkExamples(node, where) {
      if (!node || typeof node !== 'object') return;
      if (node.example !== undefined && !node.$ref) {
        const { example, ...schema } = node;
        for (const e of validate(doc, schema, example, `${where}/example`)) bad(e);
      }
      if (node.properties) for (const [k, v] of Object.entries(node.properties)) walkExamples(v, `${where}/properties/${k}`);
      if (node.items) walkExamples(node.items, `${where}/items`);
      for (const s2 of node.allOf || []) walkExamples(s2, `${where}/allOf`);
    })(s, `#/components/schemas/${name}`);
  }
  return problems;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const file = process.argv[2];
  if (!file) { console.error('usage: node openapi-check.mjs openapi.json'); process.exit(2); }
  let doc;
  try {
    doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    console.error(`openapi-check: ${file}: not valid JSON: ${e.message}`);
    process.exit(1);
  }
  const problems = check(doc);
  if (problems.length) {
    console.error(`openapi-check: ${file}: ${problems.length} problem(s)`);
    for (const p of problems) console.error('  ' + p);
    process.exit(1);
  }
  const ops = Object.values(doc.paths).reduce((n, item) => n + Object.keys(item).filter((m) => METHODS.includes(m)).length, 0);
  console.log(`# openapi-check: ${file}: OpenAPI ${doc.openapi}, ${Object.keys(doc.paths).length} paths, ${ops} operations, every $ref resolves, every example fits its schema`);
}

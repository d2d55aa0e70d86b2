// Parses RateLimit and RateLimit-Policy field values with structured-headers
// (an RFC 9651 parser nobody here wrote), for t/115-ratelimit-draft.t.
//
// stdin: one value per line, "FIELD-NAME<TAB>VALUE". stdout: a JSON array, one
// entry per line: {"ok":true,"items":[{"name":..,"kind":..,"params":{..}}]}
// or {"ok":false,"error":..}. kind is "string" for an sf-string, else what the
// parser made of the member (a token, an inner list, a number...), so a test
// can require strings. Usage: node parse.mjs NODE_MODULES_DIR < values
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const modules = process.argv[2];
const sf = await import(pathToFileURL(join(modules, 'structured-headers/dist/index.js')).href);

const kindOf = (v) => {
  if (typeof v === 'string') return 'string';
  if (Array.isArray(v)) return 'inner-list';
  if (v instanceof sf.Token) return 'token';
  return typeof v;
};

const paramValue = (v) => {
  if (typeof v === 'number') {
    // RFC 9651 Integers have no fraction; Decimals are not what the draft asks for
    return Number.isInteger(v) ? v : { decimal: v };
  }
  if (typeof v === 'string') return { string: v };
  return { other: String(v) };
};

const out = [];
for (const line of readFileSync(0, 'utf8').split('\n')) {
  if (line === '') continue;
  const tab = line.indexOf('\t');
  const value = line.slice(tab + 1);
  try {
    const list = sf.parseList(value);
    out.push({
      ok: true,
      items: list.map(([v, params]) => ({
        name: typeof v === 'string' ? v : String(v),
        kind: kindOf(v),
        params: Object.fromEntries([...params].map(([k, p]) => [k, paramValue(p)])),
      })),
    });
  } catch (e) {
    out.push({ ok: false, error: String(e && e.message || e) });
  }
}
process.stdout.write(JSON.stringify(out));

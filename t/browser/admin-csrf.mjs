// Cross-site request forgery against the admin API, in Debian's Chromium: the
// admin has opened the admin page (its Basic credentials are now cached), then
// opens a page of another site. That page auto-submits text/plain, urlencoded
// and multipart forms and fires fetch(..., {mode: "no-cors"}) at create,
// rotate, revoke and delete, and frames the admin page. Every forged request
// must reach nginx with the credentials (so a refusal is the API's own, 403 or
// 415, not auth_basic's 401), the frame must stay empty, and the keys must be
// unchanged afterwards.
//
//   node t/browser/admin-csrf.mjs ADMIN_URL EVIL_URL ROTATE_ID REVOKE_ID DELETE_ID USER PASSWORD FRAME_URL
//
// FRAME_URL is an admin page served without Basic auth (apikey_admin with its
// default key check: the page itself is public), so that only its headers can
// keep it out of the other site's frame.
//
// EVIL_URL is a page on another site (t/416-admin-csrf-browser.t serves it as
// http://evil.test:PORT/, mapped to 127.0.0.1) that reads the admin URL and
// the ids from its query string. Exit 0 when every check passed, 1 otherwise.

import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const WATCHDOG_MS = 90000;

const [adminUrl, evilUrl, rotateId, revokeId, deleteId, user, password, frameUrl] = process.argv.slice(2);
if (!frameUrl) {
  console.error('usage: node admin-csrf.mjs ADMIN_URL EVIL_URL ROTATE_ID REVOKE_ID DELETE_ID USER PASSWORD FRAME_URL');
  process.exit(2);
}

const require = createRequire(import.meta.url);
let chromium;
try {
  ({ chromium } = require('playwright-core'));
} catch (e) {
  console.error(`admin-csrf: FAIL: playwright-core not found (set NODE_PATH): ${e.message}`);
  process.exit(1);
}

class CheckFailed extends Error {}
const say = (msg) => console.log('# ' + msg);
function check(cond, what, detail) {
  if (!cond) throw new CheckFailed(what + (detail === undefined ? '' : `: ${detail}`));
  say('ok: ' + what);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const adminBase = new URL('.', adminUrl).href;
const basic = 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');

// What the server holds, read from Node (not the browser): every key, whole.
async function keys() {
  const res = await fetch(new URL('keys?limit=200', adminBase), { headers: { Accept: 'application/json', Authorization: basic } });
  const body = await res.json();
  return JSON.stringify(body.keys.sort((a, b) => a.id.localeCompare(b.id)));
}

async function main() {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'apikey-csrf-chromium-'));
  const before = await keys();
  const ids = JSON.parse(before).map((k) => k.id);
  check([rotateId, revokeId, deleteId].every((id) => ids.includes(id)), 'the keys to attack exist', ids.join(' '));
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
             '--disable-background-networking', '--disable-component-update', '--disable-sync',
             '--host-resolver-rules=MAP evil.test 127.0.0.1'],
      // the admin's Basic credentials, for the admin's origin only
      httpCredentials: { username: user, password, origin: new URL(adminUrl).origin },
      timeout: 30000,
    });
    context.setDefaultTimeout(10000);
    const page = context.pages()[0] || await context.newPage();

    // the admin uses the page: the browser now holds the credentials
    const res = await page.goto(adminUrl, { waitUntil: 'load' });
    check(res && res.status() === 200, 'the admin opened the admin page (Basic credentials given)', res && res.status());
    await page.waitForFunction(() => document.querySelector('[data-testid=keys-table]').getAttribute('aria-busy') === 'false');

    // every response the forged fetches got from the admin API
    const answers = [];
    context.on('response', (r) => {
      const u = r.url();
      if (u.startsWith(new URL('keys', adminBase).href)) answers.push(`${r.request().method()} ${u.slice(adminBase.length)} ${r.status()}`);
    });

    // then another site, in the same browser: forms submitted at the top level
    const evil = await context.newPage();
    const attack = (params) => {
      const u = new URL(evilUrl);
      u.search = new URLSearchParams({ admin: adminBase, ...params }).toString();
      return u.href;
    };
    const forms = [
      ['keys', '{"name":"planted","scopes":["admin"],"reason":"', '"}'],
      [`keys/${rotateId}/rotate`, '{"reason":"', '"}'],
      [`keys/${revokeId}/revoke`, '{"reason":"', '"}'],
    ];
    for (const [p, name, value] of forms) {
      for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data']) {
        // generous: under a loaded machine Chromium's first navigation can be slow
        const answered = evil.waitForResponse((r) => r.url() === adminBase + p, { timeout: 30000 });
        await evil.goto(attack({ attack: 'form', path: p, type, name, value }));
        const r = await answered;
        const sent = await r.request().allHeaders();
        check([403, 415].includes(r.status()) && sent.authorization === basic,
              `a ${type} form from another site at ${p}: sent with the cached credentials, refused by the API`,
              `${r.status()}, ${sent.authorization ? 'with' : 'without'} credentials, Origin ${sent.origin}`);
      }
    }

    // no-cors fetches, a cors DELETE, and a frame
    answers.length = 0;
    await evil.goto(attack({ attack: 'fetch', rotate: rotateId, revoke: revokeId, delete: deleteId, frame: frameUrl }), { waitUntil: 'load' });
    check(new URL(evil.url()).hostname === 'evil.test', 'a page of another site is open', evil.url());
    await evil.waitForFunction(() => window.attackDone === true, null, { timeout: 20000 });
    const report = await evil.evaluate(() => window.attackReport);
    say('the page says: ' + report.join('; '));
    const deadline = Date.now() + 5000;
    while (answers.filter((a) => a.startsWith('POST')).length < 3 && Date.now() < deadline) await sleep(100);
    say('answers: ' + answers.join('; '));
    const posts = answers.filter((a) => a.startsWith('POST'));
    check(posts.length >= 3, 'every no-cors POST reached the admin API', posts.length);
    check(posts.every((a) => / (401|403|415)$/.test(a)), 'and was refused', posts.join('; '));
    check(!answers.some((a) => /^DELETE .* 2\d\d$/.test(a)), 'no DELETE went through');

    // the framed admin page stays empty (frame-ancestors 'none', X-Frame-Options)
    const framed = evil.frames().find((f) => f !== evil.mainFrame() && f.name() === 'framed');
    check(framed, 'the other site framed the admin page');
    const direct = await fetch(frameUrl);
    check(direct.status === 200 && (await direct.text()).includes('data-testid="keys-table"'),
          'the framed page is served without credentials (only its headers keep it out)');
    const inFrame = await framed.evaluate(() => document.querySelectorAll('[data-testid=keys-table], button').length).catch(() => 0);
    check(inFrame === 0, 'the frame stays empty', `${inFrame} elements, ${framed.url()}`);

    await sleep(300);
    check(await keys() === before, 'the key list is unchanged: nothing made, rotated, revoked or deleted');
  } finally {
    if (context) await context.close().catch(() => {});
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}

const watchdog = setTimeout(() => {
  console.error(`admin-csrf: FAIL: gave up after ${WATCHDOG_MS / 1000} s`);
  process.exit(1);
}, WATCHDOG_MS);

main().then(() => {
  clearTimeout(watchdog);
  say('admin csrf: all checks passed');
  process.exit(0);
}, (e) => {
  clearTimeout(watchdog);
  console.error(`admin-csrf: FAIL: ${e instanceof CheckFailed ? e.message : (e && e.stack) || e}`);
  process.exit(1);
});

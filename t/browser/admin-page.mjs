// Drives the admin page (src/admin/index.html) in Debian's Chromium the way a
// person would: create a key, copy its token from the reveal-once dialog, use
// it, revoke it through the page; create a second one with the scope picker
// and an expiry preset, rotate it with a grace and use both tokens; delete a
// third (cancelling once first); and check that no token stays in the page or
// in browser storage. The page asks for the admin key once and keeps it in
// memory only; it runs under its Content-Security-Policy header without a
// single violation.
//
//   node t/browser/admin-page.mjs ADMIN_URL PROTECTED_URL ARTIFACTS_DIR DELETE_ID ADMIN_KEY
//   e.g. node t/browser/admin-page.mjs http://127.0.0.1:8080/admin/ http://127.0.0.1:8080/api/x build/artifacts/admin-page 0123abcd4567 ak_...
//
// PROTECTED_URL must require the scope "read" (the picked scope is what lets
// the second key through); DELETE_ID is an active key made outside the page,
// listed when the page loads, for the page to delete.
//
// playwright-core comes from NODE_PATH (t/400-admin-page.t installs it into
// build/browser/node_modules); it never downloads a browser. Progress lines
// start with "# " (TAP comments, as the .t runs this); exit 0 when every check
// passed, 1 with the failed check on stderr, 2 on a usage error.

import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const TOKEN_RE = /^ak_(live_|test_)?[0-9a-z]{12}_[0-9A-Za-z]{46}$/;
const idOf = (token) => (token.match(/^ak_(?:live_|test_)?([0-9a-z]{12})_/) || [])[1];
const WATCHDOG_MS = 120000;

const [adminUrl, protectedUrl, artifacts, deleteId, adminKey] = process.argv.slice(2);
if (!adminUrl || !protectedUrl || !artifacts || !deleteId || !adminKey) {
  console.error('usage: node admin-page.mjs ADMIN_URL PROTECTED_URL ARTIFACTS_DIR DELETE_ID ADMIN_KEY');
  process.exit(2);
}

// ESM imports ignore NODE_PATH; require() honours it.
const require = createRequire(import.meta.url);
let chromium;
try {
  ({ chromium } = require('playwright-core'));
} catch (e) {
  console.error(`admin-page: FAIL: playwright-core not found (set NODE_PATH to an installed node_modules): ${e.message}`);
  process.exit(1);
}

class CheckFailed extends Error {}
const say = (msg) => console.log('# ' + msg);
function check(cond, what, detail) {
  if (!cond) throw new CheckFailed(what + (detail === undefined ? '' : `: ${detail}`));
  say('ok: ' + what);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The admin API as the page sees it, straight from Node: what the server holds.
async function adminGet(adminBase, id) {
  const res = await fetch(new URL('keys/' + encodeURIComponent(id), adminBase),
                          { headers: { Accept: 'application/json', 'X-API-Key': adminKey } });
  const text = await res.text();
  let body = null;
  try { body = JSON.parse(text); } catch (e) { body = text; }
  return { status: res.status, body };
}

const daysFromNow = (iso) => (Date.parse(iso) - Date.now()) / 86400000;

async function statusOf(token) {
  const res = await fetch(protectedUrl, { headers: token ? { 'X-API-Key': token } : {} });
  await res.arrayBuffer();
  return res.status;
}

// Everything that could have kept a token: the markup, every field's value,
// the visible text.
async function pageHolds(page, token) {
  return page.evaluate((t) => {
    const values = [...document.querySelectorAll('input, textarea')].map((i) => i.value).join('\n');
    return document.documentElement.outerHTML.includes(t) || values.includes(t) || document.body.innerText.includes(t);
  }, token);
}

// A V8 heap snapshot of the page after a full garbage collection, searched for
// the token and for a stretch of its secret: finds a copy any script (the
// page's or an injected one) still holds, which a DOM scan cannot see.
async function heapHolds(context, page, token) {
  const cdp = await context.newCDPSession(page);
  const chunks = [];
  cdp.on('HeapProfiler.addHeapSnapshotChunk', (e) => chunks.push(e.chunk));
  await cdp.send('HeapProfiler.enable');
  await cdp.send('HeapProfiler.collectGarbage');
  await cdp.send('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
  await cdp.detach();
  const snapshot = chunks.join('');
  return snapshot.includes(token) || snapshot.includes(token.slice(16, 40));
}

async function storageOf(page) {
  return page.evaluate(() => {
    const dump = (s) => { const o = {}; for (let i = 0; i < s.length; i++) o[s.key(i)] = s.getItem(s.key(i)); return o; };
    return { local: dump(localStorage), session: dump(sessionStorage), cookie: document.cookie };
  });
}

async function main() {
  fs.mkdirSync(artifacts, { recursive: true });
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'apikey-admin-chromium-'));
  const adminBase = new URL('.', adminUrl).href;
  const origin = new URL(adminUrl).origin;
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
             '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1280, height: 800 },
      timeout: 30000,
    });
    context.setDefaultTimeout(10000);
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin });
    const page = context.pages()[0] || await context.newPage();

    const problems = [];
    const requests = [];
    const changes = [];   // every request that is not a GET: what a Cancel must not send
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    // Chromium reports a blocked inline script, handler or style on the console
    // the two 401s of the key prompt (no key yet, then a wrong one) are the
    // only failed loads expected
    let refusals = 0;
    let conflicts = 0;   // the one 409 provoked below: deleting a role a key uses
    page.on('console', (m) => {
      if (/^Failed to load resource: the server responded with a status of 401\b/.test(m.text())) refusals++;
      else if (/^Failed to load resource: the server responded with a status of 409\b/.test(m.text())) conflicts++;
      else if (m.type() === 'error' || /Content.Security.Policy/i.test(m.text())) problems.push(`console ${m.type()}: ${m.text()}`);
    });
    const withoutKey = [];   // API calls made without the admin key, once it was given
    const notJson = [];      // changes sent without Content-Type: application/json
    let keyGiven = false;
    page.on('request', (r) => {
      requests.push(r.url());
      if (r.method() !== 'GET') changes.push(`${r.method()} ${r.url()}`);
      const h = r.headers();
      if (keyGiven && r.url().startsWith(new URL('keys', adminBase).href) && h['x-api-key'] !== adminKey) {
        withoutKey.push(`${r.method()} ${r.url()}`);
      }
      if (r.method() !== 'GET' && !/^application\/json\b/.test(h['content-type'] || '')) {
        notJson.push(`${r.method()} ${r.url()} (${h['content-type']})`);
      }
    });

    // --- the list -----------------------------------------------------------
    const res = await page.goto(adminUrl, { waitUntil: 'load' });
    check(res && res.status() === 200, 'the page loads', res && res.status());
    check(/text\/html/.test(res.headers()['content-type'] || ''), 'as HTML', res.headers()['content-type']);
    const csp = res.headers()['content-security-policy'] || '';
    check(/frame-ancestors 'none'/.test(csp) && !/unsafe-inline/.test(csp), 'under its Content-Security-Policy header', csp);

    // --- the admin key: asked for once, kept in the tab's memory ----------------
    const keyDialog = page.locator('[data-testid=key-dialog]');
    await keyDialog.waitFor({ state: 'visible' });
    check(await keyDialog.evaluate((d) => d.open && d.matches(':modal')), 'the API answered 401: the page asks for an admin key');
    check(await page.locator('#key-input').getAttribute('type') === 'password', 'in a password field');
    await page.locator('#key-input').fill('ak_000000000000_notarealkeynotarealkeynotarealkeynotarealkey00');
    await page.locator('[data-testid=key-submit]').click();
    await page.locator('#key-dialog [data-testid=dialog-error]').filter({ hasText: 'not accepted' }).waitFor();
    check(await keyDialog.isVisible(), 'a wrong key is refused, and the page asks again');
    check(await page.locator('#key-input').inputValue() === '', 'with the field emptied');
    keyGiven = true;
    await page.locator('#key-input').fill(adminKey);
    await page.locator('[data-testid=key-submit]').click();
    await keyDialog.waitFor({ state: 'hidden' });
    check(await page.locator('#key-input').inputValue() === '', 'the admin key is accepted, and not left in the field');
    const table = page.locator('[data-testid=keys-table]');
    await page.waitForFunction(() => document.querySelector('[data-testid=keys-table]').getAttribute('aria-busy') === 'false');
    check(await table.isVisible(), 'the key table renders');
    check((await table.locator('caption').textContent()).includes('API keys'), 'with a caption');
    check(await table.locator('thead th').count() === 11, 'and column headers, owner, role / plan and env among them');
    check(await page.locator('[data-testid=error-alert]').textContent() === '', 'no error shown after loading');
    const doomed = page.locator(`[data-testid=key-row][data-key-id="${deleteId}"]`);
    check(await doomed.count() === 1, 'the key made outside the page is listed', deleteId);

    // --- create, by keyboard where a person would use it -----------------------
    await page.locator('[data-testid=create-button]').focus();
    await page.keyboard.press('Enter');
    const createDialog = page.locator('[data-testid=create-dialog]');
    await createDialog.waitFor({ state: 'visible' });
    check(await page.evaluate(() => document.activeElement && document.activeElement.id) === 'create-name',
          'the create dialog opens with the name field focused');
    await page.keyboard.press('Escape');
    await createDialog.waitFor({ state: 'hidden' });
    check(true, 'Escape closes it');

    await page.locator('[data-testid=create-button]').click();
    await createDialog.waitFor({ state: 'visible' });
    check(await createDialog.evaluate((d) => d.open && d.matches(':modal')), 'the dialog is modal (showModal)');
    await page.locator('#create-name').pressSequentially('browser test');
    await page.locator('#create-scopes').fill('read write');
    await createDialog.getByLabel('30 days').check();
    check(await createDialog.getByLabel('90 days').isChecked() === false, 'the 30-day preset replaces the 90-day default');
    const created = page.waitForResponse((r) => r.url() === new URL('keys', adminBase).href && r.request().method() === 'POST');
    await createDialog.locator('[data-testid=create-submit]').click();
    const createdRes = await created;
    check(createdRes.status() === 201, 'POST keys answers 201', createdRes.status());
    const sent = createdRes.request().postDataJSON();
    check(sent.name === 'browser test' && JSON.stringify(sent.scopes) === '["read","write"]' && sent.expires_in === '30d',
          'with the name, the typed scopes and expires_in 30d', JSON.stringify(sent));

    // --- reveal once -----------------------------------------------------------
    const reveal = page.locator('[data-testid=reveal-dialog]');
    await reveal.waitFor({ state: 'visible' });
    const token = await page.locator('[data-testid=reveal-token]').inputValue();
    check(TOKEN_RE.test(token), 'the reveal dialog shows a token of the right shape', token.replace(/_[0-9A-Za-z]+$/, '_...'));
    check(await page.locator('[data-testid=reveal-token]').evaluate((i) => i.readOnly), 'in a read-only field');
    check((await reveal.textContent()).includes('Store this token in a secret manager now. It will not be shown again.'),
          'with the warning');
    const id = idOf(token);

    await page.locator('[data-testid=copy-button]').click();
    await page.locator('[data-testid=copy-status]').filter({ hasText: 'Copied' }).waitFor();
    check(true, 'Copy says "Copied"');
    const clip = await page.evaluate(() => navigator.clipboard.readText().catch((e) => 'unreadable: ' + e.message));
    check(clip === token, 'and the clipboard holds the token');
    await reveal.screenshot({ path: path.join(artifacts, 'reveal.png') });
    say(`screenshot ${path.join(artifacts, 'reveal.png')}`);

    await page.locator('[data-testid=done-button]').click();
    await reveal.waitFor({ state: 'hidden' });
    check(!(await pageHolds(page, token)), 'after Done the token is nowhere in the page');
    await page.evaluate(() => navigator.clipboard.writeText(''));   // the test's own copy, not the page's
    check(!(await heapHolds(context, page, token)), 'nor in its JavaScript heap (snapshot after garbage collection)');

    const row = page.locator(`[data-testid=key-row][data-key-id="${id}"]`);
    check(await row.count() === 1, 'the new key is listed');
    check((await row.textContent()).includes('browser test'), 'with its name');
    check(JSON.stringify(await row.locator('.chips li').allTextContents()) === '["read","write"]', 'its scopes as chips');
    check((await row.locator('[data-testid=token-hint]').textContent()) === '...' + token.slice(-4), 'its token hint');
    const expires = await row.locator('.cell-expires time').getAttribute('datetime');
    const days = (Date.parse(expires) - Date.now()) / 86400000;
    check(days > 29 && days < 31, 'expiring in 30 days', expires);
    check(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/.test(await row.locator('.cell-expires time').getAttribute('title')),
          'with the UTC time as a tooltip');
    check((await row.locator('.cell-last-used').textContent()).trim() === 'never', 'last used: never');
    check((await row.locator('[data-testid=status-badge]').textContent()).trim() === 'active', 'status: active');

    // --- the token works -----------------------------------------------------
    const before = await statusOf(token);
    check(before === 200, 'the token is accepted by the protected location (scope "read" required)', before);

    // --- revoke through the page -----------------------------------------------
    await row.locator('[data-testid=revoke-button]').click();
    const revokeDialog = page.locator('[data-testid=revoke-dialog]');
    await revokeDialog.waitFor({ state: 'visible' });
    check((await revokeDialog.locator('h2').textContent()).includes('browser test'), 'the revoke dialog names the key');
    await revokeDialog.locator('[data-testid=confirm-button]').click();
    await revokeDialog.waitFor({ state: 'hidden' });
    const deadline = Date.now() + 1000;
    let after = await statusOf(token);
    while (after !== 401 && Date.now() < deadline) { await sleep(50); after = await statusOf(token); }
    check(after === 401, 'within a second the token is refused', after);
    await row.locator('[data-testid=status-badge]', { hasText: 'revoked' }).waitFor();
    check(true, 'the row shows the "revoked" badge');
    check(await row.locator('[data-testid=revoke-button], [data-testid=rotate-button]').count() === 0,
          'and offers no Revoke or Rotate');

    // --- create with the scope picker and an expiry preset ---------------------
    await page.getByRole('button', { name: 'Create API key' }).click();
    const createNamed = page.getByRole('dialog', { name: 'Create API key' });
    await createNamed.waitFor();
    const pickRead = createNamed.getByRole('checkbox', { name: 'read', exact: true });
    const pickWrite = createNamed.getByRole('checkbox', { name: 'write', exact: true });
    check(await pickRead.count() === 1 && await pickWrite.count() === 1,
          'the scope picker offers the scopes in use, "read" and "write", as checkboxes');
    check(!(await pickRead.isChecked()) && !(await pickWrite.isChecked()), 'none of them picked to begin with');
    await createNamed.getByLabel('Name', { exact: true }).fill('rotated in browser');
    await pickRead.check();
    await createNamed.getByRole('radio', { name: '60 days' }).check();
    const hinted = (await createNamed.locator('#expiry-hint').textContent()).match(/^Expires on (\d{4}-\d\d-\d\d)\.$/);
    check(hinted && Math.abs(daysFromNow(hinted[1] + 'T12:00:00Z') - 60) < 1.5, 'the 60-day preset shows its date',
          hinted && hinted[1]);
    const pickedRes = page.waitForResponse((r) => r.url() === new URL('keys', adminBase).href && r.request().method() === 'POST');
    await createNamed.getByRole('button', { name: 'Create key' }).click();
    const picked = await pickedRes;
    check(picked.status() === 201, 'POST keys answers 201', picked.status());
    const pickedSent = picked.request().postDataJSON();
    check(JSON.stringify(pickedSent.scopes) === '["read"]' && pickedSent.expires_in === '60d',
          'with the picked scope only and expires_in 60d', JSON.stringify(pickedSent));

    const revealNew = page.getByRole('dialog', { name: 'Your new API key' });
    await revealNew.waitFor();
    const tokenB = await revealNew.getByRole('textbox', { name: 'Token' }).inputValue();
    check(TOKEN_RE.test(tokenB) && tokenB !== token, 'its token is revealed', tokenB.replace(/_[0-9A-Za-z]+$/, '_...'));
    await revealNew.getByRole('button', { name: 'Done' }).click();
    await revealNew.waitFor({ state: 'hidden' });
    const idB = idOf(tokenB);

    const shownB = await adminGet(adminBase, idB);
    check(shownB.status === 200 && JSON.stringify(shownB.body.scopes) === '["read"]',
          'the admin API holds the key with the scope "read" only', JSON.stringify(shownB.body));
    const daysB = daysFromNow(shownB.body.expires_at);
    check(daysB > 59 && daysB < 61, 'expiring in 60 days', shownB.body.expires_at);
    const rowB = page.getByRole('row').filter({ hasText: 'rotated in browser' });
    check(JSON.stringify(await rowB.getByRole('list', { name: 'Scopes' }).getByRole('listitem').allTextContents()) === '["read"]',
          'the table shows the picked scope');
    const usedB = await statusOf(tokenB);
    check(usedB === 200, 'the picked scope lets its token through the protected location', usedB);

    // --- rotate with a grace ---------------------------------------------------
    await rowB.getByRole('button', { name: 'Rotate rotated in browser' }).click();
    const rotateNamed = page.getByRole('dialog', { name: 'Rotate “rotated in browser”?' });
    await rotateNamed.waitFor();
    check(await rotateNamed.getByRole('radio', { name: /^No grace/ }).isChecked(), 'the rotate dialog names the key, no grace by default');
    await rotateNamed.getByRole('radio', { name: '1 hour' }).check();
    const rotatedRes = page.waitForResponse((r) => r.url() === new URL(`keys/${idB}/rotate`, adminBase).href
                                                 && r.request().method() === 'POST');
    await rotateNamed.getByRole('button', { name: 'Rotate key' }).click();
    const rotated = await rotatedRes;
    check(rotated.status() === 200, 'POST keys/{id}/rotate answers 200', rotated.status());
    check(JSON.stringify(rotated.request().postDataJSON()) === '{"grace":"1h"}', 'with grace 1h',
          JSON.stringify(rotated.request().postDataJSON()));
    await rotateNamed.waitFor({ state: 'hidden' });

    const revealRotated = page.getByRole('dialog', { name: 'Your rotated API key' });
    await revealRotated.waitFor();
    const tokenC = await revealRotated.getByRole('textbox', { name: 'Token' }).inputValue();
    check(TOKEN_RE.test(tokenC) && tokenC !== tokenB && idOf(tokenC) === idB,
          'the reveal dialog shows the new token, for the same key id', tokenC.replace(/_[0-9A-Za-z]+$/, '_...'));
    const rotatedText = await revealRotated.textContent();
    check(rotatedText.includes(`previous token (...${tokenB.slice(-4)}) is accepted until`),
          'it says until when the previous token is accepted');
    check(rotatedText.includes('It will not be shown again.'), 'with the warning');
    await revealRotated.getByRole('button', { name: 'Done' }).click();
    await revealRotated.waitFor({ state: 'hidden' });
    check(!(await pageHolds(page, tokenC)) && !(await pageHolds(page, tokenB)), 'after Done neither token is in the page');
    check(!(await heapHolds(context, page, tokenC)), 'nor the new one in its JavaScript heap');

    const usedNew = await statusOf(tokenC);
    check(usedNew === 200, 'the new token is accepted', usedNew);
    const usedOld = await statusOf(tokenB);
    check(usedOld === 200, 'and so is the old one, during the grace', usedOld);
    const graced = await adminGet(adminBase, idB);
    const graceLeft = graced.body.previous_token && (Date.parse(graced.body.previous_token.valid_until) - Date.now()) / 60000;
    check(graceLeft > 55 && graceLeft < 61, 'for an hour', JSON.stringify(graced.body.previous_token));
    await rowB.getByTestId('status-badge').filter({ hasText: 'rotating' }).waitFor();
    check(true, 'the row shows the "rotating" badge');
    check((await rowB.locator('.prev').textContent()).includes('...' + tokenB.slice(-4)), 'and the previous token\'s hint');

    // --- delete, cancelling once first -------------------------------------------
    const doomedName = (await doomed.locator('.key-name').textContent()).trim();
    const deleteNamed = page.getByRole('dialog', { name: `Delete “${doomedName}”?` });
    await doomed.getByRole('button', { name: `Delete ${doomedName}` }).click();
    await deleteNamed.waitFor();
    check(await deleteNamed.evaluate((d) => document.getElementById(d.getAttribute('aria-describedby')).textContent.includes('cannot be undone')),
          'the delete dialog names the key and is described by its warning');
    check(await page.evaluate(() => document.activeElement.textContent) === 'Cancel', 'with Cancel focused');
    const changesBefore = changes.length;
    await deleteNamed.getByRole('button', { name: 'Cancel' }).click();
    await deleteNamed.waitFor({ state: 'hidden' });
    await sleep(200);
    check(changes.length === changesBefore, 'Cancel sends nothing', changes.slice(changesBefore).join(' '));
    check(await doomed.count() === 1 && (await adminGet(adminBase, deleteId)).status === 200,
          'the key stays, in the list and in the admin API');

    await doomed.getByRole('button', { name: `Delete ${doomedName}` }).click();
    await deleteNamed.waitFor();
    const deletedRes = page.waitForResponse((r) => r.url() === new URL(`keys/${deleteId}`, adminBase).href
                                                 && r.request().method() === 'DELETE');
    await deleteNamed.getByRole('button', { name: 'Delete key' }).click();
    check((await deletedRes).status() === 204, 'Delete key sends DELETE keys/{id}: 204');
    await deleteNamed.waitFor({ state: 'hidden' });
    await doomed.waitFor({ state: 'detached' });
    check(true, 'the key is gone from the list');
    const gone = await adminGet(adminBase, deleteId);
    check(gone.status === 404, 'and from the admin API', gone.status);

    await page.locator('[data-testid=status-filter]').selectOption('revoked');
    await page.waitForFunction(() => document.querySelector('[data-testid=keys-table]').getAttribute('aria-busy') === 'false');
    await row.waitFor();
    const statuses = await page.locator('[data-testid=key-row]').evaluateAll((rows) => rows.map((r) => r.dataset.status));
    check(statuses.length > 0 && statuses.every((s) => s === 'revoked'), 'the "revoked" filter lists it, and only revoked keys',
          statuses.join(','));
    check(requests.some((u) => /\/keys\?(.*&)?status=revoked/.test(u)), 'through the status parameter');


    // --- roles and plans: tabs of their own -----------------------------------
    const busyDone = (sel) => page.waitForFunction((s) => document.querySelector(s).getAttribute('aria-busy') === 'false', sel);
    await page.locator('[data-testid=status-filter]').selectOption('');
    await busyDone('[data-testid=keys-table]');
    await page.getByRole('tab', { name: 'Roles' }).click();
    await page.locator('#panel-roles').waitFor({ state: 'visible' });
    check(await page.locator('#panel-keys').isHidden(), 'the Roles tab shows the roles panel and hides the keys');
    check(await page.getByRole('tab', { name: 'Roles' }).getAttribute('aria-selected') === 'true', 'and is the selected tab');
    await busyDone('[data-testid=roles-table]');
    const groupDialog = page.locator('[data-testid=group-dialog]');
    async function saveGroup(kind, method, path, fill, status) {
      await groupDialog.waitFor();
      for (const [sel, value] of fill) await page.locator(sel).fill(value);
      const res = page.waitForResponse((r) => r.url() === new URL(path, adminBase).href && r.request().method() === method);
      await groupDialog.locator('[data-testid=group-submit]').click();
      const got = await res;
      check(got.status() === status, `${method} ${path} answers ${status}`, got.status());
      await groupDialog.waitFor({ state: 'hidden' });
      return got.request().postDataJSON();
    }
    await page.getByRole('button', { name: 'Create role' }).click();
    let groupSent = await saveGroup('role', 'POST', 'roles',
      [['#group-name', 'reader'], ['#group-items', 'read list'], ['#group-description', 'read-only partners']], 201);
    check(JSON.stringify(groupSent) === '{"scopes":["read","list"],"description":"read-only partners","name":"reader"}',
          'with the name, the scopes and the description', JSON.stringify(groupSent));
    const roleRow = page.locator('[data-testid=role-row][data-name=reader]');
    await roleRow.waitFor();
    check(JSON.stringify(await roleRow.locator('.chips li').allTextContents()) === '["read","list"]', 'the role is listed with its scopes');
    await roleRow.getByRole('button', { name: 'Edit role reader' }).click();
    check(await page.locator('#group-name').evaluate((i) => i.readOnly && i.value === 'reader'), 'the edit dialog keeps the name');
    groupSent = await saveGroup('role', 'PATCH', 'roles/reader', [['#group-items', 'read']], 200);
    check(JSON.stringify(groupSent.scopes) === '["read"]', 'an edit sends PATCH roles/{name} with the new scopes', JSON.stringify(groupSent));
    await roleRow.locator('.chips li', { hasText: 'list' }).waitFor({ state: 'detached' });
    check(true, 'and the row shows them');
    await page.getByRole('button', { name: 'Create role' }).click();
    await saveGroup('role', 'POST', 'roles', [['#group-name', 'spare'], ['#group-items', 'x']], 201);
    const spareRow = page.locator('[data-testid=role-row][data-name=spare]');
    await spareRow.getByRole('button', { name: 'Delete role spare' }).click();
    const groupDelete = page.locator('[data-testid=group-delete-dialog]');
    await groupDelete.waitFor();
    const spareRes = page.waitForResponse((r) => r.url() === new URL('roles/spare', adminBase).href && r.request().method() === 'DELETE');
    await groupDelete.locator('[data-testid=confirm-button]').click();
    check((await spareRes).status() === 204, 'deleting an unused role: DELETE roles/{name} answers 204');
    await spareRow.waitFor({ state: 'detached' });

    await page.getByRole('tab', { name: 'Roles' }).focus();
    await page.keyboard.press('ArrowRight');
    check(await page.getByRole('tab', { name: 'Plans' }).getAttribute('aria-selected') === 'true'
          && await page.locator('#panel-plans').isVisible(), 'the arrow key moves to the Plans tab');
    await busyDone('[data-testid=plans-table]');
    await page.getByRole('button', { name: 'Create plan' }).click();
    groupSent = await saveGroup('plan', 'POST', 'plans', [['#group-name', 'pro'], ['#group-items', '600r/m 10000r/d:500']], 201);
    check(JSON.stringify(groupSent.limits) === '["600r/m","10000r/d:500"]', 'Create plan sends its limits', JSON.stringify(groupSent));
    const planRow = page.locator('[data-testid=plan-row][data-name=pro]');
    await planRow.waitFor();
    check(JSON.stringify(await planRow.locator('.chips li').allTextContents()) === '["600r/m:600","10000r/d:500"]',
          'the plan is listed with its limits');
    await page.screenshot({ path: path.join(artifacts, 'plans.png') });
    say(`screenshot ${path.join(artifacts, 'plans.png')}`);
    await page.getByRole('tab', { name: 'Keys' }).click();
    await page.locator('#panel-keys').waitFor({ state: 'visible' });

    // --- a key with the whole model: owner, role, plan, env, meta, allow-ip ------
    await page.getByRole('button', { name: 'Create API key' }).click();
    await createNamed.waitFor();
    await createNamed.getByLabel('Name', { exact: true }).fill('modelled');
    await page.locator('#create-owner').fill('acct_9');
    check(JSON.stringify(await page.locator('#create-role option').allTextContents()) === '["None","reader"]',
          'the create dialog offers the roles');
    await page.locator('#create-role').selectOption('reader');
    await page.locator('#create-plan').selectOption('pro');
    await createNamed.getByRole('radio', { name: 'Test' }).check();
    await page.locator('#create-meta').fill('tenant=t-9\nregion=eu');
    await page.locator('#create-allow-ip').fill('127.0.0.1 ::1');
    const modelRes = page.waitForResponse((r) => r.url() === new URL('keys', adminBase).href && r.request().method() === 'POST');
    await createNamed.getByRole('button', { name: 'Create key' }).click();
    const modelCreated = await modelRes;
    check(modelCreated.status() === 201, 'POST keys with the key model answers 201', modelCreated.status());
    const modelSent = modelCreated.request().postDataJSON();
    check(modelSent.owner === 'acct_9' && modelSent.role === 'reader' && modelSent.plan === 'pro' && modelSent.env === 'test'
          && JSON.stringify(modelSent.meta) === '{"tenant":"t-9","region":"eu"}'
          && JSON.stringify(modelSent.allow_ip) === '["127.0.0.1","::1"]',
          'with owner, role, plan, env, meta and allow_ip', JSON.stringify(modelSent));
    const revealModel = page.getByRole('dialog', { name: 'Your new API key' });
    await revealModel.waitFor();
    const tokenM = await revealModel.getByRole('textbox', { name: 'Token' }).inputValue();
    check(/^ak_test_/.test(tokenM), 'a test key: its token starts with ak_test_', tokenM.replace(/_[0-9A-Za-z]+$/, '_...'));
    await revealModel.getByRole('button', { name: 'Done' }).click();
    await revealModel.waitFor({ state: 'hidden' });
    const idM = idOf(tokenM);
    const rowM = page.locator(`[data-testid=key-row][data-key-id="${idM}"]`);
    check(await rowM.getByTestId('key-owner').textContent() === 'acct_9', 'the row shows the owner');
    check((await rowM.getByTestId('key-role').textContent()).includes('reader')
          && (await rowM.getByTestId('key-plan').textContent()).includes('pro'), 'its role and plan');
    check(await rowM.getByTestId('key-env').textContent() === 'test', 'its environment');
    check(await rowM.getByTestId('key-metadata').textContent() === 'region=eu tenant=t-9', 'its metadata');
    check(await rowM.getByTestId('key-allow-ip').textContent() === 'from 127.0.0.1/32 ::1/128', 'and where it is accepted from');
    const usedM = await statusOf(tokenM);
    check(usedM === 200, "the role's scope lets it through, from an allowed address", usedM);

    // --- edit: only what changed ---------------------------------------------------
    await rowM.getByRole('button', { name: 'Edit modelled' }).click();
    const editDialog = page.getByRole('dialog', { name: 'Edit “modelled”' });
    await editDialog.waitFor();
    check(await page.locator('#edit-owner').inputValue() === 'acct_9' && await page.locator('#edit-role').inputValue() === 'reader'
          && await page.locator('#edit-plan').inputValue() === 'pro'
          && await page.locator('#edit-meta').inputValue() === 'region=eu\ntenant=t-9'
          && await page.locator('#edit-allow-ip').inputValue() === '127.0.0.1/32 ::1/128',
          'the edit dialog holds the owner, role, plan, metadata and addresses');
    await page.locator('#edit-owner').fill('acct_10');
    await page.locator('#edit-meta').fill('tenant=t-9');
    await page.locator('#edit-allow-ip').fill('');
    await editDialog.screenshot({ path: path.join(artifacts, 'edit.png') });
    say(`screenshot ${path.join(artifacts, 'edit.png')}`);
    const editRes = page.waitForResponse((r) => r.url() === new URL(`keys/${idM}`, adminBase).href && r.request().method() === 'PATCH');
    await editDialog.getByRole('button', { name: 'Save changes' }).click();
    const edited = await editRes;
    check(edited.status() === 200, 'Save changes sends PATCH keys/{id}: 200', edited.status());
    check(JSON.stringify(edited.request().postDataJSON()) === '{"owner":"acct_10","meta":{"region":null},"allow_ip":null}',
          'with only what changed (a removed metadata name as null)', JSON.stringify(edited.request().postDataJSON()));
    await rowM.getByTestId('key-owner').filter({ hasText: 'acct_10' }).waitFor();
    check(await rowM.getByTestId('key-allow-ip').count() === 0, 'the row follows');

    // --- quotas and credits (issue 15): set, shown, then removed ---------------------
    await rowM.getByRole('button', { name: 'Edit modelled' }).click();
    await editDialog.waitFor();
    check(await page.locator('#edit-quota').inputValue() === '' && await page.locator('#edit-credits').inputValue() === '',
          'no quota or credits yet: the fields are empty');
    await editDialog.getByLabel('Quota').fill('5000/month 200/day');
    await editDialog.getByLabel('Credits').fill('300');
    await editDialog.getByLabel('Refill').fill('300/month');
    const quotaRes = page.waitForResponse((r) => r.url() === new URL(`keys/${idM}`, adminBase).href && r.request().method() === 'PATCH');
    await editDialog.getByRole('button', { name: 'Save changes' }).click();
    const quotaDone = await quotaRes;
    check(quotaDone.status() === 200 && JSON.stringify(quotaDone.request().postDataJSON())
            === '{"quota":"5000/month 200/day","credits":300,"refill":"300/month"}',
          'quota, credits and refill are sent as PATCH members', JSON.stringify(quotaDone.request().postDataJSON()));
    await rowM.getByTestId('key-credits').waitFor();
    check(await rowM.getByTestId('key-quota').textContent() === 'quota 5000/month 200/day', 'the row shows the quota',
          await rowM.getByTestId('key-quota').textContent());
    check(await rowM.getByTestId('key-credits').textContent() === 'credits 300 of 300, refill 300/month',
          'and the credits', await rowM.getByTestId('key-credits').textContent());
    const heldQ = (await adminGet(adminBase, idM)).body;
    check(heldQ.quota === '5000/month 200/day' && heldQ.credits === 300 && heldQ.refill === '300/month',
          'the server holds them', JSON.stringify(heldQ));
    await page.screenshot({ path: path.join(artifacts, 'list-quota.png') });
    say(`screenshot ${path.join(artifacts, 'list-quota.png')}`);
    await rowM.getByRole('button', { name: 'Edit modelled' }).click();
    await editDialog.waitFor();
    check(await page.locator('#edit-credits').inputValue() === '300' && await page.locator('#edit-refill').inputValue() === '300/month',
          'the edit dialog holds them');
    await editDialog.getByLabel('Credits').fill('12.5');
    let sentBad = false;
    const onBad = (r) => { if (r.url() === new URL(`keys/${idM}`, adminBase).href && r.method() === 'PATCH') sentBad = true; };
    page.on('request', onBad);
    await editDialog.getByRole('button', { name: 'Save changes' }).click();
    await sleep(300);
    page.off('request', onBad);
    check(!sentBad && await page.locator('#edit-credits').evaluate((e) => !e.validity.valid) && editDialog.isVisible(),
          'a credit count that is not a whole number is refused in the page (nothing sent)');
    await editDialog.getByLabel('Quota').fill('');
    await editDialog.getByLabel('Credits').fill('');
    await editDialog.getByLabel('Refill').fill('');
    const clearRes = page.waitForResponse((r) => r.url() === new URL(`keys/${idM}`, adminBase).href && r.request().method() === 'PATCH');
    await editDialog.getByRole('button', { name: 'Save changes' }).click();
    const cleared = await clearRes;
    check(JSON.stringify(cleared.request().postDataJSON()) === '{"quota":null,"credits":null,"refill":null}',
          'emptied fields are sent as null', JSON.stringify(cleared.request().postDataJSON()));
    await rowM.getByTestId('key-credits').waitFor({ state: 'detached' });
    check(await rowM.getByTestId('key-quota').count() === 0, 'and the row no longer shows them');

    // --- disable and enable ----------------------------------------------------------
    await rowM.getByRole('button', { name: 'Disable modelled' }).click();
    const disableNamed = page.getByRole('dialog', { name: 'Disable “modelled”?' });
    await disableNamed.waitFor();
    await page.locator('#disable-reason').fill('left the team');
    const disableRes = page.waitForResponse((r) => r.url() === new URL(`keys/${idM}/disable`, adminBase).href);
    await disableNamed.getByRole('button', { name: 'Disable key' }).click();
    const disabledRes = await disableRes;
    check(disabledRes.status() === 200 && disabledRes.request().postDataJSON().reason === 'left the team',
          'Disable sends POST keys/{id}/disable with the reason: 200', disabledRes.status());
    await rowM.getByTestId('status-badge').filter({ hasText: 'disabled' }).waitFor();
    check(true, 'the row shows the "disabled" badge');
    let refusedM = await statusOf(tokenM);
    for (const until = Date.now() + 1000; refusedM !== 401 && Date.now() < until; refusedM = await statusOf(tokenM)) await sleep(50);
    check(refusedM === 401, 'within a second the key is refused', refusedM);
    const enableRes = page.waitForResponse((r) => r.url() === new URL(`keys/${idM}/enable`, adminBase).href);
    await rowM.getByRole('button', { name: 'Enable modelled' }).click();
    check((await enableRes).status() === 200, 'Enable sends POST keys/{id}/enable: 200');
    await rowM.getByTestId('status-badge').filter({ hasText: 'active' }).waitFor();
    let backM = await statusOf(tokenM);
    for (const until = Date.now() + 1000; backM !== 200 && Date.now() < until; backM = await statusOf(tokenM)) await sleep(50);
    check(backM === 200, 'and accepted again', backM);

    // --- a role in use cannot be deleted -------------------------------------------------
    await page.getByRole('tab', { name: 'Roles' }).click();
    await roleRow.getByTestId('role-keys').filter({ hasText: /^1$/ }).waitFor();
    check(true, 'the roles tab counts its key');
    await busyDone('[data-testid=roles-table]');
    await roleRow.getByRole('button', { name: 'Delete role reader' }).click();
    await groupDelete.waitFor();
    await groupDelete.locator('[data-testid=confirm-button]').click();
    await groupDelete.locator('[data-testid=dialog-error]').filter({ hasText: 'in use' }).waitFor();
    check(await groupDelete.isVisible(), 'deleting a role a key uses: the dialog says it is in use (409)');
    await groupDelete.getByRole('button', { name: 'Cancel' }).click();
    await page.screenshot({ path: path.join(artifacts, 'roles.png') });
    say(`screenshot ${path.join(artifacts, 'roles.png')}`);
    await page.getByRole('tab', { name: 'Keys' }).click();

    // --- filters and a name search: asked of the server -----------------------------------
    const listed = () => page.locator('[data-testid=key-row]').evaluateAll((rows) => rows.map((r) => r.dataset.keyId));
    const settle = () => busyDone('[data-testid=keys-table]');
    const listRequest = (re) => page.waitForRequest((r) => r.method() === 'GET' && re.test(r.url()));
    let asked = listRequest(/\/keys\?.*owner=acct_10/);
    await page.locator('[data-testid=owner-filter]').fill('acct_10');
    await page.locator('[data-testid=owner-filter]').press('Enter');
    await asked; await settle();
    check(JSON.stringify(await listed()) === JSON.stringify([idM]), 'the owner filter lists that owner\'s key only');
    await page.locator('[data-testid=owner-filter]').fill('');
    await page.locator('[data-testid=owner-filter]').press('Enter');
    for (const [sel, value, param] of [['[data-testid=role-filter]', 'reader', 'role=reader'],
                                       ['[data-testid=plan-filter]', 'pro', 'plan=pro'],
                                       ['[data-testid=env-filter]', 'test', 'env=test']]) {
      asked = listRequest(new RegExp('/keys\\?.*' + param));
      await page.locator(sel).selectOption(value);
      await asked; await settle();
      check(JSON.stringify(await listed()) === JSON.stringify([idM]), `the ${param.split('=')[0]} filter (${param})`);
      await page.locator(sel).selectOption('');
      await settle();
    }
    asked = listRequest(/\/keys\?.*search=ROTATED/);
    await page.locator('[data-testid=search-filter]').pressSequentially('ROTATED');
    await asked; await settle();
    check(JSON.stringify(await listed()) === JSON.stringify([idB]), 'the name search finds "rotated in browser", in any case');
    await page.locator('[data-testid=search-filter]').fill('');
    await page.locator('[data-testid=search-filter]').press('Enter');
    await settle();

    // --- sorting, across pages -----------------------------------------------------------
    const names = () => page.locator('[data-testid=key-row] .key-name').evaluateAll((els) => els.map((e) => e.firstChild.textContent));
    asked = listRequest(/\/keys\?.*sort=name&order=asc/);
    await page.getByTestId('sort-name').click();
    await asked; await settle();
    check(await page.locator('th[data-sort=name]').getAttribute('aria-sort') === 'ascending', 'the Name column sorts A to Z (aria-sort)');
    const firstPage = await names();
    check(firstPage.length === 50 && await page.locator('[data-testid=load-more]').isVisible(), 'a page of 50, with more to load', firstPage.length);
    await page.locator('[data-testid=load-more]').click();
    await settle();
    const all = await names();
    const lower = all.map((n) => n.toLowerCase());
    const sorted = [...lower].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    check(all.length > 50 && JSON.stringify(lower) === JSON.stringify(sorted),
          'after "Load more" the whole list is in name order, not only each page', `${all.length} keys`);
    check(JSON.stringify(all.slice(0, 50)) === JSON.stringify(firstPage), 'the second page continues the first');
    asked = listRequest(/\/keys\?.*sort=name&order=desc/);
    await page.getByTestId('sort-name').click();
    await asked; await settle();
    check((await names())[0].toLowerCase() === sorted[sorted.length - 1], 'clicked again: Z to A');
    asked = listRequest(/\/keys\?.*sort=expires&order=asc/);
    await page.getByTestId('sort-expires').click();
    await asked; await settle();
    check(await page.locator('th[data-sort=expires]').getAttribute('aria-sort') === 'ascending'
          && await page.locator('th[data-sort=name]').getAttribute('aria-sort') === null, 'Expires: soonest first');
    asked = listRequest(/\/keys\?.*sort=created&order=desc/);
    await page.getByTestId('sort-created').click();
    await asked; await settle();
    check((await listed())[0] === idM, 'Created: newest first again');

    // --- screenshots -----------------------------------------------------------
    await page.locator('[data-testid=status-filter]').selectOption('');
    await page.waitForFunction(() => document.querySelector('[data-testid=keys-table]').getAttribute('aria-busy') === 'false');
    await row.waitFor();

    // --- per-key usage: a bar a day, refusals stacked on the requests let through
    const usageId = process.env.APIKEY_USAGE_ID;
    check(!!usageId, 'APIKEY_USAGE_ID names the key whose usage t/400 wrote');
    await page.locator(`[data-testid=key-row][data-key-id="${usageId}"]`).getByTestId('usage-button').click();
    const usageDialog = page.getByTestId('usage-dialog');
    await usageDialog.waitFor();
    await page.waitForFunction(() => document.querySelector('[data-testid=usage-chart]').getAttribute('aria-busy') === 'false');
    const bars = usageDialog.locator('[data-testid=usage-bar]');
    check(await bars.count() === 30, 'the usage chart has a bar a day, 30 by default', await bars.count());
    const isoDay = (ago) => new Date(Date.now() - ago * 86400000).toISOString().slice(0, 10);
    const today = bars.last();
    const attrs = async (bar) => bar.evaluate((g) => [g.dataset.date, g.dataset.ok, g.dataset.refused, g.dataset.total].join(' '));
    check(await attrs(today) === `${isoDay(0)} 5 3 8`, "today's bar, last: 5 ok, 3 refused, 8 in all", await attrs(today));
    const seg = (r) => today.locator(`rect[data-result=${r}]`)
      .evaluate((e) => ({ y: +e.getAttribute('y'), h: +e.getAttribute('height') }));
    const okSeg = await seg('ok'), forbiddenSeg = await seg('forbidden'), limitedSeg = await seg('limited');
    check(await today.locator('rect[data-result=invalid]').count() === 0, 'no segment for a result that did not happen');
    check(Math.abs(forbiddenSeg.y + forbiddenSeg.h - okSeg.y) < 0.01 && Math.abs(limitedSeg.y + limitedSeg.h - forbiddenSeg.y) < 0.01,
          'the refusals are stacked on the requests let through', JSON.stringify([okSeg, forbiddenSeg, limitedSeg]));
    check(Math.abs(okSeg.h / 5 - limitedSeg.h / 2) < 0.01 && Math.abs(okSeg.h / 5 - forbiddenSeg.h) < 0.01,
          'segment heights in proportion to the counts');
    const label = await today.locator('title').textContent();
    check(label === `${isoDay(0)}: 8 requests, 5 ok, 3 refused (1 forbidden, 2 limited)`, "the bar's accessible title", label);
    check(await attrs(usageDialog.locator(`[data-testid=usage-bar][data-date="${isoDay(2)}"]`)) === `${isoDay(2)} 3 0 3`,
          'two days ago: 3 ok');
    check(await attrs(usageDialog.locator(`[data-testid=usage-bar][data-date="${isoDay(1)}"]`)) === `${isoDay(1)} 0 0 0`,
          'a day without requests: an empty bar');
    const summary = await page.getByTestId('usage-summary').textContent();
    check(summary === '11 requests in 30 days: 8 ok, 3 refused (1 forbidden, 2 limited, 0 invalid, 0 quota exceeded, 0 credits exhausted).', 'the summary', summary);
    check(/11 in all, 8 let through, 3 refused/.test(await usageDialog.locator('svg[role=img]').getAttribute('aria-label')),
          'the chart is an image with a text alternative');
    await page.getByTestId('usage-days').selectOption('7');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=usage-bar]').length === 7);
    check(await attrs(bars.last()) === `${isoDay(0)} 5 3 8`, 'Last 7 days: 7 bars, today still last');
    const resetDone = page.waitForResponse((r) => r.url().endsWith(`/keys/${usageId}/limits/reset`) && r.request().method() === 'POST');
    await page.getByTestId('usage-reset').click();
    check((await resetDone).status() === 200, 'Reset rate limits: POST keys/{id}/limits/reset answered 200');
    await page.waitForFunction(() => document.querySelector('[data-testid=usage-reset-status]').textContent !== '');
    check(await page.getByTestId('usage-reset-status').textContent() === 'Rate limits of “usage chart” reset: every bucket is full again.',
          'the dialog says so');
    const auditRes = await fetch(new URL(`keys/${usageId}/audit`, adminBase), { headers: { 'X-API-Key': adminKey } });
    const audited = (await auditRes.json()).events[0] || {};
    check(audited.action === 'reset_limits' && audited.via === 'admin-api', 'audited as reset_limits', JSON.stringify(audited));
    await usageDialog.screenshot({ path: path.join(artifacts, 'usage.png') });
    say(`screenshot ${path.join(artifacts, 'usage.png')}`);
    await usageDialog.getByRole('button', { name: 'Close' }).click();
    await usageDialog.waitFor({ state: 'hidden' });
    await page.mouse.move(0, 0);
    await page.screenshot({ path: path.join(artifacts, 'list.png') });
    say(`screenshot ${path.join(artifacts, 'list.png')}`);
    await page.setViewportSize({ width: 390, height: 844 });
    check(await row.evaluate((r) => getComputedStyle(r).display) === 'block', 'at phone width rows become cards');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
    check(overflow <= 390, 'with nothing wider than the screen', overflow);
    await page.screenshot({ path: path.join(artifacts, 'list-phone.png'), fullPage: true });
    say(`screenshot ${path.join(artifacts, 'list-phone.png')}`);

    // --- nothing kept --------------------------------------------------------
    const storage = await storageOf(page);
    const stored = JSON.stringify(storage);
    const tokens = [token, tokenB, tokenC];
    check(!tokens.some((t) => stored.includes(t)) && !/ak_(?:live_|test_)?[0-9a-z]{12}_/.test(stored),
          'no token, nor the admin key, in localStorage, sessionStorage or cookies', stored);
    check(!(await pageHolds(page, adminKey)), 'the admin key is nowhere in the page');
    check(!JSON.stringify(await context.cookies()).includes(adminKey), 'nor in the cookie jar');
    check(await keyDialog.isHidden(), 'the page did not ask for the admin key again');
    check(withoutKey.length === 0, 'every API call after that carried it', withoutKey.join(' '));
    check(notJson.length === 0, 'every change was sent as JSON', notJson.join(' '));
    let held = false;
    for (const t of tokens) held = held || await pageHolds(page, t);
    check(!held, 'nor anywhere in the page');
    const cookies = JSON.stringify(await context.cookies());
    check(!tokens.some((t) => cookies.includes(t)), 'nor in the browser\'s cookie jar');

    const foreign = requests.filter((u) => !u.startsWith(adminBase) && !u.startsWith('data:'));
    check(foreign.length === 0, 'the page fetched nothing outside its own location', foreign.join(' '));
    check(await page.locator('[data-testid=error-alert]').textContent() === '', 'no error shown');
    check(problems.length === 0, 'no script errors', problems.join('; '));
    check(refusals === 2, 'two 401s in all: before the key, and for the wrong one', refusals);
    check(conflicts === 1, 'and one 409: the role in use', conflicts);
  } catch (e) {
    // what the page looked like when a check failed
    const open = context && context.pages()[0];
    if (open) await open.screenshot({ path: path.join(artifacts, 'failure.png') }).catch(() => {});
    throw e;
  } finally {
    if (context) await context.close().catch(() => {});
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}

const watchdog = setTimeout(() => {
  console.error(`admin-page: FAIL: gave up after ${WATCHDOG_MS / 1000} s`);
  process.exit(1);
}, WATCHDOG_MS);

main().then(() => {
  clearTimeout(watchdog);
  say('admin page: all checks passed');
  process.exit(0);
}, (e) => {
  clearTimeout(watchdog);
  console.error(`admin-page: FAIL: ${e instanceof CheckFailed ? e.message : (e && e.stack) || e}`);
  process.exit(1);
});

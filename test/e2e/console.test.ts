import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { Browser, Locator, Page, Response } from 'playwright-core';
import { createTestPki, removeDir, startProxy, startReceiver, waitUntil } from '../support/index.js';
import type { ReceivedRequest, Receiver, TestPki, TestProxy } from '../support/index.js';
import { TEST_ADMIN_TOKEN, apiClient, startTestHerald, type TestHerald } from '../support/herald.js';
import { ensureConsoleBuilt, eventually, launchBrowser, newPage, screenshot } from '../support/browser.js';

/**
 * The web console in a real browser against a real Herald: sign-in, the two-step add form with a
 * CA and a proxy, the generated secret shown once, the list's last event, the detail page's
 * history with its filters and delivery drawer, edit, delete, field errors from the form and from
 * the server, what company and project tokens reach, and a phone-sized window. Every screen is
 * saved under test-artifacts/screenshots/.
 *
 * The tests run in order and share one Herald, one browser and the webhooks they create.
 */

const TYPED_SECRET = 'console-typed-secret-1';
const FAILING_SECRET = 'console-failing-secret';
const TENANT = 'acme';
const EVENT_TYPES = ['project_created', 'service_created', 'configuration_saved'];

/** The payload of each event type used here, valid against the built-in catalog. */
const PAYLOADS: Record<string, Record<string, unknown>> = {
  project_created: { tenantId: TENANT, projectId: 'shop' },
  service_created: { tenantId: TENANT, projectId: 'shop', serviceName: 'checkout' },
  configuration_saved: { tenantId: TENANT, projectId: 'shop', revisionName: 'main', savedChangesId: 'chg-1' },
};

const TLS_RECEIVER_ANSWER = 'accepted by the TLS receiver';
const TLS_RECEIVER_REFUSAL = 'upstream unavailable for services';

function miaSignature(body: Buffer, secret: string): string {
  return createHash('sha256').update(body).update(secret, 'utf8').digest('hex');
}

const exactly = (text: string) => new RegExp(`^\\s*${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*$`);

// ---------------------------------------------------------------------------------------------
// Page helpers. Locators go through roles and labels; Ant Design's select dropdown is the one
// place where its class names are needed, because the options it lists for screen readers are
// not the ones that take clicks.

async function signIn(page: Page, url: string, token: string): Promise<void> {
  await page.goto(url);
  await page.getByLabel('Herald token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Webhooks' }).waitFor();
}

/** The dropdown of the select that is open now. */
const openDropdown = (page: Page) => page.locator('.ant-select-dropdown:visible');

/**
 * Picks options of a select by their labels. A multiple select stays open after a pick, so it is
 * closed with Escape (which an open dropdown keeps from reaching the modal).
 */
async function choose(page: Page, select: Locator, labels: string[], options: { multiple?: boolean } = {}): Promise<void> {
  await select.click();
  for (const label of labels) {
    if (options.multiple) await select.fill(label);
    await openDropdown(page).locator('.ant-select-item-option').filter({ hasText: exactly(label) }).click();
  }
  if (options.multiple) await select.press('Escape');
  await openDropdown(page).waitFor({ state: 'hidden' });
}

/** The text of a select's current value (the item shown in its box). */
async function selectedText(select: Locator): Promise<string> {
  const box = select.locator('xpath=ancestor::*[contains(concat(" ", @class, " "), " ant-select ")][1]');
  return (await box.innerText()).trim();
}

/** Waits for the field to be marked invalid and returns the error text it is described by. */
async function fieldError(page: Page, field: Locator): Promise<string> {
  let text = '';
  await eventually(async () => {
    assert.equal(await field.getAttribute('aria-invalid'), 'true', 'the field is not marked invalid');
    const ids = ((await field.getAttribute('aria-describedby')) ?? '').split(/\s+/).filter(Boolean);
    assert.ok(ids.length > 0, 'the field names no description');
    const texts = await Promise.all(ids.map((id) => page.locator(`[id="${id}"]`).innerText()));
    text = texts.join('\n').trim();
    assert.notEqual(text, '');
  });
  return text;
}

/** Opens a Collapse panel unless it is open already, and waits until it says it is open. */
async function expandPanel(page: Page, name: string): Promise<void> {
  const header = page.getByRole('button', { name });
  const expanded = async () => (await header.getAttribute('aria-expanded')) === 'true';
  if (!(await expanded())) await header.click();
  await eventually(async () => assert.ok(await expanded(), `the ${name} panel did not open`));
}

/** Rows of a table (those with a cell), each as column title → cell text. */
async function readTable(scope: Locator, rowFilter: Locator): Promise<Record<string, string>[]> {
  const headers = (await scope.getByRole('columnheader').allInnerTexts()).map((title) => title.trim());
  const rows = await scope.getByRole('row').filter({ has: rowFilter }).all();
  return Promise.all(
    rows.map(async (row) => {
      const cells = (await row.getByRole('cell').allInnerTexts()).map((text) => text.trim());
      return Object.fromEntries(headers.map((title, index) => [title, cells[index] ?? '']));
    }),
  );
}

const webhookRow = (page: Page, url: string) => page.getByRole('row').filter({ hasText: url });
const historyCard = (page: Page) => page.locator('.ant-card').filter({ has: page.getByText('Event history', { exact: true }) });

async function webhookRows(page: Page): Promise<Record<string, string>[]> {
  return readTable(page.locator('body'), page.getByRole('button', { name: 'Open webhook' }));
}

/** Closes a drawer or modal the way a keyboard user does. */
async function pressEscapeToClose(page: Page, overlay: Locator): Promise<void> {
  await page.keyboard.press('Escape');
  await overlay.waitFor({ state: 'hidden' });
}

async function historyRows(page: Page): Promise<Record<string, string>[]> {
  return readTable(historyCard(page), page.getByRole('button', { name: 'View request' }));
}

/** Event types of the history rows, top to bottom. */
async function historyEventTypes(page: Page): Promise<string[]> {
  return (await historyRows(page)).map((row) => row['Event type']);
}

/** True when the text is anywhere in the page: markup, field values or the tab's storage. */
async function pageHolds(page: Page, text: string): Promise<boolean> {
  if ((await page.content()).includes(text)) return true;
  return page.evaluate((needle) => {
    const values = [...document.querySelectorAll('input, textarea')].map((field) => (field as HTMLInputElement).value);
    const stored = [sessionStorage, localStorage].flatMap((storage) =>
      Object.keys(storage).map((key) => `${key}=${storage.getItem(key)}`),
    );
    return [...values, ...stored].some((value) => value.includes(needle));
  }, text);
}

const isWebhookCreate = (response: Response) =>
  response.request().method() === 'POST' && new URL(response.url()).pathname === '/api/webhooks';

// ---------------------------------------------------------------------------------------------

describe('web console', () => {
  let browser: Browser;
  let herald: TestHerald;
  let pki: TestPki;
  let tlsReceiver: Receiver;
  let plainReceiver: Receiver;
  let failingReceiver: Receiver;
  let proxy: TestProxy;
  let page: Page;
  const extraHeralds: TestHerald[] = [];

  // Filled in as the tests create them.
  let tlsWebhookId = '';
  let plainWebhookId = '';
  let failingWebhookId = '';
  let generatedSecret = '';
  const tlsUrl = () => `${tlsReceiver.url}/hooks/tls`;
  const plainUrl = () => `${plainReceiver.url}/hooks/plain`;
  const failingUrl = () => `${failingReceiver.url}/hooks/failing`;

  async function publish(eventName: string): Promise<string> {
    const published = await herald.post('/api/events', { eventName, payload: PAYLOADS[eventName] });
    assert.equal(published.status, 202, JSON.stringify(published.body));
    return published.body.id as string;
  }

  /** Waits until the event's delivery to the webhook is final, and returns it. */
  async function settled(webhookId: string, eventId: string): Promise<any> {
    return waitUntil(
      async () => {
        const list = await herald.get(`/api/webhooks/${webhookId}/deliveries`);
        const delivery = list.body.data.find((row: { eventId: string }) => row.eventId === eventId);
        return delivery && delivery.status !== 'pending' ? delivery : null;
      },
      { message: `the delivery of ${eventId} to ${webhookId} did not settle` },
    );
  }

  async function requestFor(receiver: Receiver, eventId: string): Promise<ReceivedRequest> {
    return waitUntil(() => receiver.requests.find((request) => request.headers['webhook-id'] === eventId), {
      message: `no request for ${eventId}`,
    });
  }

  before(async () => {
    ensureConsoleBuilt();
    pki = createTestPki();
    tlsReceiver = await startReceiver({
      tls: { certPem: pki.certPem, keyPem: pki.keyPem },
      responder: (request) =>
        JSON.parse(request.body.toString('utf8')).eventName === 'service_created'
          ? { status: 502, body: TLS_RECEIVER_REFUSAL }
          : { status: 200, body: TLS_RECEIVER_ANSWER },
    });
    failingReceiver = await startReceiver({
      tls: { certPem: pki.certPem, keyPem: pki.keyPem },
      responder: () => ({ status: 500, body: 'the receiver is broken' }),
    });
    plainReceiver = await startReceiver();
    proxy = await startProxy();
    herald = await startTestHerald();
    browser = await launchBrowser();
    page = await newPage(browser);
  }, { timeout: 600_000 });

  after(async () => {
    await browser?.close();
    for (const extra of extraHeralds) await extra.stop({ removeData: true });
    await herald?.stop({ removeData: true });
    await Promise.all([tlsReceiver?.close(), failingReceiver?.close(), plainReceiver?.close(), proxy?.close()]);
    if (pki) removeDir(pki.dir);
  });

  test('signing in refuses a wrong token and keeps the right one in the tab', async () => {
    await page.goto(herald.url);
    await page.getByLabel('Herald token').waitFor();
    await screenshot(page, '01-sign-in');

    await page.getByLabel('Herald token').fill('not-the-admin-token-at-all');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('That token was not accepted').waitFor();
    await screenshot(page, '01b-sign-in-refused');
    assert.equal(await page.getByRole('heading', { name: 'Webhooks' }).count(), 0);

    await page.getByLabel('Herald token').fill(TEST_ADMIN_TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Webhooks' }).waitFor();
    await page.getByText('Herald', { exact: true }).first().waitFor();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    await page.getByText('No webhooks yet').waitFor();
    await page.getByRole('button', { name: 'Add your first webhook' }).waitFor();
    assert.equal(await selectedText(page.getByLabel('Scope', { exact: true })), 'Whole instance');

    const storage = await page.evaluate(() => ({
      session: Object.values(sessionStorage).join('\n'),
      local: Object.values(localStorage).join('\n'),
    }));
    assert.ok(storage.session.includes(TEST_ADMIN_TOKEN), 'the token is kept in sessionStorage');
    assert.ok(!storage.local.includes(TEST_ADMIN_TOKEN), 'the token is not kept in localStorage');

    // The tab keeps its session across a reload.
    await page.reload();
    await page.getByRole('heading', { name: 'Webhooks' }).waitFor();
  });

  test('the add form reports a bad URL and missing events on their fields before sending anything', async () => {
    const creates: string[] = [];
    const onRequest = (request: { method(): string; url(): string }) => {
      if (request.method() === 'POST' && new URL(request.url()).pathname === '/api/webhooks') creates.push(request.url());
    };
    page.on('request', onRequest);
    try {
      await page.getByRole('button', { name: 'Add your first webhook' }).click();
      const dialog = page.getByRole('dialog', { name: 'Add webhook' });
      await dialog.waitFor();

      await dialog.getByRole('button', { name: 'Next' }).click();
      assert.notEqual(await fieldError(page, dialog.getByLabel('Target URL', { exact: true })), '');
      assert.notEqual(await fieldError(page, dialog.getByLabel('Events', { exact: true })), '');

      await dialog.getByLabel('Target URL', { exact: true }).fill('not a url');
      await dialog.getByRole('button', { name: 'Next' }).click();
      assert.notEqual(await fieldError(page, dialog.getByLabel('Target URL', { exact: true })), '');
      await screenshot(page, '03b-add-webhook-field-errors', { fit: dialog });
      // Still on the first step.
      await dialog.getByRole('button', { name: 'Next' }).waitFor();

      await dialog.getByRole('button', { name: 'Cancel' }).click();
      await dialog.waitFor({ state: 'hidden' });
    } finally {
      page.off('request', onRequest);
    }
    assert.deepEqual(creates, []);
    assert.equal((await herald.get('/api/webhooks')).body.data.length, 0);
  });

  test('a webhook added through both steps with a CA file, a proxy and a typed secret', async () => {
    await page.getByRole('button', { name: 'Add webhook', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: 'Add webhook' });
    await dialog.waitFor();
    // Whatever the cancelled attempt left must be gone.
    assert.equal(await dialog.getByLabel('Target URL', { exact: true }).inputValue(), '');

    await dialog.getByLabel('Target URL', { exact: true }).fill(tlsUrl());
    await dialog.getByLabel('Secret', { exact: true }).fill(TYPED_SECRET);
    await choose(page, dialog.getByLabel('Events', { exact: true }), EVENT_TYPES, { multiple: true });
    await dialog.getByLabel('Name', { exact: true }).fill('TLS receiver');
    await choose(page, dialog.getByLabel('Method', { exact: true }), ['PUT']);
    assert.equal(await dialog.getByLabel('Content type', { exact: true }).inputValue(), 'application/json');
    await dialog.getByLabel('Max attempts', { exact: true }).fill('2');
    assert.equal(await dialog.getByLabel('Active', { exact: true }).isChecked(), true);
    await screenshot(page, '03-add-webhook-details', { fit: dialog });

    await dialog.getByRole('button', { name: 'Next' }).click();
    await expandPanel(page, 'Certificate authority');
    // The file goes straight to the upload's own input, the one its button opens: the native
    // chooser's event did not always come under load, and what is tested is reading the file.
    await dialog.getByRole('button', { name: 'Upload PEM file' }).waitFor();
    await dialog.locator('input[type="file"][accept*=".pem"]').setInputFiles(pki.caPath);
    await expandPanel(page, 'Proxy');
    await dialog.getByLabel('Proxy URL', { exact: true }).fill(proxy.url);
    await dialog.getByRole('button', { name: 'Back' }).waitFor();
    await screenshot(page, '04-add-webhook-advanced', { fit: dialog });

    const created = page.waitForResponse(isWebhookCreate);
    await dialog.getByRole('button', { name: 'Add webhook' }).click();
    const response = await created;
    assert.equal(response.status(), 201, await response.text());
    tlsWebhookId = (await response.json()).id;
    await dialog.waitFor({ state: 'hidden' });
    await webhookRow(page, tlsUrl()).waitFor();
    // A typed secret is the caller's own: nothing to show.
    assert.equal(await page.getByRole('dialog', { name: 'Webhook secret' }).count(), 0);

    const stored = (await herald.get(`/api/webhooks/${tlsWebhookId}`)).body;
    assert.equal(stored.name, 'TLS receiver');
    assert.equal(stored.method, 'PUT');
    assert.equal(stored.maxAttempts, 2);
    assert.equal(stored.active, true);
    assert.equal(stored.scope, 'instance');
    assert.deepEqual([...stored.events].sort(), [...EVENT_TYPES].sort());
    assert.equal(Buffer.from(stored.base64CA, 'base64').toString('utf8').trim(), pki.caPem.trim());
    assert.equal(new URL(stored.proxy.url).origin, proxy.url);

    const cells = (await webhookRows(page)).find((row) => row['Target URL'].includes(tlsUrl()));
    assert.ok(cells, 'the new webhook has a row');
    assert.equal(cells.Status, 'Active');
    for (const eventType of EVENT_TYPES) assert.ok(cells.Events.includes(eventType), cells.Events);
    assert.equal(cells['Last event'], '—');
  });

  test('a webhook added without a secret shows the generated one once', async () => {
    await page.getByRole('button', { name: 'Add webhook', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: 'Add webhook' });
    await dialog.waitFor();
    await dialog.getByLabel('Target URL', { exact: true }).fill(plainUrl());
    await choose(page, dialog.getByLabel('Events', { exact: true }), ['project_created'], { multiple: true });
    await dialog.getByLabel('Name', { exact: true }).fill('Plain receiver');
    await dialog.getByRole('button', { name: 'Next' }).click();

    const created = page.waitForResponse(isWebhookCreate);
    await dialog.getByRole('button', { name: 'Add webhook' }).click();
    const response = await created;
    assert.equal(response.status(), 201, await response.text());
    const body = await response.json();
    plainWebhookId = body.id;
    generatedSecret = body.secret;
    assert.match(generatedSecret, /\S{16,}/);

    const secretDialog = page.getByRole('dialog', { name: 'Webhook secret' });
    await secretDialog.waitFor();
    await secretDialog.getByText('Copy it now: it will not be shown again.').waitFor();
    assert.ok(await pageHolds(page, generatedSecret), 'the secret modal shows the secret');
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: herald.url });
    await secretDialog.getByRole('button', { name: 'Copy secret' }).click();
    await eventually(async () => assert.equal(await page.evaluate(() => navigator.clipboard.readText()), generatedSecret));
    await screenshot(page, '05-webhook-secret');

    await secretDialog.getByRole('button', { name: 'Done' }).click();
    await secretDialog.waitFor({ state: 'hidden' });
    await webhookRow(page, plainUrl()).waitFor();
    await eventually(async () => assert.equal(await pageHolds(page, generatedSecret), false, 'the secret is gone'));

    // Nor does it come back: not in the edit form, not after a reload.
    await webhookRow(page, plainUrl()).getByRole('button', { name: 'Edit webhook' }).click();
    const edit = page.getByRole('dialog', { name: 'Edit webhook' });
    await edit.waitFor();
    assert.equal(await edit.getByLabel('Secret', { exact: true }).inputValue(), '');
    assert.equal(await pageHolds(page, generatedSecret), false);
    await edit.getByRole('button', { name: 'Cancel' }).click();
    await edit.waitFor({ state: 'hidden' });
    await page.reload();
    await webhookRow(page, plainUrl()).waitFor();
    assert.equal(await pageHolds(page, generatedSecret), false);
  });

  test('a pasted CA works as well as an uploaded one', async () => {
    await page.getByRole('button', { name: 'Add webhook', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: 'Add webhook' });
    await dialog.waitFor();
    await dialog.getByLabel('Target URL', { exact: true }).fill(failingUrl());
    await dialog.getByLabel('Secret', { exact: true }).fill(FAILING_SECRET);
    await choose(page, dialog.getByLabel('Events', { exact: true }), ['project_created'], { multiple: true });
    await dialog.getByLabel('Max attempts', { exact: true }).fill('1');
    await dialog.getByRole('button', { name: 'Next' }).click();
    await expandPanel(page, 'Certificate authority');
    await dialog.getByLabel('CA certificate (PEM)', { exact: true }).fill(pki.caPem);

    const created = page.waitForResponse(isWebhookCreate);
    await dialog.getByRole('button', { name: 'Add webhook' }).click();
    const response = await created;
    assert.equal(response.status(), 201, await response.text());
    failingWebhookId = (await response.json()).id;
    await dialog.waitFor({ state: 'hidden' });
    await webhookRow(page, failingUrl()).waitFor();

    const stored = (await herald.get(`/api/webhooks/${failingWebhookId}`)).body;
    assert.equal(Buffer.from(stored.base64CA, 'base64').toString('utf8').trim(), pki.caPem.trim());
    assert.equal(stored.proxy, null);
    assert.equal(stored.maxAttempts, 1);
  });

  test('a published event shows as the last event of each webhook: success, or error with its status code', async () => {
    // All three webhooks are in the list.
    for (const url of [tlsUrl(), plainUrl(), failingUrl()]) await webhookRow(page, url).waitFor();

    const eventId = await publish('project_created');
    const [toTls, toPlain, toFailing] = await Promise.all([
      settled(tlsWebhookId, eventId),
      settled(plainWebhookId, eventId),
      settled(failingWebhookId, eventId),
    ]);
    assert.equal(toTls.status, 'success');
    assert.equal(toPlain.status, 'success');
    assert.equal(toFailing.status, 'error');

    // Over TLS with the uploaded CA, through the proxy's CONNECT tunnel, signed with the typed secret.
    const overTls = await requestFor(tlsReceiver, eventId);
    assert.equal(overTls.method, 'PUT');
    assert.equal(overTls.url, '/hooks/tls');
    assert.equal(overTls.headers['x-mia-signature'], miaSignature(overTls.body, TYPED_SECRET));
    assert.ok(
      proxy.seen.some((seen) => seen.kind === 'connect' && seen.target === `127.0.0.1:${tlsReceiver.port}`),
      JSON.stringify(proxy.seen),
    );
    // The generated secret shown in the modal is the one that signs.
    const plain = await requestFor(plainReceiver, eventId);
    assert.equal(plain.headers['x-mia-signature'], miaSignature(plain.body, generatedSecret));
    // The pasted CA made the TLS handshake work: the failure is the receiver's answer.
    await requestFor(failingReceiver, eventId);

    await page.reload();
    const tlsRow = webhookRow(page, tlsUrl());
    const failingRow = webhookRow(page, failingUrl());
    await eventually(async () => {
      const tlsCell = await tlsRow.getByRole('cell').filter({ has: page.getByRole('button', { name: 'Last event details' }) }).innerText();
      assert.match(tlsCell, /success/);
      assert.match(tlsCell, /\d{1,2}:\d{2}/);
      assert.match(await failingRow.innerText(), /error/);
    });
    await screenshot(page, '02-webhooks-list');

    // The details are one click (or hover, or focus) away, and go when the pointer and focus leave.
    const heading = page.getByRole('heading', { name: 'Webhooks' });
    const lastEventDetails = async (row: Locator, statusCode: string) => {
      await row.getByRole('button', { name: 'Last event details' }).click();
      const details = page.getByRole('tooltip').or(page.getByRole('dialog')).filter({ hasText: 'project_created' });
      await details.waitFor();
      await eventually(async () => assert.match(await details.innerText(), new RegExp(`\\b${statusCode}\\b`)));
      return details;
    };
    const failingDetails = await lastEventDetails(failingRow, '500');
    await screenshot(page, '02b-last-event-details');
    await heading.click();
    await failingDetails.waitFor({ state: 'hidden' });
    const tlsDetails = await lastEventDetails(tlsRow, '200');
    await heading.click();
    await tlsDetails.waitFor({ state: 'hidden' });

    // Only the first webhook listens to service_created.
    const eventFilter = page.getByLabel('Filter by events', { exact: true });
    await choose(page, eventFilter, ['service_created'], { multiple: true });
    await webhookRow(page, failingUrl()).waitFor({ state: 'detached' });
    await eventually(async () => assert.equal((await webhookRows(page)).length, 1));
    await tlsRow.waitFor();
    // Picking the option again takes the filter off.
    await choose(page, eventFilter, ['service_created'], { multiple: true });
    for (const url of [tlsUrl(), plainUrl(), failingUrl()]) await webhookRow(page, url).waitFor();
  });

  test('the detail page shows the history as it grows and opens a delivery', async () => {
    await webhookRow(page, tlsUrl()).getByRole('button', { name: 'Open webhook' }).click();
    await page.waitForURL(`**/webhooks/${tlsWebhookId}`);
    await page.getByRole('link', { name: 'Back to webhooks' }).waitFor();
    const settings = page.locator('.ant-card').filter({ has: page.getByText('Settings', { exact: true }) });
    await eventually(async () => {
      const text = await settings.innerText();
      assert.ok(text.includes(tlsUrl()), text);
      assert.ok(text.includes('TLS receiver'), text);
    });
    await eventually(async () => assert.deepEqual(await historyEventTypes(page), ['project_created']));

    // A failing event appears without touching the page (the history refreshes by itself) ...
    const failedId = await publish('service_created');
    const failed = await settled(tlsWebhookId, failedId);
    assert.equal(failed.status, 'error');
    assert.equal(failed.statusCode, 502);
    assert.equal(failed.attempts, 2);
    await eventually(async () => assert.deepEqual(await historyEventTypes(page), ['service_created', 'project_created']), {
      timeoutMs: 30_000,
    });

    // ... and the Refresh button fetches at once.
    const savedId = await publish('configuration_saved');
    assert.equal((await settled(tlsWebhookId, savedId)).status, 'success');
    await page.getByRole('button', { name: 'Refresh' }).click();
    await eventually(async () =>
      assert.deepEqual(await historyEventTypes(page), ['configuration_saved', 'service_created', 'project_created']),
    );
    const rows = await historyRows(page);
    assert.match(rows[0].Status, /success/);
    assert.match(rows[1].Status, /error/);
    assert.equal(rows[1].Attempts, '2');
    assert.equal(rows[2].Attempts, '1');
    for (const row of rows) assert.match(row['Date and time'], /\d{1,2}:\d{2}/);
    await screenshot(page, '06-webhook-detail');

    // The first delivery, as it was sent.
    const sent = tlsReceiver.requests.find((request) => JSON.parse(request.body.toString()).eventName === 'project_created')!;
    await historyCard(page).getByRole('row').filter({ hasText: 'project_created' }).getByRole('button', { name: 'View request' }).click();
    const drawer = page.getByRole('dialog', { name: 'Delivery' });
    await drawer.waitFor();
    await drawer.getByText('Request body', { exact: true }).waitFor();
    await drawer.getByText('Request headers', { exact: true }).waitFor();
    await drawer.getByText('Response', { exact: true }).waitFor();
    await eventually(async () => {
      const text = await drawer.innerText();
      const pretty = JSON.stringify(JSON.parse(sent.body.toString('utf8')), null, 2);
      // Indented one key a line, whatever the indent width.
      const prettyPattern = new RegExp(
        pretty
          .split('\n')
          .map((line) => line.trim().replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
          .join('\\n\\s*'),
      );
      assert.match(text, prettyPattern);
      assert.ok(text.includes(String(sent.headers['x-mia-signature'])), 'the signature header is listed');
      assert.ok(text.includes(TLS_RECEIVER_ANSWER), 'the response body is shown');
      assert.ok(!text.includes(TYPED_SECRET));
    });
    await screenshot(page, '07-delivery-drawer');
    await pressEscapeToClose(page, drawer);

    // A failure shows its error and what the receiver answered.
    await historyCard(page).getByRole('row').filter({ hasText: 'service_created' }).getByRole('button', { name: 'View request' }).click();
    await drawer.waitFor();
    await drawer.getByText('Error', { exact: true }).waitFor();
    await eventually(async () => {
      const text = await drawer.innerText();
      assert.match(text, /\b502\b/);
      assert.ok(text.includes(TLS_RECEIVER_REFUSAL), text);
    });
    await screenshot(page, '07b-delivery-drawer-error');
    await pressEscapeToClose(page, drawer);
  });

  test('the history filters by event type, status and status code, and sorts both ways', async () => {
    const detailUrl = `${herald.url}/webhooks/${tlsWebhookId}`;
    const newestFirst = ['configuration_saved', 'service_created', 'project_created'];
    const fresh = async () => {
      await page.goto(detailUrl);
      await eventually(async () => assert.deepEqual(await historyEventTypes(page), newestFirst));
    };

    await fresh();
    await choose(page, page.getByLabel('Sort', { exact: true }), ['Oldest first']);
    await eventually(async () => assert.deepEqual(await historyEventTypes(page), [...newestFirst].reverse()));
    await choose(page, page.getByLabel('Sort', { exact: true }), ['Newest first']);
    await eventually(async () => assert.deepEqual(await historyEventTypes(page), newestFirst));

    await fresh();
    await choose(page, page.getByLabel('Event type', { exact: true }), ['service_created']);
    await eventually(async () => {
      const rows = await historyRows(page);
      assert.deepEqual(rows.map((row) => row['Event type']), ['service_created']);
      assert.match(rows[0].Status, /error/);
    });

    await fresh();
    await choose(page, page.getByLabel('Status', { exact: true }), ['success']);
    await eventually(async () => assert.deepEqual(await historyEventTypes(page), ['configuration_saved', 'project_created']));
    await choose(page, page.getByLabel('Sort', { exact: true }), ['Oldest first']);
    await eventually(async () => assert.deepEqual(await historyEventTypes(page), ['project_created', 'configuration_saved']));

    await fresh();
    await page.getByLabel('Status code', { exact: true }).fill('502');
    await page.getByLabel('Status code', { exact: true }).press('Enter');
    await eventually(async () => assert.deepEqual(await historyEventTypes(page), ['service_created']));
    await page.getByLabel('Status code', { exact: true }).fill('200');
    await page.getByLabel('Status code', { exact: true }).press('Enter');
    await eventually(async () => assert.deepEqual(await historyEventTypes(page), ['configuration_saved', 'project_created']));

    await page.getByRole('link', { name: 'Back to webhooks' }).click();
    await page.getByRole('heading', { name: 'Webhooks' }).waitFor();
    await webhookRow(page, tlsUrl()).waitFor();
  });

  test('editing without a secret keeps the secret, the CA and the proxy', async () => {
    await webhookRow(page, tlsUrl()).getByRole('button', { name: 'Edit webhook' }).click();
    const dialog = page.getByRole('dialog', { name: 'Edit webhook' });
    await dialog.waitFor();
    const secret = dialog.getByLabel('Secret', { exact: true });
    assert.equal(await secret.getAttribute('placeholder'), 'Leave empty to keep the current secret');
    assert.equal(await secret.inputValue(), '');
    assert.equal(await dialog.getByLabel('Target URL', { exact: true }).inputValue(), tlsUrl());
    assert.equal(await dialog.getByLabel('Name', { exact: true }).inputValue(), 'TLS receiver');
    await dialog.getByLabel('Name', { exact: true }).fill('TLS receiver, renamed');
    await screenshot(page, '08b-edit-webhook', { fit: dialog });

    const save = dialog.getByRole('button', { name: 'Save' });
    // The edit form may keep the two steps of the add form.
    if (!(await save.isVisible())) await dialog.getByRole('button', { name: 'Next' }).click();
    const patched = page.waitForResponse(
      (response) => response.request().method() === 'PATCH' && new URL(response.url()).pathname === `/api/webhooks/${tlsWebhookId}`,
    );
    await save.click();
    const response = await patched;
    assert.equal(response.status(), 200, await response.text());
    await dialog.waitFor({ state: 'hidden' });

    const stored = (await herald.get(`/api/webhooks/${tlsWebhookId}`)).body;
    assert.equal(stored.name, 'TLS receiver, renamed');
    assert.equal(stored.method, 'PUT');
    assert.equal(stored.maxAttempts, 2);
    assert.deepEqual([...stored.events].sort(), [...EVENT_TYPES].sort());
    assert.equal(Buffer.from(stored.base64CA, 'base64').toString('utf8').trim(), pki.caPem.trim());
    assert.equal(new URL(stored.proxy.url).origin, proxy.url);

    const tunnelsBefore = proxy.seen.filter((seen) => seen.kind === 'connect').length;
    const eventId = await publish('project_created');
    assert.equal((await settled(tlsWebhookId, eventId)).status, 'success');
    const request = await requestFor(tlsReceiver, eventId);
    assert.equal(request.headers['x-mia-signature'], miaSignature(request.body, TYPED_SECRET));
    assert.ok(proxy.seen.filter((seen) => seen.kind === 'connect').length > tunnelsBefore, 'still through the proxy');
  });

  test('deleting through the modal removes the webhook', async () => {
    await webhookRow(page, plainUrl()).getByRole('button', { name: 'Delete webhook' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete webhook' });
    await dialog.waitFor();
    await screenshot(page, '08-delete-webhook');
    await dialog.getByRole('button', { name: 'Delete webhook' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await webhookRow(page, plainUrl()).waitFor({ state: 'detached' });
    await webhookRow(page, tlsUrl()).waitFor();
    assert.equal((await herald.get(`/api/webhooks/${plainWebhookId}`)).status, 404);
  });

  test('an error the server finds is shown on its field', async () => {
    // A Herald that refuses internal addresses, as a shared installation does.
    const strict = await startTestHerald({ allowPrivateNetworks: false });
    extraHeralds.push(strict);
    const strictPage = await newPage(browser);
    try {
      await signIn(strictPage, strict.url, TEST_ADMIN_TOKEN);
      await strictPage.getByRole('button', { name: 'Add webhook', exact: true }).click();
      const dialog = strictPage.getByRole('dialog', { name: 'Add webhook' });
      await dialog.waitFor();
      await dialog.getByLabel('Target URL', { exact: true }).fill(`${plainReceiver.url}/hooks/internal`);
      await choose(strictPage, dialog.getByLabel('Events', { exact: true }), ['project_created'], { multiple: true });
      await dialog.getByRole('button', { name: 'Next' }).click();

      const created = strictPage.waitForResponse(isWebhookCreate);
      await dialog.getByRole('button', { name: 'Add webhook' }).click();
      const response = await created;
      assert.equal(response.status(), 400);
      const body = await response.json();
      assert.equal(body.field, 'url');

      const error = await fieldError(strictPage, dialog.getByLabel('Target URL', { exact: true }));
      assert.match(error, /private, loopback or link-local/);
      await screenshot(strictPage, '04b-add-webhook-server-error', { fit: dialog });
      assert.equal((await strict.get('/api/webhooks')).body.data.length, 0);
    } finally {
      await strictPage.context().close();
    }
  });

  test('a company token sees only its company and cannot choose the whole instance; a project token only its project', async () => {
    const acmeUrl = `${plainReceiver.url}/hooks/acme`;
    const shopUrl = `${plainReceiver.url}/hooks/shop`;
    const globexUrl = `${plainReceiver.url}/hooks/globex`;
    for (const [url, tenantId, projectId] of [[acmeUrl, TENANT], [shopUrl, TENANT, 'shop'], [globexUrl, 'globex']]) {
      const created = await herald.post('/api/webhooks', { url, events: ['project_created'], tenantId, projectId });
      assert.equal(created.status, 201, JSON.stringify(created.body));
    }
    const issued = await herald.post('/api/tokens', { role: 'company', tenantId: TENANT, name: 'acme console' });
    assert.equal(issued.status, 201, JSON.stringify(issued.body));
    const projectToken = await herald.post('/api/tokens', { role: 'project', tenantId: TENANT, projectId: 'shop' });
    assert.equal(projectToken.status, 201, JSON.stringify(projectToken.body));
    // What the console asks first, to know which scopes to offer.
    const me = await apiClient(herald.url, issued.body.token).get('/api/me');
    assert.equal(me.status, 200);
    assert.deepEqual(
      { role: me.body.role, tenantId: me.body.tenantId, projectId: me.body.projectId },
      { role: 'company', tenantId: TENANT, projectId: null },
    );

    // The admin narrows the list to one company with the scope switcher.
    await page.goto(herald.url);
    await webhookRow(page, tlsUrl()).waitFor();
    await choose(page, page.getByLabel('Scope', { exact: true }), ['Company']);
    await page.getByLabel('Tenant ID', { exact: true }).fill(TENANT);
    await page.getByLabel('Tenant ID', { exact: true }).press('Enter');
    await webhookRow(page, acmeUrl).waitFor();
    await webhookRow(page, tlsUrl()).waitFor({ state: 'detached' });
    assert.equal(await webhookRow(page, globexUrl).count(), 0);
    await choose(page, page.getByLabel('Scope', { exact: true }), ['Whole instance']);
    await webhookRow(page, tlsUrl()).waitFor();

    const companyPage = await newPage(browser);
    try {
      await signIn(companyPage, herald.url, issued.body.token);
      await webhookRow(companyPage, acmeUrl).waitFor();
      const scope = companyPage.getByLabel('Scope', { exact: true });
      assert.equal(await selectedText(scope), 'Company');
      const tenant = companyPage.getByLabel('Tenant ID', { exact: true });
      assert.equal(await tenant.inputValue(), TENANT);
      assert.equal(await tenant.isEditable(), false, 'the tenant is fixed');
      await screenshot(companyPage, '10-company-scope');

      // "Whole instance" is either not offered, or offered disabled.
      if (await scope.isEnabled()) {
        await scope.click();
        const wholeInstance = openDropdown(companyPage).locator('.ant-select-item-option').filter({ hasText: exactly('Whole instance') });
        if ((await wholeInstance.count()) > 0) {
          assert.equal(await wholeInstance.getAttribute('aria-disabled'), 'true');
        }
        await scope.press('Escape');
        await openDropdown(companyPage).waitFor({ state: 'hidden' });
      }
      assert.equal(await selectedText(scope), 'Company');

      const rows = await webhookRows(companyPage);
      assert.equal(rows.length, 1, JSON.stringify(rows));
      assert.ok(rows[0]['Target URL'].includes(acmeUrl), rows[0]['Target URL']);
      for (const hidden of [globexUrl, tlsUrl(), failingUrl()]) assert.equal(await webhookRow(companyPage, hidden).count(), 0, hidden);

      // Within its company it may look at one project.
      await choose(companyPage, scope, ['Project']);
      await companyPage.getByLabel('Project ID', { exact: true }).fill('shop');
      await companyPage.getByLabel('Project ID', { exact: true }).press('Enter');
      await webhookRow(companyPage, shopUrl).waitFor();
      await webhookRow(companyPage, acmeUrl).waitFor({ state: 'detached' });
      assert.equal(await companyPage.getByLabel('Tenant ID', { exact: true }).inputValue(), TENANT);

      await companyPage.getByRole('button', { name: 'Sign out' }).click();
      await companyPage.getByLabel('Herald token').waitFor();
      const session = await companyPage.evaluate(() => Object.values(sessionStorage).join('\n'));
      assert.ok(!session.includes(issued.body.token), 'signing out forgets the token');
    } finally {
      await companyPage.context().close();
    }

    const projectPage = await newPage(browser);
    try {
      await signIn(projectPage, herald.url, projectToken.body.token);
      await webhookRow(projectPage, shopUrl).waitFor();
      assert.equal(await selectedText(projectPage.getByLabel('Scope', { exact: true })), 'Project');
      for (const [label, value] of [['Tenant ID', TENANT], ['Project ID', 'shop']]) {
        const field = projectPage.getByLabel(label, { exact: true });
        assert.equal(await field.inputValue(), value);
        assert.equal(await field.isEditable(), false, `${label} is fixed`);
      }
      const rows = await webhookRows(projectPage);
      assert.equal(rows.length, 1, JSON.stringify(rows));
      assert.ok(rows[0]['Target URL'].includes(shopUrl), rows[0]['Target URL']);
    } finally {
      await projectPage.context().close();
    }
  });

  test('a phone-sized window keeps the list usable', async () => {
    const narrow = await newPage(browser, { width: 390, height: 844 });
    try {
      await signIn(narrow, herald.url, TEST_ADMIN_TOKEN);
      const row = webhookRow(narrow, tlsUrl());
      await row.waitFor();
      const add = narrow.getByRole('button', { name: 'Add webhook', exact: true });
      assert.equal(await add.isVisible(), true);
      const box = await add.boundingBox();
      assert.ok(box && box.x >= 0 && box.x + box.width <= 390, `"Add webhook" is inside the window: ${JSON.stringify(box)}`);
      const overflow = await narrow.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px`);
      await screenshot(narrow, '09-webhooks-narrow');

      await row.getByRole('button', { name: 'Open webhook' }).click();
      await narrow.waitForURL(`**/webhooks/${tlsWebhookId}`);
      await eventually(async () => assert.ok((await historyEventTypes(narrow)).length >= 3));
      await screenshot(narrow, '09b-webhook-detail-narrow');
    } finally {
      await narrow.context().close();
    }
  });
});

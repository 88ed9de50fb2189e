import { expect, test } from '@playwright/test';
import { DEMO_WRITE_KEY as WRITE_KEY, hydrated, metric, signIn, writeKeyAuth } from './helpers';
import { Analytics } from '@segment/analytics-node';

const accepted = (request: import('@playwright/test').APIRequestContext) =>
  metric(request, 'gateway_events_accepted_total');

test("Segment's own Node.js library, unmodified, sends events that Pulse accepts", async ({ request, baseURL }) => {
  const before = await accepted(request);
  const errors: unknown[] = [];
  const analytics = new Analytics({ writeKey: WRITE_KEY, host: baseURL!, flushAt: 3, maxRetries: 1 });
  analytics.on('error', (e) => errors.push(e));
  const run = Date.now().toString(36);
  analytics.identify({ userId: `sdk-${run}`, traits: { email: `sdk.${run}@example.com`, plan: 'pro' } });
  analytics.track({ userId: `sdk-${run}`, event: 'Order Completed', properties: { revenue: 99.5, currency: 'EUR' } });
  analytics.page({ anonymousId: `anon-${run}`, name: 'Pricing', properties: { path: '/pricing' } });
  await analytics.closeAndFlush({ timeout: 10_000 });
  expect(errors).toEqual([]);
  await expect.poll(() => accepted(request)).toBe(before + 3);
});

test('a wrong write key is refused with 401', async ({ request }) => {
  const r = await request.post('/v1/track', {
    headers: writeKeyAuth('wk_wrong'),
    data: { userId: 'u', event: 'x' },
  });
  expect(r.status()).toBe(401);
});

test('an event stamped a year ahead is taken at its arrival time and counted on the source page', async ({ page, request }) => {
  const nextYear = new Date(Date.now() + 365 * 86_400_000).toISOString();
  const r = await request.post('/v1/track', {
    headers: writeKeyAuth(),
    data: { anonymousId: `future-${Date.now()}`, event: 'From The Future', timestamp: nextYear },
  });
  expect(r.status()).toBe(200);
  await signIn(page, 'admin@acme.example');
  await page.goto('/settings/sources');
  await hydrated(page);
  await page.getByTestId('sources-table').getByRole('link', { name: 'Acme website' }).click();
  await expect(page.getByTestId('page-title')).toHaveText('Acme website');
  // Counters reach the source's stats every 5 s.
  await expect(async () => {
    await page.reload();
    await expect(page.getByTestId('future-clamped').locator('.stat__value')).not.toHaveText('0', { timeout: 1_000 });
  }).toPass({ timeout: 30_000 });
});

test('events from the web SDK on a demo page arrive in the source\'s live debugger', async ({ page, context }) => {
  await signIn(page, 'admin@acme.example');
  await page.goto('/settings/sources');
  await hydrated(page);
  await page.getByTestId('sources-table').getByRole('link', { name: 'Acme website' }).click();
  await expect(page.getByTestId('page-title')).toHaveText('Acme website');
  await hydrated(page);
  await expect(page.getByTestId('debugger-status')).toHaveText('live');

  // The shop page loads /sdk/pulse.js with the demo write key and sends a page view on load.
  const shop = await context.newPage();
  await shop.goto('/sdk/demo');
  await shop.locator('#buy-pro').click();
  await shop.locator('#signup').click();
  await shop.locator('#flush').click();
  await expect(shop.locator('#log')).toContainText('sent');

  const rows = page.getByTestId('debugger-events');
  await expect(rows).toContainText('Plan Selected');
  await expect(rows).toContainText('identify');
  await expect(rows).toContainText('page');
  await rows.getByText('Plan Selected').first().click();
  await expect(page.getByTestId('debugger-payload')).toContainText('"plan": "pro"');
  await expect(page.getByTestId('debugger-payload')).toContainText('"name": "pulse.js"');
});

test('a blocking tracking plan quarantines an unplanned event and replay delivers it after the fix', async ({ page, request }) => {
  await signIn(page, 'admin@acme.example');
  // A source of its own, so the demo source keeps its open plan.
  await page.goto('/settings/sources');
  await hydrated(page);
  const name = `Plan test ${Date.now().toString(36)}`;
  await page.getByLabel('Name').fill(name);
  await page.getByRole('button', { name: 'Create source' }).click();
  const key = (await page.getByTestId('write-key').locator('code').textContent())!.trim();
  expect(key).toMatch(/^wk_/);
  await page.getByTestId('write-key').getByRole('link', { name: 'Open the source' }).click();
  await expect(page.getByTestId('page-title')).toHaveText(name);
  await hydrated(page);
  await page.getByTestId('plan-mode').selectOption('block');
  await page.getByTestId('add-event').click();
  await page.getByLabel('Event name').fill('Signed Up');
  await page.getByRole('button', { name: 'Add property' }).click();
  await page.getByLabel('Property name').fill('plan');
  await page.getByLabel('Type').selectOption('string');
  // A blank second event is refused with a message naming it.
  await page.getByTestId('add-event').click();
  await page.getByTestId('save-plan').click();
  await expect(page.getByTestId('plan-errors')).toContainText('Event 2');
  await page.getByRole('button', { name: 'Remove event' }).nth(1).click();
  await page.getByTestId('save-plan').click();
  await expect(page.getByText('Saved.')).toBeVisible();
  // The saved plan comes back from the server as rows.
  await page.reload();
  // (The live feed keeps a connection open, so "network idle" never comes; it connects only
  // once the page has hydrated.)
  await expect(page.getByTestId('debugger-status')).toHaveText('live');
  await expect(page.getByLabel('Event name')).toHaveValue('Signed Up');
  await expect(page.getByLabel('Property name')).toHaveValue('plan');

  const send = (event: string) =>
    request.post('/v1/track', {
      headers: writeKeyAuth(key),
      data: { userId: 'plan-user', event, messageId: `${name}-${event}` },
    });
  expect((await send('Signed Up')).status()).toBe(200);
  const refused = await send('signup');
  expect(refused.status()).toBe(400);
  expect((await refused.json()).error).toContain('event `signup` is not in the tracking plan');

  // The quarantine table is filled from its topic by a consumer: reload until the group shows.
  const row = page.getByTestId('quarantine-groups').locator('tr', { hasText: name });
  await expect(async () => {
    await page.goto('/settings/quarantine');
    await expect(row).toBeVisible({ timeout: 1000 });
  }).toPass({ timeout: 20_000 });
  await hydrated(page);
  await expect(row).toContainText('event `signup` is not in the tracking plan');
  await row.getByRole('button', { name: 'Open' }).click();
  await expect(page.getByTestId('quarantine-events')).toContainText(`${name}-signup`);
  await page.getByTestId('rename-to').fill('Signed Up');
  await page.getByTestId('replay').click();
  await expect(page.getByTestId('replay-report')).toContainText('Replayed 1 event(s)');
});

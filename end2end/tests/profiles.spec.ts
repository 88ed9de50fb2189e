import { expect, test } from '@playwright/test';
import { hydrated, onTime, signIn, writeKeyAuth } from './helpers';

const auth = writeKeyAuth();

test('a visitor who identifies is found by email and their 360 timeline updates live', async ({ page, request }) => {
  const run = Date.now().toString(36);
  const email = `grace.${run}@hopper.example`;
  const anon = `anon-${run}`;
  // On time for the pipeline, so the visit opens a session (see onTime).
  const now = await onTime(request);
  const send = async (body: object) => {
    const r = await request.post('/v1/batch', { headers: auth, data: { batch: [body] } });
    expect(r.status()).toBe(200);
  };
  await send({ type: 'page', anonymousId: anon, properties: { path: '/pricing' }, timestamp: new Date(now).toISOString() });
  await send({ type: 'identify', anonymousId: anon, traits: { email, name: `Grace Hopper ${run}`, plan: 'team' }, timestamp: new Date(now + 1000).toISOString() });

  await signIn(page, 'marketer@acme.example');
  // The pipeline and the analytics sink take well under a second; the search is retried.
  await expect(async () => {
    await page.goto(`/profiles?q=${encodeURIComponent(email.toUpperCase())}`);
    await expect(page.getByTestId('profile-table')).toContainText(`Grace Hopper ${run}`, { timeout: 1_000 });
  }).toPass({ timeout: 30_000 });
  await expect(page.getByTestId('profile-count')).toContainText('1–1 of 1');

  await page.getByRole('link', { name: `Grace Hopper ${run}` }).click();
  await expect(page.getByTestId('profile-title')).toContainText(`Grace Hopper ${run}`);
  await hydrated(page);
  await expect(page.getByTestId('profile-identities')).toContainText(email);
  await expect(page.getByTestId('profile-identities')).toContainText(anon);
  await expect(page.getByTestId('profile-traits')).toContainText('team');
  await expect(page.getByTestId('timeline-event')).toHaveCount(2);
  await expect(page.getByTestId('profile-sessions')).toContainText('Open');

  // A new event shows on the open page without a reload.
  await send({ type: 'track', anonymousId: anon, event: 'Order Completed', properties: { revenue: 42.5 }, timestamp: new Date(now + 2000).toISOString() });
  await expect(page.getByTestId('timeline-event')).toHaveCount(3, { timeout: 20_000 });
  await expect(page.getByTestId('timeline-event').first()).toContainText('Order Completed');
  await expect(page.getByTestId('profile-timeline')).toContainText('1 new since you opened the page');
});

test('a CRM customer opens as a 360 profile joined to the CRM record', async ({ page }) => {
  await signIn(page, 'rep@acme.example');
  await page.goto('/crm/customers');
  await hydrated(page);
  await page.getByTestId('record-table').locator('tbody a[href^="/crm/customers/"]').first().click();
  await expect(page).toHaveURL(/\/crm\/customers\/[0-9a-f-]{36}$/);
  const customerId = page.url().split('/').pop();
  await hydrated(page);
  await page.getByTestId('open-profile').click();
  await expect(page).toHaveURL(/\/profiles\/crm:[0-9a-f-]{36}$/);
  // CRM customers reach the model through CDC; right after start the pipeline may still be
  // joining the demo's 10,000 customers, so the page is retried.
  const url = page.url();
  await expect(async () => {
    await page.goto(url);
    await expect(page.getByTestId('profile-crm').locator(`a[href="/crm/customers/${customerId}"]`)).toBeVisible({ timeout: 1_000 });
  }).toPass({ timeout: 60_000 });
  await expect(page.getByTestId('profile-identities')).toContainText('CRM customer');
});

test('a search nothing matches says so and offers to clear it', async ({ page }) => {
  await signIn(page, 'marketer@acme.example');
  await page.goto('/profiles?q=no-such-person-anywhere');
  await expect(page.getByText('No profile matches')).toBeVisible();
  await page.getByRole('link', { name: 'Clear the search' }).click();
  await expect(page).toHaveURL(/\/profiles$/);
});

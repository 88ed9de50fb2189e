import { expect, test } from '@playwright/test';
import { hydrated, onTime, signIn } from './helpers';

// The demo workspace's website source (printed by `pulse --demo`).
const WRITE_KEY = 'wk_demo_acme_website';
const auth = { authorization: `Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}` };

test("a customer who views pricing and does not contact sales lands in the sales rep's inbox", async ({ page, context, request }) => {
  // The SDK demo page introduces itself as one of the demo rep's customers.
  const shop = await context.newPage();
  await shop.goto('/sdk/demo');
  const email = await shop.locator('#email').inputValue();
  expect(email).toContain('@');
  await shop.close();

  // The customer identifies and views pricing at the pipeline's present (an earlier test may
  // have moved event time ahead of the wall clock), sent as the SDK would.
  const at = await onTime(request);
  const anon = `pricing-${Date.now().toString(36)}`;
  const batch = await request.post('/v1/batch', {
    headers: auth,
    data: {
      batch: [
        { type: 'identify', anonymousId: anon, traits: { email }, timestamp: new Date(at).toISOString() },
        { type: 'page', anonymousId: anon, properties: { path: '/pricing' }, timestamp: new Date(at + 1_000).toISOString() },
      ],
    },
  });
  expect(batch.status()).toBe(200);

  // Ten minutes of event time pass: another visitor's event eleven minutes later moves the
  // pipeline's watermark past the deadline (no real waiting).
  const tick = await request.post('/v1/track', {
    headers: auth,
    data: { anonymousId: `clock-${Date.now()}`, event: 'Product Viewed', timestamp: new Date(at + 11 * 60_000).toISOString() },
  });
  expect(tick.status()).toBe(200);

  await signIn(page, 'rep@acme.example');
  const inbox = page.getByTestId('inbox');
  await expect(async () => {
    await page.goto('/crm');
    await hydrated(page);
    await expect(inbox).toContainText('high_intent_unresolved', { timeout: 1_000 });
  }).toPass({ timeout: 30_000 });
  await expect(inbox).toContainText('no form_submit');
  await inbox.getByRole('button', { name: 'Mark read' }).first().click();
  await expect(inbox.getByRole('button', { name: 'Mark read' })).toHaveCount(0);
});

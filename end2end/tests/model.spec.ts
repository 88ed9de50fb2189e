import { expect, test } from '@playwright/test';
import { hydrated, signIn } from './helpers';

// The demo workspace's website source (printed by `pulse --demo`).
const WRITE_KEY = 'wk_demo_acme_website';

test("a customer who views pricing and does not contact sales lands in the sales rep's inbox", async ({ page, context, request }) => {
  // The SDK demo page introduces itself as one of the demo rep's customers.
  const shop = await context.newPage();
  await shop.goto('/sdk/demo');
  const email = await shop.locator('#email').inputValue();
  expect(email).toContain('@');
  await shop.locator('#identify').click();
  await shop.locator('#pricing').click();
  await shop.locator('#flush').click();
  await expect(shop.locator('#log')).toContainText('sent');

  // Ten minutes of event time pass: another visitor's event eleven minutes later moves the
  // pipeline's watermark past the deadline (no real waiting).
  const later = new Date(Date.now() + 11 * 60_000).toISOString();
  const tick = await request.post('/v1/track', {
    headers: { authorization: `Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}` },
    data: { anonymousId: `clock-${Date.now()}`, event: 'Product Viewed', timestamp: later },
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

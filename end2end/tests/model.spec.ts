import { expect, test } from '@playwright/test';
import { hydrated, onTime, signIn, writeKeyAuth } from './helpers';

test("a customer who views pricing and does not contact sales lands in the sales rep's inbox", async ({ page, context, request }) => {
  // The SDK stamps events with the wall clock, so the pipeline's event time must not be ahead
  // of it: the other specs send at onTime(), which stays at the present unless this spec ran.
  const ahead = (await onTime(request)) - Date.now();
  expect(ahead, 'an earlier spec moved event time ahead of the wall clock').toBeLessThan(30_000);

  // The SDK demo page introduces itself as one of the demo rep's customers.
  const shop = await context.newPage();
  await shop.goto('/sdk/demo');
  const email = await shop.locator('#email').inputValue();
  expect(email).toContain('@');
  await shop.locator('#identify').click();
  await shop.locator('#pricing').click();
  await shop.locator('#flush').click();
  await expect(shop.locator('#log')).toContainText('sent');
  // The clock event below cannot overtake the visit: both are the workspace's, so they share
  // one partition of events.raw and the pipeline applies them in the order they were
  // acknowledged.
  // Ten minutes of event time pass, and the minute a late form could still arrive in: another
  // visitor's event twelve minutes later moves the workspace's watermark past both (no real
  // waiting).
  const later = new Date(Date.now() + 12 * 60_000).toISOString();
  const tick = await request.post('/v1/track', {
    headers: writeKeyAuth(),
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

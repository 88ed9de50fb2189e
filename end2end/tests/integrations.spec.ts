import { expect, test, type Page } from '@playwright/test';
import { hydrated, signIn } from './helpers';

/** Adds an integration through the form; returns its credential and opens its page. */
async function addIntegration(page: Page, name: string, slug: string, system: string): Promise<string> {
  await page.goto('/settings/integrations');
  await hydrated(page);
  await page.getByLabel('Name').fill(name);
  await page.getByTestId('integration-slug').fill(slug);
  await page.getByTestId('integration-system').selectOption(system);
  await page.getByRole('button', { name: 'Add integration' }).click();
  const notice = page.getByTestId('integration-credential');
  await expect(notice).toContainText('pulse_');
  const secret = (await notice.locator('code').first().textContent())!.trim();
  await notice.getByRole('link', { name: 'Open the integration' }).click();
  await expect(page.getByTestId('page-title')).toHaveText(name);
  await hydrated(page);
  return secret;
}

test('an admin adds a Shopify integration, previews its sample, and a posted webhook shows in its deliveries', async ({ page, request }) => {
  await signIn(page, 'admin@acme.example');
  const run = Date.now().toString(36);
  const slug = `shop-${run}`;
  const secret = await addIntegration(page, `Shop ${run}`, slug, 'shopify');

  // The preview of the built-in sample: an order upsert and an event, nothing written.
  await page.getByTestId('preview').click();
  const result = page.getByTestId('preview-result');
  await expect(result).toContainText('Upsert CRM order #1001');
  await expect(result).toContainText('Order Completed');

  // A broken price is named by Shopify's own path.
  const sample = JSON.parse(await page.getByTestId('preview-payload').inputValue());
  sample.line_items[0].price = 'eighty-nine';
  await page.getByTestId('preview-payload').fill(JSON.stringify(sample));
  await page.getByTestId('preview').click();
  await expect(page.getByTestId('preview-error')).toContainText('line_items.0.price');

  // The system posts a real webhook with the credential shown once.
  sample.line_items[0].price = '89.00';
  sample.name = `#E2E-${run}`;
  sample.customer.email = `e2e.${run}@example.com`;
  sample.customer.id = Date.now();
  const posted = await request.post(`/api/v1/integrations/${slug}/orders/create`, {
    headers: { authorization: `Bearer ${secret}`, 'x-shopify-webhook-id': `e2e-${run}` },
    data: sample,
  });
  expect(posted.status()).toBe(200);
  await page.reload();
  await hydrated(page);
  const deliveries = page.getByTestId('deliveries-table');
  await expect(deliveries).toContainText('orders/create');
  await expect(deliveries).toContainText(`created order #E2E-${run}`);
});

test('a refused Zendesk ticket is fixed in the mapping editor and replayed', async ({ page, request }) => {
  await signIn(page, 'admin@acme.example');
  const run = Date.now().toString(36);
  const slug = `desk-${run}`;
  const secret = await addIntegration(page, `Desk ${run}`, slug, 'zendesk');
  const ticket = JSON.parse(await page.getByTestId('preview-payload').inputValue());
  ticket.ticket.id = Date.now();
  ticket.ticket.priority = 'critical';
  const refused = await request.post(`/api/v1/integrations/${slug}/tickets`, {
    headers: { authorization: `Bearer ${secret}` },
    data: ticket,
  });
  expect(refused.status()).toBe(422);
  expect((await refused.json()).fields['ticket.priority']).toContain('critical');

  await page.reload();
  await hydrated(page);
  const deliveries = page.getByTestId('deliveries-table');
  await expect(deliveries).toContainText('failed');
  await deliveries.getByText('tickets').first().click();
  await expect(page.getByTestId('delivery-fields')).toContainText('ticket.priority');

  // Zendesk's "critical" means our "urgent": map it on the priority row and save.
  const rule = page.getByTestId('mapping-rule').first();
  const targets = await rule.locator('input[aria-label="Target field"]').evaluateAll((els) =>
    els.map((e) => (e as HTMLInputElement).value),
  );
  await rule.locator('input[aria-label="Value map"]').nth(targets.indexOf('priority')).fill('critical=urgent');
  await page.getByTestId('save-mapping').click();
  await expect(page.getByText('Saved. New deliveries use it at once')).toBeVisible();

  await page.getByTestId('replay-failed').click();
  await expect(page.getByTestId('replay-result')).toContainText('1 written, 0 still failing');
  await expect(deliveries.locator('.badge').first()).toHaveText('ok');
});

test('the Settings page shows CRM change capture streaming with its lag', async ({ page }) => {
  await signIn(page, 'admin@acme.example');
  await page.goto('/settings');
  await expect(page.getByTestId('cdc-card')).toContainText('Streaming CRM changes');
  await expect(page.getByTestId('cdc-lag')).toContainText('Lag:');
});

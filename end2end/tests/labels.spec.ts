import { expect, test } from '@playwright/test';
import { hydrated, onTime, signIn, writeKeyAuth } from './helpers';

test('a marketer backtests a label over 7 days of events, saves it and sees it counted', async ({ page }) => {
  await signIn(page, 'marketer@acme.example');
  await page.goto('/profiles/labels');
  await hydrated(page);
  await expect(page.getByTestId('labels-table')).toContainText('high_intent_unresolved');

  const name = `pricing_fans_${Date.now().toString(36)}`;
  await page.getByTestId('label-name').fill(name);
  await page.getByTestId('label-kind').selectOption('count');
  await page.getByTestId('label-event').fill('Page Viewed');
  await page.getByTestId('label-property').fill('path=/pricing');
  await page.getByTestId('label-minutes').fill('60');
  await page.getByTestId('backtest').click();
  await expect(page.getByTestId('backtest-result')).toContainText('Over the last 7 days');

  // A name the pipeline cannot key by is refused on its field.
  await page.getByTestId('label-name').fill('Pricing Fans');
  await page.getByTestId('save-label').click();
  await expect(page.locator('.field__error')).toContainText('lower-case letters');

  await page.getByTestId('label-name').fill(name);
  await page.getByTestId('save-label').click();
  await expect(page.getByTestId('labels-table')).toContainText(name);
  await expect(page.getByTestId('labels-table')).toContainText('Page Viewed with path = /pricing');
});

test('a marketer defines a threshold label on a behaviour trait and a profile carries it', async ({ page, request }) => {
  await signIn(page, 'marketer@acme.example');
  await page.goto('/profiles/labels');
  await hydrated(page);
  const name = `big_spender_${Date.now().toString(36)}`;
  await page.getByTestId('label-name').fill(name);
  await page.getByTestId('label-kind').selectOption('threshold');
  await page.getByTestId('label-field').fill('revenue_30d');
  await page.getByTestId('label-op').selectOption('gte');
  // ≥ compares numbers: text is refused on its field.
  await page.getByTestId('label-value').fill('lots');
  await page.getByTestId('save-label').click();
  await expect(page.locator('.field__error')).toContainText('give a number');
  await page.getByTestId('label-value').fill('100');
  await page.getByTestId('save-label').click();
  await expect(page.getByTestId('labels-table')).toContainText('revenue_30d ≥ 100');

  // The pipeline picks definitions up within 5 s: until then an order sets nothing, so each
  // attempt is a new buyer's order of 150.
  await expect(async () => {
    const buyer = `buyer-${Date.now().toString(36)}`;
    const r = await request.post('/v1/track', {
      headers: writeKeyAuth(),
      data: { anonymousId: buyer, event: 'Order Completed', properties: { revenue: 150 }, timestamp: new Date(await onTime(request)).toISOString() },
    });
    expect(r.status()).toBe(200);
    await page.waitForTimeout(1_500);
    await page.goto(`/profiles?label=${name}`);
    await expect(page.getByTestId('profile-table')).toContainText('buyer-', { timeout: 2_000 });
  }).toPass({ timeout: 40_000 });
});

test('a backtest of a threshold on a CRM field counts the CRM customers it matches', async ({ page }) => {
  await signIn(page, 'marketer@acme.example');
  await page.goto('/profiles/labels');
  await hydrated(page);
  await page.getByTestId('label-name').fill(`churned_${Date.now().toString(36)}`);
  await page.getByTestId('label-kind').selectOption('threshold');
  await page.getByTestId('label-field').fill('crm.lifecycle_stage');
  await page.getByTestId('label-op').selectOption('eq');
  await page.getByTestId('label-value').fill('churned');
  await page.getByTestId('backtest').click();
  // About a tenth of the 10,000 demo customers are churned; the backtest reads the CRM's
  // change stream (the whole demo snapshot) before the events.
  await expect(page.getByTestId('backtest-result')).toContainText(
    /set on [1-9][\d,]* profile\(s\); [1-9][\d,]* would carry it now/,
    { timeout: 60_000 },
  );
});

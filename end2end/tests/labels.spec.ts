import { expect, test } from '@playwright/test';
import { hydrated, signIn } from './helpers';

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

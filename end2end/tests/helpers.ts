import { expect, type Page } from '@playwright/test';

export const PASSWORD = 'pulse-demo-2026';

/** Waits until the wasm bundle has hydrated the page (clicks only work after that). */
export async function hydrated(page: Page) {
  await page.waitForFunction(() => {
    const entries = performance.getEntriesByType('resource').map((e) => e.name);
    return entries.some((n) => n.endsWith('/pkg/pulse_bg.wasm'));
  });
  await page.waitForLoadState('networkidle');
}

export async function signIn(page: Page, email: string, password = PASSWORD) {
  await page.goto('/login');
  await hydrated(page);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByTestId('page-title')).toHaveText('Dashboards');
}

export async function signOut(page: Page) {
  await hydrated(page);
  // The menu opens through a client-side signal: this fails if hydration is broken.
  await page.getByTestId('user-menu-button').click();
  await expect(page.getByTestId('user-menu')).toBeVisible();
  await page.getByTestId('sign-out').click();
  await expect(page).toHaveURL(/\/login/);
}


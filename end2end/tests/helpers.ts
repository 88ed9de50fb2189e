import { expect, type APIRequestContext, type Page } from '@playwright/test';

export const PASSWORD = 'pulse-demo-2026';

/** The demo workspace's website source (printed by `pulse --demo`). */
export const DEMO_WRITE_KEY = 'wk_demo_acme_website';

/** The gateway's HTTP Basic header for a write key (the key as user name, no password). */
export function writeKeyAuth(key = DEMO_WRITE_KEY) {
  return { authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}` };
}

/** Waits until the wasm bundle has hydrated the page (clicks only work after that). */
export async function hydrated(page: Page) {
  // Set by the frontend crate right after `hydrate_body` returns.
  await page.waitForFunction(() => document.documentElement.hasAttribute('data-hydrated'));
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

/** An unlabelled metric's value from `/metrics` (0 while it has not been recorded). */
export async function metric(request: APIRequestContext, name: string): Promise<number> {
  const r = await request.get('/metrics');
  expect(r.status()).toBe(200);
  const line = (await r.text()).split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.trim().split(/\s+/).pop()) : 0;
}

/** The pipeline's event-time watermark (ms since the epoch; 0 before it has seen an event). */
export async function watermark(request: APIRequestContext): Promise<number> {
  return metric(request, 'pipeline_watermark_ms');
}

/**
 * An event time the pipeline takes as on time: now, or just past its watermark when an earlier
 * test moved event time ahead (model.spec sends an event 11 minutes in the future). Events
 * behind the watermark by more than the allowed lateness reach the profile but open no session
 * and feed no event-pattern label.
 */
export async function onTime(request: APIRequestContext): Promise<number> {
  // The watermark trails the newest event by 5 s of allowed disorder.
  return Math.max(Date.now(), (await watermark(request)) + 10_000);
}

import { expect, test } from '@playwright/test';
import { PASSWORD, hydrated, signIn, signOut } from './helpers';

const ROLES = [
  { email: 'admin@acme.example', role: 'Admin', menu: ['Dashboards', 'CRM', 'Profiles', 'Segments', 'Journeys', 'Settings'] },
  { email: 'manager@acme.example', role: 'Manager', menu: ['Dashboards', 'CRM', 'Profiles', 'Segments', 'Journeys'] },
  { email: 'marketer@acme.example', role: 'Marketer', menu: ['Dashboards', 'Profiles', 'Segments', 'Journeys'] },
  { email: 'rep@acme.example', role: 'Sales rep', menu: ['Dashboards', 'CRM', 'Profiles'] },
];

test('a signed-out visitor is sent to the sign-in page and comes back after signing in', async ({ page }) => {
  await page.goto('/settings/users');
  await expect(page).toHaveURL(/\/login\?next=%2Fsettings%2Fusers/);
  await expect(page.getByTestId('demo-accounts')).toContainText('admin@acme.example');
  await hydrated(page);
  await page.getByLabel('Email').fill('admin@acme.example');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByTestId('page-title')).toHaveText('Users & roles');
});

test('a wrong password shows an inline error and keeps the visitor signed out', async ({ page }) => {
  await page.goto('/login');
  await hydrated(page);
  await page.getByLabel('Email').fill('rep@acme.example');
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByText('The email or password is not correct.')).toBeVisible();
  await page.goto('/');
  await expect(page).toHaveURL(/\/login/);
});

for (const r of ROLES) {
  test(`${r.role} sees exactly their menu and can sign out`, async ({ page }) => {
    await signIn(page, r.email);
    const links = page.locator('nav.nav a.nav__link');
    await expect(links).toHaveText(r.menu);
    await expect(page.getByTestId('role-badge')).toHaveText(r.role);
    await expect(page.getByTestId('workspace-name')).toHaveText('Acme Demo');
    if (!r.menu.includes('Settings')) {
      await page.goto('/settings/users');
      await expect(page.getByText("You don't have access to this area")).toBeVisible();
    }
    await signOut(page);
    await page.goto('/');
    await expect(page).toHaveURL(/\/login/);
  });
}

test('navigation between sections happens in the browser without a full reload', async ({ page }) => {
  await signIn(page, 'manager@acme.example');
  await hydrated(page);
  await page.evaluate(() => ((window as any).__pulseMarker = 'still-here'));
  await page.locator('nav.nav a.nav__link', { hasText: 'Segments' }).click();
  await expect(page.getByTestId('page-title')).toHaveText('Segments');
  await expect(page.getByText('No segments yet')).toBeVisible();
  expect(await page.evaluate(() => (window as any).__pulseMarker)).toBe('still-here');
});

test('the dashboard shell renders (screenshot saved)', async ({ page }) => {
  await signIn(page, 'admin@acme.example');
  await expect(page.getByText('No dashboards yet')).toBeVisible();
  await page.screenshot({ path: 'artifacts/dashboard-shell.png', fullPage: true });
});

test('an admin creates a user, who can then sign in with that role', async ({ page }) => {
  const email = `new.rep.${Date.now()}@acme.example`;
  await signIn(page, 'admin@acme.example');
  await page.goto('/settings/users');
  await hydrated(page);
  await page.getByTestId('add-user').click();
  const panel = page.getByTestId('add-user-panel');
  await panel.getByLabel('Name').fill('Nia Newrep');
  await panel.getByLabel('Email').fill(email);
  await panel.getByLabel('Role').selectOption('sales_rep');
  // Too short first: the field error appears inline.
  await panel.getByLabel('Initial password').fill('short');
  await panel.getByRole('button', { name: 'Add user' }).click();
  await expect(panel.getByText(/at least 10 characters/)).toBeVisible();
  await panel.getByLabel('Initial password').fill('a long enough password');
  await panel.getByRole('button', { name: 'Add user' }).click();
  await expect(page.getByText(`Added Nia Newrep as Sales rep.`)).toBeVisible();
  const row = page.locator(`tr[data-email="${email}"]`);
  await expect(row).toContainText('Nia Newrep');
  await expect(row.getByTestId('role-select')).toHaveValue('sales_rep');

  // Promote to marketer, then check the new user's menu reflects it.
  await row.getByTestId('role-select').selectOption('marketer');
  await expect(page.locator(`tr[data-email="${email}"]`).getByTestId('role-select')).toHaveValue('marketer');
  await signOut(page);
  await signIn(page, email, 'a long enough password');
  await expect(page.getByTestId('role-badge')).toHaveText('Marketer');
  await signOut(page);

  // Deactivate: the user can no longer sign in.
  await signIn(page, 'admin@acme.example');
  await page.goto('/settings/users');
  await hydrated(page);
  await page.locator(`tr[data-email="${email}"]`).getByTestId('toggle-active').click();
  await expect(page.locator(`tr[data-email="${email}"]`)).toContainText('Deactivated');
  await signOut(page);
  await page.goto('/login');
  await hydrated(page);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill('a long enough password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByText(/deactivated/)).toBeVisible();
});

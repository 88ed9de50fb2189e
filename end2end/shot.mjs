import { chromium } from '@playwright/test';
const base = process.env.BASE ?? 'http://127.0.0.1:3100';
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless','--no-sandbox','--disable-gpu','--disable-background-networking'] });
const page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
page.on('console', m => { if (m.type() === 'error') console.log('console error:', m.text()); });
page.on('pageerror', e => console.log('page error:', e.message));
await page.goto(base + '/login');
await page.fill('input[name=email]', process.env.WHO ?? 'rep@acme.example');
await page.fill('input[name=password]', 'pulse-demo-2026');
await page.click('button[type=submit]');
await page.waitForURL(u => !u.pathname.startsWith('/login'));
for (const [name, path] of JSON.parse(process.env.PAGES)) {
  await page.goto(base + path);
  await page.waitForTimeout(1500);
  await page.screenshot({ path: `/tmp/shots/${name}.png`, fullPage: false });
  console.log(name, await page.title());
}
await browser.close();

import { expect, test } from '@playwright/test';
import { Analytics } from '@segment/analytics-node';

// The demo workspace's website source (printed by `pulse --demo`).
const WRITE_KEY = 'wk_demo_acme_website';

async function accepted(request: import('@playwright/test').APIRequestContext): Promise<number> {
  const text = await (await request.get('/metrics')).text();
  const line = text.split('\n').find((l) => l.startsWith('gateway_events_accepted_total'));
  return line ? Number(line.trim().split(/\s+/).pop()) : 0;
}

test("Segment's own Node.js library, unmodified, sends events that Pulse accepts", async ({ request, baseURL }) => {
  const before = await accepted(request);
  const errors: unknown[] = [];
  const analytics = new Analytics({ writeKey: WRITE_KEY, host: baseURL!, flushAt: 3, maxRetries: 1 });
  analytics.on('error', (e) => errors.push(e));
  const run = Date.now().toString(36);
  analytics.identify({ userId: `sdk-${run}`, traits: { email: `sdk.${run}@example.com`, plan: 'pro' } });
  analytics.track({ userId: `sdk-${run}`, event: 'Order Completed', properties: { revenue: 99.5, currency: 'EUR' } });
  analytics.page({ anonymousId: `anon-${run}`, name: 'Pricing', properties: { path: '/pricing' } });
  await analytics.closeAndFlush({ timeout: 10_000 });
  expect(errors).toEqual([]);
  await expect.poll(() => accepted(request)).toBe(before + 3);
});

test('a wrong write key is refused with 401', async ({ request }) => {
  const r = await request.post('/v1/track', {
    headers: { authorization: `Basic ${Buffer.from('wk_wrong:').toString('base64')}` },
    data: { userId: 'u', event: 'x' },
  });
  expect(r.status()).toBe(401);
});

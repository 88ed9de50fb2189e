// Unit tests for sdk/pulse.js in a fake browser built on node:vm.
// Run from the repository root: node --test sdk/test/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import vm from 'node:vm';
import { webcrypto } from 'node:crypto';

const SOURCE = fs.readFileSync(new URL('../pulse.js', import.meta.url), 'utf8');
const SCRIPT = new vm.Script(SOURCE, { filename: 'pulse.js' });
const UUID4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

// Lets promise chains (vm code shares our microtask queue) run to completion.
const settle = async () => { for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r)); };
// Objects from the vm realm have another Object.prototype; compare plain copies.
const plain = (x) => (x === undefined ? x : JSON.parse(JSON.stringify(x)));

// A controllable clock: setTimeout only fires when the test advances time.
function makeClock() {
  let now = 0, seq = 0;
  const timers = new Map();
  return {
    setTimeout(fn, ms = 0) { const id = ++seq; timers.set(id, { at: now + Math.max(0, Number(ms) || 0), fn }); return id; },
    clearTimeout(id) { timers.delete(id); },
    get now() { return now; },
    async advance(ms) {
      const end = now + ms;
      await settle();
      for (;;) {
        let next = null;
        for (const [id, t] of timers) if (t.at <= end && (!next || t.at < next[1].at)) next = [id, t];
        if (!next) break;
        timers.delete(next[0]);
        now = next[1].at;
        next[1].fn();
        await settle();
      }
      now = end;
    },
  };
}

function response(status, body = {}, headers = {}) {
  const h = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
  return { status, ok: status >= 200 && status < 300, statusText: '', headers: { get: (n) => h[n.toLowerCase()] ?? null }, json: async () => body };
}
const NETWORK_ERROR = Symbol('network error');

/**
 * Loads pulse.js into a fresh fake browser. `storage` and `jar` (cookies) may be shared
 * between calls to simulate a reload of the same site.
 */
function browser(opts = {}) {
  const {
    storage = new Map(), jar = new Map(), attrs = {}, src = 'https://shop.example/sdk/pulse.js',
    stub, crypto = webcrypto, beacon = true, load, random,
  } = opts;
  const clock = makeClock();
  const requests = [], beacons = [], warnings = [], notes = [], cookieWrites = [];
  const replies = []; // scripted answers, in order; afterwards 200
  const handlers = { document: {}, window: {} };
  const document = {
    title: 'Acme — Pricing', referrer: 'https://search.example/?q=acme', visibilityState: 'visible',
    currentScript: src === null ? null : { src, getAttribute: (n) => (n in attrs ? attrs[n] : null) },
    get cookie() { return [...jar].map(([k, v]) => `${k}=${v}`).join('; '); },
    set cookie(s) {
      cookieWrites.push(s);
      const pair = s.split(';')[0], i = pair.indexOf('=');
      if (/max-age=0\b/i.test(s)) jar.delete(pair.slice(0, i).trim()); else jar.set(pair.slice(0, i).trim(), pair.slice(i + 1).trim());
    },
    addEventListener(type, fn) { (handlers.document[type] ||= []).push(fn); },
  };
  const window = {
    document,
    location: { href: 'https://shop.example/pricing?ref=ad#plans', origin: 'https://shop.example', protocol: 'https:', pathname: '/pricing', search: '?ref=ad' },
    navigator: {
      language: 'en-GB', userAgent: 'FakeBrowser/1.0',
      sendBeacon: beacon ? (url, blob) => { beacons.push({ url, blob }); return beacon === true; } : undefined,
    },
    screen: { width: 1440, height: 900 },
    localStorage: { getItem: (k) => (storage.has(k) ? storage.get(k) : null), setItem: (k, v) => storage.set(k, String(v)), removeItem: (k) => storage.delete(k) },
    fetch(url, init) {
      requests.push({ url, init, body: JSON.parse(init.body) });
      const r = replies.length ? replies.shift() : response(200, { success: true });
      return Promise.resolve().then(() => { if (r === NETWORK_ERROR) throw new TypeError('Failed to fetch'); return r; });
    },
    setTimeout: clock.setTimeout, clearTimeout: clock.clearTimeout,
    crypto, Blob, TextEncoder,
    console: { warn: (...a) => warnings.push(a.join(' ')), log() {}, error() {} },
    addEventListener(type, fn) { (handlers.window[type] ||= []).push(fn); },
  };
  window.window = window;
  if (stub !== undefined) window.pulse = stub;
  vm.createContext(window);
  if (random !== undefined) vm.runInContext(`Math.random = () => ${random}`, window);
  SCRIPT.runInContext(window);
  const pulse = window.pulse;
  pulse.on((kind, detail) => notes.push([kind, plain(detail)]));
  if (load) pulse.load('wk_test', load);
  const events = () => requests.flatMap((r) => r.body.batch);
  const stored = () => JSON.parse(storage.get('pulse_queue') ?? '[]');
  const fire = (target, type) => (handlers[target][type] || []).forEach((fn) => fn({ type }));
  return { window, pulse, clock, requests, beacons, warnings, notes, cookieWrites, replies, storage, jar, events, stored, fire };
}

test('events are batched and sent as Segment batch with writeKey in the body', async () => {
  const b = browser({ load: { flushAt: 3 } });
  b.pulse.track('Plan Selected', { plan: 'basic', price: 29 });
  b.pulse.track('Plan Selected', { plan: 'pro', price: 99 });
  await settle();
  assert.equal(b.requests.length, 0, 'below flushAt nothing is sent yet');
  b.pulse.page('Pricing');
  await settle();

  assert.equal(b.requests.length, 1);
  const { url, init, body } = b.requests[0];
  assert.equal(url, 'https://shop.example/v1/batch', 'host defaults to the origin the script came from');
  assert.equal(init.method, 'POST');
  assert.equal(init.headers['Content-Type'], 'text/plain;charset=UTF-8');
  assert.deepEqual(Object.keys(body).sort(), ['batch', 'sentAt', 'writeKey']);
  assert.equal(body.writeKey, 'wk_test');
  assert.match(body.sentAt, ISO);
  assert.deepEqual(body.batch.map((e) => e.type), ['track', 'track', 'page']);

  const [e] = body.batch;
  assert.equal(e.event, 'Plan Selected');
  assert.deepEqual(e.properties, { plan: 'basic', price: 29 });
  assert.match(e.messageId, UUID4);
  assert.match(e.anonymousId, UUID4);
  assert.equal(e.anonymousId, b.pulse.user().anonymousId);
  assert.equal('userId' in e, false, 'no userId before identify');
  assert.match(e.timestamp, ISO);
  assert.deepEqual(e.context.library, { name: 'pulse.js', version: '1.0.0' });
  assert.deepEqual(e.context.page, {
    path: '/pricing', url: 'https://shop.example/pricing?ref=ad', title: 'Acme — Pricing',
    referrer: 'https://search.example/?q=acme', search: '?ref=ad',
  });
  assert.equal(e.context.userAgent, 'FakeBrowser/1.0');
  assert.equal(e.context.locale, 'en-GB');
  assert.equal(e.context.timezone, Intl.DateTimeFormat().resolvedOptions().timeZone);
  assert.deepEqual(e.context.screen, { width: 1440, height: 900 });
  assert.equal('consent' in e.context, false, 'no consent block before consent is given');
  assert.equal(new Set(body.batch.map((x) => x.messageId)).size, 3, 'each event has its own messageId');

  const page = body.batch[2];
  assert.equal(page.name, 'Pricing');
  assert.deepEqual(page.properties, e.context.page, 'page properties default to the page info');
  assert.deepEqual(b.notes, [['sent', { count: 3 }]]);
  assert.equal(b.storage.has('pulse_queue'), false, 'nothing left to persist after a successful send');
});

test('flushInterval sends a partial batch and flush() sends immediately', async () => {
  const b = browser({ load: { flushInterval: 5000 } });
  b.pulse.track('A');
  await b.clock.advance(4999);
  assert.equal(b.requests.length, 0);
  await b.clock.advance(1);
  assert.equal(b.requests.length, 1);
  assert.deepEqual(b.events().map((e) => e.event), ['A']);

  b.pulse.track('B', { n: 1 });
  await b.pulse.flush();
  assert.equal(b.requests.length, 2, 'flush() does not wait for the interval');
  assert.deepEqual(b.requests[1].body.batch.map((e) => e.event), ['B']);
  assert.deepEqual(b.notes.map((n) => n[0]), ['sent', 'sent']);
});

test('page() merges given properties over the page defaults and accepts properties alone', async () => {
  const b = browser({ load: {} });
  b.pulse.page('Pricing', { plan: 'pro', title: 'Custom' });
  b.pulse.page({ variant: 'b' });
  await b.pulse.flush();
  const [named, unnamed] = b.events();
  assert.deepEqual(named.properties, {
    path: '/pricing', url: 'https://shop.example/pricing?ref=ad', title: 'Custom',
    referrer: 'https://search.example/?q=acme', search: '?ref=ad', plan: 'pro',
  });
  assert.equal(named.name, 'Pricing');
  assert.equal('name' in unnamed, false);
  assert.equal(unnamed.properties.variant, 'b');
  assert.equal(unnamed.properties.path, '/pricing');
});

test('anonymous id persists in cookie and localStorage across loads', async () => {
  const storage = new Map(), jar = new Map();
  const first = browser({ storage, jar, load: {} });
  const id = first.pulse.user().anonymousId;
  assert.match(id, UUID4);
  assert.equal(storage.get('pulse_anon_id'), id);
  assert.equal(jar.get('pulse_anon_id'), id);
  const write = first.cookieWrites.find((c) => c.startsWith('pulse_anon_id='));
  assert.match(write, /; path=\/(;|$)/);
  assert.match(write, /; max-age=31536000(;|$)/);
  assert.match(write, /; SameSite=Lax(;|$)/);

  const reload = browser({ storage, jar, load: {} });
  assert.equal(reload.pulse.user().anonymousId, id, 'same id after a reload');

  storage.clear(); // localStorage wiped: the cookie still knows, and localStorage is refilled
  const cookieOnly = browser({ storage, jar, load: {} });
  assert.equal(cookieOnly.pulse.user().anonymousId, id);
  assert.equal(storage.get('pulse_anon_id'), id);

  jar.clear(); // cookie expired: localStorage still knows, and the cookie is rewritten
  const storageOnly = browser({ storage, jar, load: {} });
  assert.equal(storageOnly.pulse.user().anonymousId, id);
  assert.equal(jar.get('pulse_anon_id'), id);
  storageOnly.pulse.track('X');
  await storageOnly.pulse.flush();
  assert.equal(storageOnly.events()[0].anonymousId, id);
});

test('uuids fall back to crypto.getRandomValues when randomUUID is missing', async () => {
  let calls = 0;
  const crypto = { getRandomValues: (a) => { calls++; return webcrypto.getRandomValues(a); } };
  const b = browser({ crypto, load: {} });
  b.pulse.track('X');
  await b.pulse.flush();
  const [e] = b.events();
  assert.match(e.messageId, UUID4);
  assert.match(e.anonymousId, UUID4);
  assert.notEqual(e.messageId, e.anonymousId);
  assert.ok(calls >= 2);
});

test('identify sets userId on later events; reset forgets it and starts a new anonymous id', async () => {
  const storage = new Map(), jar = new Map();
  const b = browser({ storage, jar, load: {} });
  const anon = b.pulse.user().anonymousId;
  b.pulse.track('Before');
  b.pulse.identify('demo-user-1', { email: 'demo@example.com' });
  b.pulse.track('After');
  await b.pulse.flush();
  const [before, ident, after] = b.events();
  assert.equal('userId' in before, false);
  assert.equal(ident.type, 'identify');
  assert.equal(ident.userId, 'demo-user-1');
  assert.deepEqual(ident.traits, { email: 'demo@example.com' });
  assert.equal(ident.anonymousId, anon, 'identify keeps the anonymous id');
  assert.equal(after.userId, 'demo-user-1');
  assert.equal(storage.get('pulse_user_id'), 'demo-user-1');
  assert.deepEqual(plain(b.pulse.user()), { anonymousId: anon, userId: 'demo-user-1' });

  const reload = browser({ storage, jar, load: {} });
  assert.equal(reload.pulse.user().userId, 'demo-user-1', 'userId survives a reload');
  reload.pulse.identify({ plan: 'pro' }); // traits only
  reload.pulse.reset();
  reload.pulse.track('Anonymous again');
  await reload.pulse.flush();
  const [traitsOnly, again] = reload.events();
  assert.equal(traitsOnly.userId, 'demo-user-1');
  assert.deepEqual(traitsOnly.traits, { plan: 'pro' });
  assert.equal('userId' in again, false);
  assert.notEqual(again.anonymousId, anon);
  assert.match(again.anonymousId, UUID4);
  assert.equal(storage.has('pulse_user_id'), false);
  assert.equal(storage.get('pulse_anon_id'), again.anonymousId);
  assert.equal(jar.get('pulse_anon_id'), again.anonymousId);
});

test('5xx is retried with the same messageId and backoff; 400 is dropped and reported', async () => {
  const b = browser({ load: { flushAt: 1 }, random: 0.5 });
  b.replies.push(response(500, { success: false, error: 'boom' }), NETWORK_ERROR, response(502), response(200, { success: true, accepted: 1, quarantined: 0 }));
  b.pulse.track('Paid', { amount: 10 });
  await settle();
  assert.equal(b.requests.length, 1);
  // Full jitter with Math.random() = 0.5: half of 500, 1000, 2000 ms.
  assert.deepEqual(b.notes, [['retry', { attempt: 1, delayMs: 250, status: 500 }]]);
  assert.deepEqual(b.stored().map((e) => e.event), ['Paid'], 'in-retry events are persisted');
  await b.clock.advance(249);
  assert.equal(b.requests.length, 1, 'waits the backoff');
  await b.clock.advance(1);
  assert.equal(b.requests.length, 2);
  assert.deepEqual(b.notes[1], ['retry', { attempt: 2, delayMs: 500, status: 0 }], 'network errors are retried');
  await b.clock.advance(500);
  assert.deepEqual(b.notes[2], ['retry', { attempt: 3, delayMs: 1000, status: 502 }]);
  await b.clock.advance(1000);
  assert.equal(b.requests.length, 4);
  assert.deepEqual(b.notes[3], ['sent', { count: 1, accepted: 1, quarantined: 0 }]);
  const ids = b.requests.map((r) => r.body.batch[0].messageId);
  assert.equal(new Set(ids).size, 1, 'every attempt carries the same messageId');
  assert.equal(b.storage.has('pulse_queue'), false);

  // A 4xx means the data is bad: no retry, reported with the gateway's explanation.
  b.replies.push(response(400, { success: false, error: 'a track call needs an `event` name' }));
  b.pulse.track('Broken');
  await settle();
  await b.clock.advance(60_000);
  assert.equal(b.requests.length, 5, 'a 400 is not retried');
  assert.deepEqual(b.notes.at(-1), ['dropped', { count: 1, status: 400, error: 'a track call needs an `event` name' }]);
  assert.equal(b.notes.filter((n) => n[0] === 'retry').length, 3);
  assert.equal(b.storage.has('pulse_queue'), false, 'a dropped batch is not kept');
});

test('backoff is capped at 30 s and gives up after maxRetries with a dropped notification', async () => {
  const b = browser({ load: { flushAt: 1, maxRetries: 8 }, random: 0.999999 });
  for (let i = 0; i < 9; i++) b.replies.push(response(500, { success: false, error: 'still down' }));
  b.pulse.track('Doomed');
  await b.clock.advance(10 * 60_000);
  assert.equal(b.requests.length, 9, 'one attempt plus maxRetries retries');
  const delays = b.notes.filter((n) => n[0] === 'retry').map((n) => n[1].delayMs);
  assert.deepEqual(delays, [499, 999, 1999, 3999, 7999, 15999, 29999, 29999]);
  assert.deepEqual(b.notes.at(-1), ['dropped', { count: 1, status: 500, error: 'still down' }]);
  assert.equal(b.storage.has('pulse_queue'), false);
  b.pulse.track('Next');
  await settle();
  assert.equal(b.requests.length, 10, 'the queue moves on after a drop');
  assert.deepEqual(b.notes.at(-1), ['sent', { count: 1 }]);
});

test('429 honours Retry-After', async () => {
  const b = browser({ load: { flushAt: 1 }, random: 0.5 });
  b.replies.push(response(429, { success: false, error: 'retry in 7 s' }, { 'Retry-After': '7' }), response(503, {}, { 'Retry-After': '2' }));
  b.pulse.track('Busy');
  await settle();
  assert.deepEqual(b.notes, [['retry', { attempt: 1, delayMs: 7000, status: 429 }]]);
  await b.clock.advance(6999);
  assert.equal(b.requests.length, 1);
  await b.clock.advance(1);
  assert.equal(b.requests.length, 2);
  assert.deepEqual(b.notes[1], ['retry', { attempt: 2, delayMs: 2000, status: 503 }], '503 honours it too');
  await b.clock.advance(2000);
  assert.equal(b.requests.length, 3);
  assert.deepEqual(b.notes[2], ['sent', { count: 1 }]);
});

test('requireConsent holds events until consent is given and then attaches categoryPreferences', async () => {
  const storage = new Map(), jar = new Map();
  const b = browser({ storage, jar, load: { requireConsent: true, flushAt: 2 } });
  b.pulse.track('One');
  b.pulse.track('Two');
  b.pulse.track('Three');
  await b.clock.advance(60_000);
  assert.equal(await b.pulse.flush(), undefined);
  b.fire('window', 'pagehide');
  await settle();
  assert.equal(b.requests.length + b.beacons.length, 0, 'nothing leaves before consent');
  assert.equal(b.stored().length, 3, 'held events are kept');

  b.pulse.consent({ analytics: true, marketing: false });
  await settle();
  await b.clock.advance(2000);
  assert.deepEqual(b.events().map((e) => e.event), ['One', 'Two', 'Three']);
  for (const e of b.events()) assert.deepEqual(e.context.consent, { categoryPreferences: { analytics: true, marketing: false } });
  assert.deepEqual(JSON.parse(storage.get('pulse_consent')), { analytics: true, marketing: false });

  b.pulse.consent({ analytics: true, marketing: true });
  b.pulse.track('Four');
  await b.pulse.flush();
  assert.deepEqual(b.events().at(-1).context.consent, { categoryPreferences: { analytics: true, marketing: true } });

  // Consent is remembered: the next page load sends without waiting.
  const next = browser({ storage, jar, load: { requireConsent: true } });
  next.pulse.track('Five');
  await next.pulse.flush();
  assert.equal(next.requests.length, 1);
  assert.deepEqual(next.events()[0].context.consent.categoryPreferences, { analytics: true, marketing: true });
});

test('pagehide sends the queue with sendBeacon', async () => {
  const b = browser({ load: {} });
  b.pulse.track('Leaving', { step: 3 });
  b.pulse.page();
  b.fire('window', 'pagehide');
  assert.equal(b.beacons.length, 1);
  assert.equal(b.requests.length, 0, 'no fetch when the beacon is accepted');
  const { url, blob } = b.beacons[0];
  assert.equal(url, 'https://shop.example/v1/batch');
  assert.equal(blob.type, 'text/plain;charset=utf-8'); // Blob lower-cases its type
  const body = JSON.parse(await blob.text());
  assert.equal(body.writeKey, 'wk_test');
  assert.match(body.sentAt, ISO);
  assert.deepEqual(body.batch.map((e) => e.type), ['track', 'page']);
  assert.deepEqual(b.notes, [['sent', { count: 2, beacon: true }]]);
  assert.equal(b.storage.has('pulse_queue'), false);
  await b.clock.advance(10_000);
  assert.equal(b.requests.length, 0, 'beaconed events are not sent again');

  // visibilitychange to hidden does the same; to visible it does nothing.
  b.pulse.track('Tab switch');
  b.window.document.visibilityState = 'visible';
  b.fire('document', 'visibilitychange');
  assert.equal(b.beacons.length, 1);
  b.window.document.visibilityState = 'hidden';
  b.fire('document', 'visibilitychange');
  assert.equal(b.beacons.length, 2);
  assert.deepEqual(JSON.parse(await b.beacons[1].blob.text()).batch.map((e) => e.event), ['Tab switch']);
});

test('unload falls back to fetch keepalive when sendBeacon is refused or missing', async () => {
  for (const beacon of ['refuse', false]) {
    const b = browser({ load: {}, beacon });
    b.pulse.track('Leaving');
    b.fire('window', 'pagehide');
    assert.equal(b.requests.length, 1, `fetch used (sendBeacon ${beacon === false ? 'missing' : 'refused'})`);
    assert.equal(b.requests[0].init.keepalive, true);
    assert.equal(b.requests[0].init.headers['Content-Type'], 'text/plain;charset=UTF-8');
    assert.equal(b.requests[0].body.writeKey, 'wk_test');
    assert.deepEqual(b.stored().map((e) => e.event), ['Leaving'], 'kept in storage until the gateway answers');
    await settle();
    assert.equal(b.storage.has('pulse_queue'), false);
    assert.deepEqual(b.notes, [['sent', { count: 1 }]]);
  }
});

test('unsent events survive a reload via localStorage', async () => {
  const storage = new Map(), jar = new Map();
  const first = browser({ storage, jar, load: { flushAt: 2 } });
  first.replies.push(NETWORK_ERROR, NETWORK_ERROR);
  first.pulse.track('In retry 1');
  first.pulse.track('In retry 2');
  await settle();
  first.pulse.track('Still queued');
  await settle();
  assert.equal(first.requests.length, 1);
  assert.deepEqual(first.stored().map((e) => e.event), ['In retry 1', 'In retry 2', 'Still queued']);
  const ids = first.stored().map((e) => e.messageId);
  // The page is closed here: no unload handler ran (e.g. a crash).

  const second = browser({ storage, jar, load: {} });
  assert.equal(second.requests.length, 1, 'persisted events are sent at load, without waiting');
  second.pulse.track('New page');
  await settle();
  assert.deepEqual(second.requests[0].body.batch.map((e) => e.messageId), ids, 'same events, same messageIds');
  await second.clock.advance(2000);
  assert.deepEqual(second.events().map((e) => e.event), ['In retry 1', 'In retry 2', 'Still queued', 'New page']);
  assert.equal(storage.has('pulse_queue'), false);
});

test('persisted queue is bounded to the newest 1000 events', async () => {
  const storage = new Map();
  const b = browser({ storage, load: { flushAt: 500 } });
  b.replies.push(NETWORK_ERROR); // the first 500 go into retry
  for (let i = 0; i < 1200; i++) b.pulse.track('E' + i);
  await settle();
  const kept = b.stored();
  assert.equal(kept.length, 1000);
  assert.equal(kept[0].event, 'E200');
  assert.equal(kept.at(-1).event, 'E1199');
});

test('calls made before load are replayed', async () => {
  // 1. A stub array queued before the script arrived.
  const early = [['track', 'Stub Event', { a: 1 }], ['identify', 'u-7', { plan: 'pro' }]];
  const b = browser({ stub: early });
  assert.equal(typeof b.pulse.track, 'function', 'the stub is replaced by the API');
  // 2. API calls after the script but before load().
  b.pulse.page('Home');
  await b.clock.advance(5000);
  assert.equal(b.requests.length, 0, 'nothing is sent before load');
  const before = new Date().toISOString();
  b.pulse.load('wk_late', { host: 'https://collect.example/' });
  await b.pulse.flush();
  assert.equal(b.requests[0].url, 'https://collect.example/v1/batch', 'host option, trailing slash trimmed');
  assert.equal(b.requests[0].body.writeKey, 'wk_late');
  const evs = b.events();
  assert.deepEqual(evs.map((e) => e.type), ['track', 'identify', 'page']);
  assert.deepEqual(evs[0].properties, { a: 1 });
  assert.equal('userId' in evs[0], false);
  assert.equal(evs[2].userId, 'u-7', 'replayed in order');
  assert.ok(evs[2].timestamp <= before, 'timestamp is when the call was made, not when it was replayed');

  // A stub may carry the load call itself.
  const c = browser({ stub: [['load', 'wk_stub', { flushAt: 1 }], ['track', 'Loaded by stub']] });
  await settle();
  assert.equal(c.requests[0].body.writeKey, 'wk_stub');
  assert.equal(c.events()[0].event, 'Loaded by stub');
});

test('the script tag auto-loads with data-write-key and sends a page view', async () => {
  const b = browser({ attrs: { 'data-write-key': 'wk_tag', 'data-auto-page': 'true' }, src: 'https://cdp.example:8443/sdk/pulse.js?v=1' });
  await b.clock.advance(2000);
  assert.equal(b.requests.length, 1);
  assert.equal(b.requests[0].url, 'https://cdp.example:8443/v1/batch', 'host is the origin of the script');
  assert.equal(b.requests[0].body.writeKey, 'wk_tag');
  const [page] = b.events();
  assert.equal(page.type, 'page');
  assert.equal(page.properties.url, 'https://shop.example/pricing?ref=ad');

  const noPage = browser({ attrs: { 'data-write-key': 'wk_tag' } });
  await noPage.clock.advance(5000);
  assert.equal(noPage.requests.length, 0, 'no page view without data-auto-page="true"');
  noPage.pulse.track('Loaded anyway');
  await noPage.pulse.flush();
  assert.equal(noPage.requests[0].body.writeKey, 'wk_tag');

  const inline = browser({ src: null, load: {} }); // no currentScript: fall back to location.origin
  inline.pulse.track('X');
  await inline.pulse.flush();
  assert.equal(inline.requests[0].url, 'https://shop.example/v1/batch');
});

test('oversized events are dropped with a notification', async () => {
  const b = browser({ load: {} });
  b.pulse.track('Huge', { blob: 'x'.repeat(33 * 1024) });
  b.pulse.track('Fine', { blob: 'x'.repeat(30 * 1024) });
  await b.pulse.flush();
  assert.equal(b.notes[0][0], 'dropped');
  assert.equal(b.notes[0][1].count, 1);
  assert.equal(b.notes[0][1].status, 413);
  assert.match(b.notes[0][1].error, /32 KB/);
  assert.deepEqual(b.events().map((e) => e.event), ['Fine']);
});

test('batches are split to stay under 500 events and 450 KB', async () => {
  const b = browser({ load: { flushAt: 500 } });
  for (let i = 0; i < 1100; i++) b.pulse.track('Small', { i });
  await b.pulse.flush();
  assert.deepEqual(b.requests.map((r) => r.body.batch.length), [500, 500, 100]);

  const big = browser({ load: { flushAt: 500 } });
  for (let i = 0; i < 40; i++) big.pulse.track('Big', { i, pad: 'y'.repeat(20 * 1024) });
  await big.pulse.flush();
  assert.ok(big.requests.length >= 2, 'split by size');
  for (const r of big.requests) assert.ok(Buffer.byteLength(r.init.body) < 450 * 1024);
  assert.deepEqual(big.events().map((e) => e.properties.i), [...Array(40).keys()], 'order is kept');
});

test('public methods never throw into the page and warn once', async () => {
  const b = browser({ load: {} });
  const circular = {};
  circular.self = circular;
  assert.doesNotThrow(() => b.pulse.track('Circular', circular));
  assert.doesNotThrow(() => b.pulse.track());
  assert.doesNotThrow(() => b.pulse.consent('yes'));
  assert.doesNotThrow(() => b.pulse.load());
  assert.equal(b.warnings.length, 1, 'warned once');
  assert.match(b.warnings[0], /^\[pulse\]/);

  b.pulse.on(() => { throw new Error('listener bug'); });
  b.pulse.track('Still works');
  await b.pulse.flush();
  assert.deepEqual(b.events().map((e) => e.event), ['Still works']);

  const noStorage = browser({ load: {} });
  Object.defineProperty(noStorage.window, 'localStorage', { get() { throw new Error('SecurityError'); } });
  assert.doesNotThrow(() => noStorage.pulse.track('No storage'));
  await noStorage.pulse.flush();
  assert.equal(noStorage.events()[0].event, 'No storage');
});

test('on() returns an unsubscribe function', async () => {
  const b = browser({ load: {} });
  const seen = [];
  const off = b.pulse.on((kind) => seen.push(kind));
  b.pulse.track('A');
  await b.pulse.flush();
  off();
  b.pulse.track('B');
  await b.pulse.flush();
  assert.deepEqual(seen, ['sent']);
  assert.equal(b.notes.length, 2);
});

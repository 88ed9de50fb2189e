// Drive an unmodified browser SDK bundle in Debian's headless Chromium against a Pulse gateway.
//
//   PULSE_HOST=http://127.0.0.1:PORT PULSE_WRITE_KEY=KEY PULSE_RUN=TAG [PULSE_SDKS_DIR=...] \
//     [CHROMIUM_PATH=/usr/bin/chromium] node browser.mjs analytics.js|posthog-js
//
// Packages (playwright-core, @segment/analytics-next, posthog-js) are loaded from
// $PULSE_SDKS_DIR/node/node_modules (default ~/.cache/pulse/sdks) with createRequire.
// A tiny HTTP server on 127.0.0.1 (another origin than PULSE_HOST) serves a shop page and the
// library's own bundle file; the page points the library at PULSE_HOST:
//   analytics.js: dist/umd/standalone.js with the snippet fields _writeKey, _cdn = PULSE_HOST
//     (settings from GET {PULSE_HOST}/v1/projects/{key}/settings, which say where to send).
//     Page 1 sends one
//     request per event (/v1/t, /v1/i, /v1/a, /v1/p); page 2 uses deliveryStrategy "batching"
//     (size 20) so the 20 tracks go in one POST /v1/b.
//   posthog-js: dist/array.js, posthog.init(key, {api_host: PULSE_HOST}); the anonymous id is
//     bootstrapped; ids are read from capture()'s return value and the before_send hook.
// Every POST to PULSE_HOST is decoded here (gzip, base64 form) to find the event ids it carries;
// the script waits until each event's id was in a request answered 2xx.
// Prints one JSON line {"sdk", "events": [...]}; non-2xx answers and failed requests go to stderr;
// exits 1 if an event was never delivered (or the page reported an error).
import { createRequire } from 'node:module'
import { createServer } from 'node:http'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'

const lib = process.argv[2]
if (lib !== 'analytics.js' && lib !== 'posthog-js') {
  console.error('usage: node browser.mjs analytics.js|posthog-js')
  process.exit(2)
}
const sdks = process.env.PULSE_SDKS_DIR || join(homedir(), '.cache/pulse/sdks')
const require = createRequire(join(sdks, 'node', 'package.json'))
const { chromium } = require('playwright-core')

const { PULSE_HOST: host, PULSE_WRITE_KEY: key, PULSE_RUN: run } = process.env
const pulse = new URL(host)
const SDK = lib
const user = `${SDK}-${run}-user`
const anon = `${SDK}-${run}-anon`
const email = `${SDK}-${run}@example.com`
const TIMEOUT_MS = Number(process.env.PULSE_SDK_TIMEOUT_MS || 90000)
const errors = []

const bundle =
  lib === 'analytics.js'
    ? require.resolve('@segment/analytics-next/dist/umd/standalone.js')
    : require.resolve('posthog-js/dist/array.js')

// ---------- the shop pages ----------
function segmentPage(batching) {
  const loadOptions = {
    integrations: {
      // Where to send comes from Pulse's settings document alone (apiHost, protocol, apiKey).
      'Segment.io': {
        ...(batching ? { deliveryStrategy: { strategy: 'batching', config: { size: 20, timeout: 10000 } } } : {}),
      },
    },
  }
  return `<!doctype html><html><head><meta charset="utf-8"><title>Pulse Shop</title>
<script>
  window.analytics = [];
  window.analytics._writeKey = ${JSON.stringify(key)};
  window.analytics._cdn = ${JSON.stringify(host)};
  window.analytics._loadOptions = ${JSON.stringify(loadOptions)};
</script>
<script src="/lib/bundle.js"></script></head>
<body><h1>Pulse Shop</h1><p>Blue Mug &mdash; 19.99</p></body></html>`
}

function posthogPage() {
  return `<!doctype html><html><head><meta charset="utf-8"><title>Pulse Shop</title>
<script src="/lib/bundle.js"></script>
<script>
  window.__sent = [];
  window.__errors = [];
  posthog.init(${JSON.stringify(key)}, {
    api_host: ${JSON.stringify(host)},
    bootstrap: { distinctID: ${JSON.stringify(anon)}, isIdentifiedID: false },
    // HeadlessChrome's user agent is on posthog-js's bot list: without this it drops every event.
    opt_out_useragent_filter: true,
    autocapture: false,
    capture_pageview: false,
    capture_pageleave: false,
    disable_session_recording: true,
    disable_surveys: true,
    request_queue_config: { flush_interval_ms: 500 },
    before_send: function (ev) {
      if (ev) window.__sent.push({ uuid: ev.uuid, event: ev.event, distinct_id: ev.properties && ev.properties.distinct_id });
      return ev;
    },
    on_request_error: function (res) { window.__errors.push(res && res.statusCode); },
  });
</script></head>
<body><h1>Pulse Shop</h1><p>Blue Mug &mdash; 19.99</p></body></html>`
}

const server = createServer((req, res) => {
  const path = req.url.split('?')[0]
  if (path === '/lib/bundle.js') {
    res.writeHead(200, { 'content-type': 'application/javascript' })
    return res.end(readFileSync(bundle))
  }
  if (path === '/' || path === '/shop' || path === '/checkout') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
    return res.end(lib === 'posthog-js' ? posthogPage() : segmentPage(path === '/checkout'))
  }
  res.writeHead(path === '/favicon.ico' ? 204 : 404)
  res.end()
})
await new Promise((r) => server.listen(0, '127.0.0.1', r))
const origin = `http://127.0.0.1:${server.address().port}`

// ---------- watching the wire ----------
const delivered = new Set() // ids seen in a request answered 2xx
const onWire = new Map() // id -> {status of last answer}
const pending = new Set() // requests to Pulse not yet answered

let gzipBodies = 0 // event POSTs sent compressed (posthog-js's gzip-js)

function decodeBody(buf, url) {
  if (!buf || !buf.length) return null
  let b = buf
  if (b[0] === 0x1f && b[1] === 0x8b) {
    b = gunzipSync(b)
    gzipBodies += 1
  }
  let text = b.toString('utf8')
  if (text.startsWith('data=')) {
    const d = decodeURIComponent(text.slice(5).replace(/\+/g, ' '))
    try {
      text = Buffer.from(d, 'base64').toString('utf8')
      JSON.parse(text)
    } catch {
      text = d
    }
  }
  try {
    return JSON.parse(text)
  } catch {
    console.error(`[browser] undecodable body for ${url}: ${text.slice(0, 200)}`)
    return null
  }
}

function idsIn(body) {
  const list = Array.isArray(body) ? body : Array.isArray(body?.batch) ? body.batch : body ? [body] : []
  return list.map((e) => e?.messageId ?? e?.uuid).filter(Boolean)
}

function isPulse(url) {
  try {
    return new URL(url).origin === pulse.origin
  } catch {
    return false
  }
}

function watch(context) {
  context.on('request', (req) => {
    if (isPulse(req.url())) pending.add(req)
  })
  context.on('requestfinished', async (req) => {
    if (!isPulse(req.url())) return
    try {
      const resp = await req.response()
      const status = resp ? resp.status() : 0
      if (req.method() === 'POST') {
        const ids = idsIn(decodeBody(req.postDataBuffer(), req.url()))
        for (const id of ids) {
          onWire.set(id, status)
          if (status >= 200 && status < 300) delivered.add(id)
        }
      }
      if (status >= 400) console.error(`[browser] ${status} ${req.method()} ${req.url()}`)
    } catch (e) {
      console.error(`[browser] could not inspect ${req.url()}: ${e.message}`)
    } finally {
      pending.delete(req)
    }
  })
  context.on('requestfailed', (req) => {
    if (isPulse(req.url()) || req.url().startsWith(origin)) {
      console.error(`[browser] failed ${req.method()} ${req.url()}: ${req.failure()?.errorText}`)
    }
    pending.delete(req)
  })
}

async function waitDelivered(ids) {
  if (ids.some((id) => !id)) {
    errors.push('the library returned no id for some events (were they dropped?)')
    return
  }
  const deadline = Date.now() + TIMEOUT_MS
  while (Date.now() < deadline) {
    if (ids.every((id) => delivered.has(id)) && pending.size === 0) return
    await new Promise((r) => setTimeout(r, 100))
  }
  const missing = ids.filter((id) => !delivered.has(id))
  if (missing.length) {
    errors.push(`not delivered within ${TIMEOUT_MS} ms: ${missing.map((id) => `${id}${onWire.has(id) ? ` (last ${onWire.get(id)})` : ' (never sent)'}`).join(', ')}`)
  }
}

// ---------- drive the page ----------
const userDataDir = mkdtempSync(join(tmpdir(), 'pulse-sdk-chromium-'))
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  headless: true,
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
})
watch(context)
const page = context.pages()[0] ?? (await context.newPage())
page.on('console', (m) => {
  if (m.type() === 'error' || m.type() === 'warning') console.error(`[page ${m.type()}] ${m.text()}`)
})
page.on('pageerror', (e) => errors.push(`page error: ${e.message}`))

const events = []
try {
  if (lib === 'analytics.js') {
    await page.goto(`${origin}/shop`)
    const ready = () => page.waitForFunction(() => window.analytics && window.analytics.initialized === true, null, { timeout: 30000 })
    await ready()
    // One request per event: /v1/t, /v1/i, /v1/a, /v1/p.
    // analytics.js fills userId/anonymousId in when it (re)sends, not when it is called: the
    // anonymous track is delivered (through any retry) before identify, so it stays anonymous.
    const anonTrack = await page.evaluate(async ({ anon }) => {
      window.analytics.setAnonymousId(anon)
      const ctx = await window.analytics.track('Product Viewed', { sku: 'SKU-1', price: 19.99 })
      return { messageId: ctx.event.messageId, type: 'track', userId: null, anonymousId: anon }
    }, { anon })
    events.push(anonTrack)
    await waitDelivered([anonTrack.messageId])
    const first = await page.evaluate(
      async ({ anon, user, email, run }) => {
        const a = window.analytics
        const out = []
        const rec = (ctx, type, userId, anonymousId) => out.push({ messageId: ctx.event.messageId, type, userId, anonymousId })
        rec(await a.identify(user, { email }), 'identify', user, anon)
        rec(await a.alias(user, anon), 'alias', user, anon)
        rec(await a.track('Product Added', { sku: 'SKU-1', quantity: 1 }), 'track', user, anon)
        rec(await a.track('Order Completed', { order_id: `${run}-o1`, total: 19.99 }), 'track', user, anon)
        rec(await a.page('Shop', 'Checkout', { url: location.href }), 'page', user, anon)
        return out
      },
      { anon, user, email, run },
    )
    events.push(...first)
    await waitDelivered(first.map((e) => e.messageId))

    // Same origin, same stored identity; this page batches: 20 tracks in one POST /v1/b.
    await page.goto(`${origin}/checkout`)
    await ready()
    const batch = await page.evaluate(async () => {
      const a = window.analytics
      const calls = []
      for (let i = 0; i < 20; i++) calls.push(a.track('Batch Item', { i }))
      const ctxs = await Promise.all(calls)
      return ctxs.map((ctx) => ({ messageId: ctx.event.messageId, userId: ctx.event.userId ?? null, anonymousId: ctx.event.anonymousId ?? null }))
    })
    for (const e of batch) {
      if (e.userId !== user || e.anonymousId !== anon) errors.push(`batch event ${e.messageId} is about ${e.userId}/${e.anonymousId}`)
      events.push({ messageId: e.messageId, type: 'track', userId: user, anonymousId: anon })
    }
    await waitDelivered(batch.map((e) => e.messageId))
  } else {
    await page.goto(`${origin}/shop`)
    await page.waitForFunction(() => window.posthog && window.posthog.__loaded, null, { timeout: 30000 })
    const first = await page.evaluate(
      async ({ anon, user, email, run }) => {
        const ph = window.posthog
        const out = []
        const cap = (name, props, type, who) => {
          const r = ph.capture(name, props)
          out.push({ messageId: r && r.uuid, type, ...who })
        }
        if (ph.get_distinct_id() !== anon) throw new Error(`bootstrap distinct id is ${ph.get_distinct_id()}`)
        cap('Product Viewed', { sku: 'SKU-1', price: 19.99 }, 'track', { userId: null, anonymousId: anon })
        // identify() returns nothing: its uuid is taken from the before_send hook.
        const before = window.__sent.length
        ph.identify(user, { email })
        const idEv = window.__sent.slice(before).find((e) => e.event === '$identify')
        out.push({ messageId: idEv && idEv.uuid, type: 'identify', userId: user, anonymousId: anon })
        cap('Product Added', { sku: 'SKU-1', quantity: 1 }, 'track', { userId: user, anonymousId: null })
        cap('Order Completed', { order_id: `${run}-o1`, total: 19.99 }, 'track', { userId: user, anonymousId: null })
        cap('$pageview', { $current_url: location.href }, 'page', { userId: user, anonymousId: null })
        return out
      },
      { anon, user, email, run },
    )
    events.push(...first)
    await waitDelivered(first.map((e) => e.messageId))
    const batch = await page.evaluate(() => {
      const out = []
      for (let i = 0; i < 20; i++) out.push(window.posthog.capture('Batch Item', { i })?.uuid)
      return out
    })
    for (const id of batch) events.push({ messageId: id, type: 'track', userId: user, anonymousId: null })
    await waitDelivered(batch)

    // Anything else the library sent on its own (not asked for by this script) is reported.
    const sent = await page.evaluate(() => window.__sent)
    const ours = new Set(events.map((e) => e.messageId))
    for (const s of sent) {
      if (!ours.has(s.uuid)) console.error(`[browser] posthog-js also sent ${s.event} ${s.uuid} (${s.distinct_id})`)
    }
    for (const e of events) if (!sent.some((s) => s.uuid === e.messageId)) errors.push(`${e.messageId} not seen by before_send`)
    // Pulse's remote config (/array/<key>/config) offers gzip-js, so posthog-js must use it.
    if (gzipBodies === 0) errors.push('posthog-js sent no gzip-js body although Pulse offers it')
  }
  for (const e of events) if (!e.messageId) errors.push(`an event of type ${e.type} has no id`)
} catch (e) {
  errors.push(`driver: ${e.stack || e}`)
} finally {
  await context.close().catch(() => {})
  server.close()
  rmSync(userDataDir, { recursive: true, force: true })
}

if (errors.length) console.error(`${SDK}: ${errors.join('; ')}`)
console.log(JSON.stringify({ sdk: SDK, events }))
process.exit(errors.length ? 1 : 0)

// Drive PostHog's unmodified Node SDK (posthog-node) against a Pulse gateway.
//
//   PULSE_HOST=http://127.0.0.1:PORT PULSE_WRITE_KEY=KEY PULSE_RUN=TAG [PULSE_SDKS_DIR=...] node posthog_node.mjs
//
// Packages are loaded with createRequire from $PULSE_SDKS_DIR/node/node_modules
// (default ~/.cache/pulse/sdks), so neither NODE_PATH nor the working directory matters.
// Prints one JSON line {"sdk", "events": [...]}; exits 1 if the SDK emitted 'error'.
//
// capture() takes an explicit uuid (set here, derived from the run); identify() and alias() take
// none, so their uuids are read from the SDK's own 'identify'/'alias' events, which carry the
// queued message exactly as it is sent.
import { createHash } from 'node:crypto'
import { createRequire } from 'node:module'
import { homedir } from 'node:os'
import { join } from 'node:path'

const sdks = process.env.PULSE_SDKS_DIR || join(homedir(), '.cache/pulse/sdks')
const require = createRequire(join(sdks, 'node', 'package.json'))
const { PostHog } = require('posthog-node')

const SDK = 'posthog-node'
const { PULSE_HOST: host, PULSE_WRITE_KEY: apiKey, PULSE_RUN: run } = process.env
const user = `${SDK}-${run}-user`
const anon = `${SDK}-${run}-anon`
const errors = []
const events = []
const queued = [] // messages as the SDK queued them (its 'capture'/'identify'/'alias' events)

// A deterministic, valid UUID (v8 layout) from the run tag and index.
function uuidFor(i) {
  const h = createHash('sha256').update(`${SDK}-${run}-${i}`).digest('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`
}

// Gzip on (SDK default); fixed retry delay fetchRetryDelay between fetchRetryCount retries.
const ph = new PostHog(apiKey, { host, flushAt: 20, flushInterval: 10000, fetchRetryCount: 5, fetchRetryDelay: 200 })
ph.on('error', (err) => errors.push(`error event: ${err?.message ?? err}`))
for (const t of ['capture', 'identify', 'alias']) ph.on(t, (msg) => queued.push(msg))

// flush()/shutdown() reject when delivery failed for good; the 'error' event already recorded why.
async function flush() {
  await ph.flush().catch((err) => errors.push(`flush: ${err?.message ?? err}`))
}

function capture(type, who, props) {
  const uuid = uuidFor(events.length)
  events.push({ messageId: uuid, type, userId: who.userId ?? null, anonymousId: who.anonymousId ?? null })
  ph.capture({ ...props, uuid })
}

// For identify()/alias(): the uuid comes from the SDK's queued message (the SDK prepares events
// asynchronously, so wait until it has queued it), then flush so the next calls follow it.
async function viaEvent(type, who, match, call) {
  const before = queued.length
  call()
  let msg
  for (let waited = 0; !(msg = queued.slice(before).find(match)) && waited < 10000; waited += 10) {
    await new Promise((r) => setTimeout(r, 10))
  }
  if (!msg) errors.push(`${type}: the SDK queued no message`)
  events.push({ messageId: msg?.uuid ?? null, type, userId: who.userId ?? null, anonymousId: who.anonymousId ?? null })
  await flush()
}

capture('track', { anonymousId: anon }, { distinctId: anon, event: 'Product Viewed', properties: { sku: 'SKU-1', price: 19.99 } })
await viaEvent('identify', { userId: user, anonymousId: anon }, (m) => m.event === '$identify', () =>
  ph.identify({ distinctId: user, properties: { $set: { email: `${SDK}-${run}@example.com` }, $anon_distinct_id: anon } }),
)
await viaEvent('alias', { userId: user, anonymousId: anon }, (m) => m.event === '$create_alias', () =>
  ph.alias({ distinctId: user, alias: anon }),
)
capture('track', { userId: user }, { distinctId: user, event: 'Product Added', properties: { sku: 'SKU-1', quantity: 1 } })
capture('track', { userId: user }, { distinctId: user, event: 'Order Completed', properties: { order_id: `${run}-o1`, total: 19.99 } })
capture('page', { userId: user }, { distinctId: user, event: '$pageview', properties: { $current_url: 'https://shop.example/checkout' } })
await flush()

// The 20-event batch: the 20th queued event reaches flushAt=20 and is sent with the other 19.
for (let i = 0; i < 20; i++) capture('track', { userId: user }, { distinctId: user, event: 'Batch Item', properties: { i } })
await flush()
await ph.shutdown(60000).catch((err) => errors.push(`shutdown: ${err?.message ?? err}`))

for (const e of events) {
  if (!queued.some((m) => m.uuid === e.messageId)) errors.push(`event ${e.messageId} (${e.type}) never queued by the SDK`)
}
if (errors.length) console.error(`${SDK}: ${errors.join('; ')}`)
console.log(JSON.stringify({ sdk: SDK, events }))
process.exit(errors.length ? 1 : 0)

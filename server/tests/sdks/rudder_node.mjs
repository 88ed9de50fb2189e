// Drive RudderStack's unmodified Node SDK (@rudderstack/rudder-sdk-node) against a Pulse gateway.
//
//   PULSE_HOST=http://127.0.0.1:PORT PULSE_WRITE_KEY=KEY PULSE_RUN=TAG [PULSE_SDKS_DIR=...] node rudder_node.mjs
//
// Packages are loaded with createRequire from $PULSE_SDKS_DIR/node/node_modules
// (default ~/.cache/pulse/sdks), so neither NODE_PATH nor the working directory matters.
// Prints one JSON line {"sdk", "events": [...]}; exits 1 if any event's callback reported an error.
//
// SDK quirks: the very first event of a client is flushed alone, at once; gzip is on by default;
// retries (axios-retry, exponentialDelay: ~200ms, 400ms, ...) cover 5xx, 429 and network errors.
import { createRequire } from 'node:module'
import { homedir } from 'node:os'
import { join } from 'node:path'

const sdks = process.env.PULSE_SDKS_DIR || join(homedir(), '.cache/pulse/sdks')
const require = createRequire(join(sdks, 'node', 'package.json'))
const Analytics = require('@rudderstack/rudder-sdk-node')

const SDK = 'rudder-node'
const { PULSE_HOST: host, PULSE_WRITE_KEY: writeKey, PULSE_RUN: run } = process.env
const user = `${SDK}-${run}-user`
const anon = `${SDK}-${run}-anon`
const errors = []
const events = []
const delivered = []

const a = new Analytics(writeKey, {
  dataPlaneUrl: host,
  flushAt: 20,
  flushInterval: 500,
  retryCount: 5,
  logLevel: 'error',
  errorHandler: (err) => errors.push(`errorHandler: ${err?.response?.status ?? ''} ${err?.message ?? err}`),
})

function send(method, type, who, params) {
  const messageId = `${SDK}-${run}-${String(events.length).padStart(2, '0')}`
  events.push({ messageId, type, userId: who.userId ?? null, anonymousId: who.anonymousId ?? null })
  delivered.push(
    new Promise((resolve) => {
      a[method]({ ...params, messageId }, (err, data) => {
        if (err) errors.push(`${method} ${messageId}: ${err.message ?? err}`)
        resolve()
      })
    }),
  )
}

send('track', 'track', { anonymousId: anon }, { anonymousId: anon, event: 'Product Viewed', properties: { sku: 'SKU-1', price: 19.99 } })
send('identify', 'identify', { userId: user, anonymousId: anon }, { userId: user, anonymousId: anon, traits: { email: `${SDK}-${run}@example.com` } })
send('alias', 'alias', { userId: user, anonymousId: anon }, { previousId: anon, userId: user })
send('track', 'track', { userId: user }, { userId: user, event: 'Product Added', properties: { sku: 'SKU-1', quantity: 1 } })
send('track', 'track', { userId: user }, { userId: user, event: 'Order Completed', properties: { order_id: `${run}-o1`, total: 19.99 } })
send('page', 'page', { userId: user }, { userId: user, name: 'Checkout', properties: { url: 'https://shop.example/checkout' } })
await a.flush().catch(() => {})
await Promise.all(delivered)

// The 20-event batch: the 20th synchronous call reaches flushAt=20 and flushes exactly these 20.
for (let i = 0; i < 20; i++) send('track', 'track', { userId: user }, { userId: user, event: 'Batch Item', properties: { i } })
await a.flush().catch(() => {})
await Promise.all(delivered)

if (errors.length) console.error(`${SDK}: ${errors.join('; ')}`)
console.log(JSON.stringify({ sdk: SDK, events }))
process.exit(errors.length ? 1 : 0)

// Drive Segment's unmodified Node SDK (@segment/analytics-node) against a Pulse gateway.
//
//   PULSE_HOST=http://127.0.0.1:PORT PULSE_WRITE_KEY=KEY PULSE_RUN=TAG [PULSE_SDKS_DIR=...] node segment_node.mjs
//
// Packages are loaded with createRequire from $PULSE_SDKS_DIR/node/node_modules
// (default ~/.cache/pulse/sdks), so neither NODE_PATH nor the working directory matters.
// Prints one JSON line {"sdk", "events": [...]}; exits 1 if any event failed delivery.
import { createRequire } from 'node:module'
import { homedir } from 'node:os'
import { join } from 'node:path'

const sdks = process.env.PULSE_SDKS_DIR || join(homedir(), '.cache/pulse/sdks')
const require = createRequire(join(sdks, 'node', 'package.json'))
const { Analytics } = require('@segment/analytics-node')

const SDK = 'segment-node'
const { PULSE_HOST: host, PULSE_WRITE_KEY: writeKey, PULSE_RUN: run } = process.env
const user = `${SDK}-${run}-user`
const anon = `${SDK}-${run}-anon`
const errors = []
const events = []
const delivered = []

function client(flushAt) {
  // Retries: 500ms * 2^n * (1..2) per counted retry (first ~1-2s); 400 is never retried.
  const a = new Analytics({ writeKey, host, path: '/v1/batch', flushAt, flushInterval: 500, maxRetries: 3 })
  a.on('error', (err) => errors.push(`error event: ${err?.code ?? ''} ${err?.reason ?? err}`))
  return a
}

function send(a, method, type, who, params) {
  const messageId = `${SDK}-${run}-${String(events.length).padStart(2, '0')}`
  events.push({ messageId, type, userId: who.userId ?? null, anonymousId: who.anonymousId ?? null })
  delivered.push(
    new Promise((resolve) => {
      a[method]({ ...params, messageId }, (err, ctx) => {
        if (err) errors.push(`${method} ${messageId}: ${err.reason ?? err.message ?? err}`)
        else if (ctx?.event?.messageId !== messageId) errors.push(`${method}: ctx messageId ${ctx?.event?.messageId} != ${messageId}`)
        resolve()
      })
    }),
  )
}

const a = client(100)
send(a, 'track', 'track', { anonymousId: anon }, { anonymousId: anon, event: 'Product Viewed', properties: { sku: 'SKU-1', price: 19.99 } })
send(a, 'identify', 'identify', { userId: user, anonymousId: anon }, { userId: user, anonymousId: anon, traits: { email: `${SDK}-${run}@example.com` } })
send(a, 'alias', 'alias', { userId: user, anonymousId: anon }, { previousId: anon, userId: user })
send(a, 'track', 'track', { userId: user }, { userId: user, event: 'Product Added', properties: { sku: 'SKU-1', quantity: 1 } })
send(a, 'track', 'track', { userId: user }, { userId: user, event: 'Order Completed', properties: { order_id: `${run}-o1`, total: 19.99 } })
send(a, 'page', 'page', { userId: user }, { userId: user, name: 'Checkout', properties: { url: 'https://shop.example/checkout' } })
await a.closeAndFlush({ timeout: 60000 })

// The 20-event batch: flushAt=20 closes the batch at exactly these 20 events.
const b = client(20)
for (let i = 0; i < 20; i++) send(b, 'track', 'track', { userId: user }, { userId: user, event: 'Batch Item', properties: { i } })
await b.closeAndFlush({ timeout: 60000 })
await Promise.all(delivered)

if (errors.length) console.error(`${SDK}: ${errors.join('; ')}`)
console.log(JSON.stringify({ sdk: SDK, events }))
process.exit(errors.length ? 1 : 0)

// Sends Segment calls to footfall with the official Node SDK (@segment/analytics-node).
// Usage: node send_node.mjs SPEC.json, where SPEC is {"host", "writeKey", "calls": [{"method",
// "args"}]}. Exits non-zero when any call was not delivered.
import { readFileSync } from 'node:fs'
import { Analytics } from '@segment/analytics-node'

const spec = JSON.parse(readFileSync(process.argv[2], 'utf8'))
const analytics = new Analytics({
  writeKey: spec.writeKey,
  host: spec.host,
  flushAt: 5,
  flushInterval: 200,
  maxRetries: 2,
})
const failures = []
analytics.on('error', (err) => failures.push(String(err?.code ?? err?.reason ?? err)))
const statuses = []
analytics.on('http_request', (event) => statuses.push(event))

const delivered = spec.calls.map(({ method, args }) =>
  new Promise((resolve) => {
    analytics[method](args, (err) => {
      if (err) failures.push(`${method} ${args.messageId}: ${err?.reason ?? err}`)
      resolve()
    })
  })
)
await Promise.all(delivered)
await analytics.closeAndFlush({ timeout: 20000 })
if (failures.length > 0) {
  console.error(`delivery failed: ${failures.join('; ')}`)
  process.exit(1)
}
console.log(JSON.stringify({ sent: spec.calls.length, requests: statuses.length }))

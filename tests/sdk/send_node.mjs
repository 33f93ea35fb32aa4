// Sends Segment calls to a collector with the official Node SDK (@segment/analytics-node).
//
// Usage: node send_node.mjs HOST WRITE_KEY CALLS
//   HOST       the collector's base URL, e.g. http://127.0.0.1:8080 (the SDK posts to HOST/v1/batch)
//   WRITE_KEY  the write key (sent as HTTP Basic user name, as the SDK always does)
//   CALLS      a JSON file, or a JSON text, holding an array of {"method", "args"}: method is one of
//              track, identify, page, screen, group, alias; args is what that SDK method takes.
//
// Prints one line of JSON to stdout: {"messageIds": [...]}, the messageId of each call in the
// order of CALLS (the one given in args, else the one the SDK generated). Exits 1 when any call
// was not delivered (the SDK's callback reported an error, or an 'error' event was emitted).
import { existsSync, readFileSync } from 'node:fs'
import { Analytics } from '@segment/analytics-node'

const [host, writeKey, callsArg] = process.argv.slice(2)
if (!host || !writeKey || !callsArg) {
  console.error('usage: node send_node.mjs HOST WRITE_KEY CALLS(.json)')
  process.exit(2)
}
const calls = JSON.parse(existsSync(callsArg) ? readFileSync(callsArg, 'utf8') : callsArg)

const analytics = new Analytics({
  writeKey,
  host,
  path: '/v1/batch',
  flushAt: 5, // several batches, some of them partial
  flushInterval: 200,
  maxRetries: 1,
  httpRequestTimeout: 5000,
})

const failures = []
analytics.on('error', (err) => failures.push(`error event: ${err?.code}: ${err?.reason ?? err}`))
const responses = []
analytics.on('http_response', (r) => responses.push(r.status))

const messageIds = new Array(calls.length)
const delivered = calls.map(({ method, args }, i) => {
  if (typeof analytics[method] !== 'function') throw new Error(`unknown method ${method}`)
  return new Promise((resolve) => {
    analytics[method](args, (err, ctx) => {
      messageIds[i] = ctx?.event?.messageId
      if (err) failures.push(`${method} #${i} (${messageIds[i]}): ${err?.message ?? err}`)
      resolve()
    })
  })
})
await analytics.closeAndFlush({ timeout: 20000 })
await Promise.all(delivered)

console.error(`http responses: ${JSON.stringify(responses)}`)
if (messageIds.some((id) => typeof id !== 'string' || id === '')) {
  failures.push(`missing messageIds: ${JSON.stringify(messageIds)}`)
}
if (failures.length > 0) {
  console.error(`delivery failed: ${failures.join('; ')}`)
  process.exitCode = 1
}
console.log(JSON.stringify({ messageIds }))

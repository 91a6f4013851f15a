// The BullMQ peer's consumer for bench/queue_bench.py: a no-op processor,
// BullMQ's defaults (completed jobs are kept: its faster setting; with
// removeOnComplete: { count: 0 }, bounded as our streams are, it ran about a
// third slower here).
//   node consumer.mjs REDIS_URL CONCURRENCY READY_FILE
import { writeFileSync } from "node:fs";
import { Worker } from "bullmq";

const [url, concurrency, ready] = process.argv.slice(2);
const { hostname, port } = new URL(url);
const worker = new Worker("noop", async () => null, {
  connection: { host: hostname, port: Number(port), maxRetriesPerRequest: null },
  concurrency: Number(concurrency),
});
await worker.waitUntilReady();
writeFileSync(ready, "");

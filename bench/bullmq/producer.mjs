// The BullMQ peer's producer for bench/queue_bench.py: connects, says "ready",
// and on a line from stdin adds N no-op jobs with addBulk, 100 at a time.
//   node producer.mjs REDIS_URL N
import { createInterface } from "node:readline";
import { Queue } from "bullmq";

const [url, count] = process.argv.slice(2);
const { hostname, port } = new URL(url);
const queue = new Queue("noop", { connection: { host: hostname, port: Number(port) } });
await queue.waitUntilReady();
console.log("ready");
const lines = createInterface({ input: process.stdin });
await new Promise((resolve) => lines.once("line", resolve));
const n = Number(count);
for (let start = 0; start < n; start += 100) {
  const batch = [];
  for (let i = start; i < Math.min(n, start + 100); i++) batch.push({ name: "noop", data: {} });
  await queue.addBulk(batch);
}
console.log("done");
await queue.close();
process.exit(0);

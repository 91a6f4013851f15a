// The BullMQ peer of bench/enqueue_bench.py: CALLERS concurrent callers, each
// adding one no-op job at a time with queue.add (what one upload does), N in
// all. Connects, says "ready"; on a line from stdin adds the jobs and says
// "done SECONDS" (its own clock, from the first add to the last answer).
//   node adder.mjs REDIS_URL N CALLERS
import { createInterface } from "node:readline";
import { Queue } from "bullmq";

const [url, count, callers] = process.argv.slice(2);
const { hostname, port } = new URL(url);
const queue = new Queue("noop", { connection: { host: hostname, port: Number(port) } });
await queue.waitUntilReady();
console.log("ready");
const lines = createInterface({ input: process.stdin });
await new Promise((resolve) => lines.once("line", resolve));
let left = Number(count);
async function caller() {
  while (left > 0) {
    left -= 1;
    await queue.add("noop", {});
  }
}
const t0 = process.hrtime.bigint();
await Promise.all(Array.from({ length: Number(callers) }, caller));
console.log(`done ${Number(process.hrtime.bigint() - t0) / 1e9}`);
await queue.close();
process.exit(0);

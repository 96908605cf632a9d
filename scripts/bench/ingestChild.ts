/** The ingest of one blob, in a process of its own so that its memory can be measured alone. */
import { ingestBlob } from '../../src/app/ingestBlob.js';
import { silentLogger } from '../../src/app/Logger.js';
import { createServices } from '../../src/compositionRoot.js';

const [container, name] = process.argv.slice(2);
if (container === undefined || name === undefined) throw new Error('usage: ingestChild <container> <blob>');

// Peak RSS by sampling: ru_maxrss is inherited from the parent across exec on Linux, so the parent's
// (Azurite holding the whole file) would show up as ours.
let peakRss = process.memoryUsage().rss;
setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 50).unref();

const services = await createServices(process.env);
const started = performance.now();
let invocations = 0;
let result;
// Each call is what one function invocation does; a 'continued' result is the continuation message's run.
do {
  invocations += 1;
  result = await ingestBlob(container, name, services.ingestDeps(silentLogger));
} while (result.kind === 'continued');
const elapsedInMs = performance.now() - started;
await services.close();
process.stdout.write(
  `${JSON.stringify({ result, invocations, elapsedInMs, maxRssInMb: Math.max(peakRss, process.memoryUsage().rss) / 1048576 })}\n`,
);
process.exit(0);

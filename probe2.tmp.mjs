import { CosmosClient } from '@azure/cosmos';
for (const p of [36555, 41589]) {
  try {
    const c = new CosmosClient({ endpoint: `https://127.0.0.1:${p}`, key: 'x' });
    const { resource } = await c.database('benchfair').container('budget').item('fair-share.bench-fair', 'fair-share.bench-fair').read();
    const now = Date.now();
    console.log(JSON.stringify({ vt: resource.virtualTime, latency: resource.latencyInMs, pending: resource.pendingFeeds.map(f => ({...f, left: f.untilInMs - now})), jobs: Object.fromEntries(Object.entries(resource.jobs).map(([k, j]) => [k.slice(0,10), { w: j.weight, ft: j.finishTag, im: j.ingestMessages, em: j.extraMessages, fm: j.fedMessages, canc: j.cancelling }])) }, null, 1));
  } catch (e) { console.log(p, e.message.slice(0, 80)); }
}

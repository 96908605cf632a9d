import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadFunctionApp } from '../../dev/local/host/captureRegistrations.js';
import { createLocalFunctionsHost, type LocalFunctionsHost } from '../../dev/local/host/LocalFunctionsHost.js';
import { DOWNLOAD_CHUNK_BYTES, DOWNLOAD_CHUNKS, nextDownloadGate } from './fixtures/download.js';

const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const hostJsonPath = fixture('host.json');
const appEntry = fileURLToPath(new URL('../../src/index.ts', import.meta.url));
const TOTAL_BYTES = DOWNLOAD_CHUNK_BYTES * DOWNLOAD_CHUNKS;

async function startHost(entry: string): Promise<LocalFunctionsHost> {
  const host = createLocalFunctionsHost({
    entryModules: [entry],
    hostJsonPath,
    env: {},
    httpPort: 0,
    logger: { log: () => undefined },
  });
  await host.start();
  return host;
}

async function readAll(body: ReadableStream<Uint8Array>): Promise<number> {
  let bytes = 0;
  for await (const chunk of body) bytes += chunk.length;
  return bytes;
}

describe('local host: HTTP streaming only when the app enables it, as on the real worker', () => {
  let streaming: LocalFunctionsHost;
  let buffering: LocalFunctionsHost;

  beforeAll(async () => {
    streaming = await startHost(fixture('streamingApp.ts'));
    buffering = await startHost(fixture('bufferingApp.ts'));
  });

  afterAll(async () => {
    await streaming?.stop();
    await buffering?.stop();
  });

  test('the capture sees app.setup({ enableHttpStream: true }), and only in the app that calls it', async () => {
    expect((await loadFunctionApp([fixture('streamingApp.ts')])).httpStream).toBe(true);
    expect((await loadFunctionApp([fixture('bufferingApp.ts')])).httpStream).toBe(false);
  });

  test('the function app enables HTTP streaming, so results downloads stream on Azure', async () => {
    expect((await loadFunctionApp([appEntry])).httpStream).toBe(true);
  });

  test('streaming enabled: the response starts while the handler is still producing the body', async () => {
    const gate = nextDownloadGate();
    // The source waits after its first chunk until this client has the response headers: a host that
    // buffered the body would never answer.
    const response = await fetch(`${streaming.httpUrl}/api/download`);
    expect(gate.drained).toBe(false);
    expect(response.headers.get('content-length')).toBeNull();
    expect(response.headers.get('transfer-encoding')).toBe('chunked');
    gate.open();
    expect(await readAll(response.body!)).toBe(TOTAL_BYTES);
    expect(gate.drained).toBe(true);
  });

  test('streaming not enabled: the host reads the whole body first and sends it with its length', async () => {
    const gate = nextDownloadGate();
    gate.open();
    const response = await fetch(`${buffering.httpUrl}/api/download`);
    expect(gate.drained).toBe(true);
    expect(response.headers.get('content-length')).toBe(String(TOTAL_BYTES));
    expect(response.headers.get('transfer-encoding')).toBeNull();
    expect(await readAll(response.body!)).toBe(TOTAL_BYTES);
  });

  test('request bodies reach the handler whole in both modes (streamed, or read before the call)', async () => {
    const body = new Uint8Array(3 * 1024 * 1024).fill(120);
    for (const host of [streaming, buffering]) {
      const response = await fetch(`${host.httpUrl}/api/upload`, { method: 'POST', body });
      expect(await response.json()).toEqual({ bytes: body.length });
    }
  });
});

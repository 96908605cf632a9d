import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface GatedEndpoint {
  /** e.g. `http://127.0.0.1:PORT`: use as PHI3_ENDPOINT in place of the upstream's URL. */
  readonly url: string;
  /** Requests answered so far (forwarded and answered). */
  readonly answered: () => number;
  /** Requests held right now. */
  readonly held: () => number;
  /** Hold every request from now on, once `answerFirst` more have been answered. */
  holdAfter(answerFirst: number): void;
  /** Forward again: held requests go through now, and every later one. */
  release(): void;
  /** Held requests are dropped (their connections destroyed), as when the caller's process dies. */
  close(): Promise<void>;
}

/**
 * A proxy in front of a Phi-3 endpoint (the simulator) that the test can stop answering: requests are held
 * without a reply until `release()`, so a test waits on what it can observe (calls held, lines done), not on time.
 */
export async function startGatedEndpoint(upstreamUrl: string): Promise<GatedEndpoint> {
  let answered = 0;
  let allowance = Infinity;
  const held: Array<() => void> = [];
  const forward = async (request: IncomingMessage, body: Buffer, response: ServerResponse): Promise<void> => {
    const forwarded = (entry: [string, unknown]): entry is [string, string] =>
      typeof entry[1] === 'string' && entry[0] !== 'host' && entry[0] !== 'connection';
    const headers = Object.fromEntries(Object.entries(request.headers).filter(forwarded));
    const upstream = await fetch(`${upstreamUrl}${request.url ?? ''}`, {
      method: request.method ?? 'GET',
      headers,
      ...(body.length > 0 && { body }),
    });
    const answer = Buffer.from(await upstream.arrayBuffer());
    const responseHeaders: Record<string, string> = {};
    upstream.headers.forEach((value, name) => {
      if (!['content-length', 'transfer-encoding', 'connection', 'keep-alive'].includes(name))
        responseHeaders[name] = value;
    });
    answered += 1;
    response.writeHead(upstream.status, responseHeaders).end(answer);
  };
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const go = (): void => {
        forward(request, Buffer.concat(chunks), response).catch(() => response.destroy());
      };
      if (allowance > 0) {
        allowance -= 1;
        go();
      } else {
        held.push(go);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    answered: () => answered,
    held: () => held.length,
    holdAfter(answerFirst) {
      allowance = answerFirst;
    },
    release() {
      allowance = Infinity;
      for (const go of held.splice(0)) go();
    },
    async close() {
      held.splice(0);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

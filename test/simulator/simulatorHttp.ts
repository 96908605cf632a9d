import { Agent, request } from 'undici';
import type { Phi3Simulator } from '../../dev/simulator/startPhi3Simulator.js';

export interface SimulatorResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: any;
}

export interface CallOptions {
  readonly method?: 'GET' | 'POST' | 'PUT';
  readonly headers?: Record<string, string>;
  /** Sent as is when a string, as JSON otherwise. */
  readonly body?: unknown;
  /** Default: `Authorization: Bearer <the simulator's key>`. */
  readonly auth?: boolean;
  readonly signal?: AbortSignal;
}

/** One undici agent per test file, closed by the file's afterAll. */
export function createSimulatorClient(agent: Agent) {
  return async function call(
    simulator: Phi3Simulator,
    path: string,
    options: CallOptions = {},
  ): Promise<SimulatorResponse> {
    const headers: Record<string, string> = { 'content-type': 'application/json', ...options.headers };
    if (options.auth !== false) {
      headers.authorization = `Bearer ${simulator.apiKey}`;
    }
    const body =
      options.body === undefined || typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    const response = await request(`${simulator.url}${path}`, {
      dispatcher: agent,
      method: options.method ?? (body === undefined ? 'GET' : 'POST'),
      headers,
      ...(body === undefined ? {} : { body }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    const text = await response.body.text();
    const flatHeaders: Record<string, string> = {};
    for (const [name, value] of Object.entries(response.headers)) {
      if (value !== undefined) {
        flatHeaders[name] = Array.isArray(value) ? value.join(', ') : value;
      }
    }
    return { status: response.statusCode, headers: flatHeaders, body: text === '' ? null : JSON.parse(text) };
  };
}

/** Messages on the control queue: job-level work that must survive a crash and run once at least. */
export type ControlMessage = { readonly v: 1; readonly kind: 'finalize'; readonly jobId: string };

export function parseControlMessage(payload: unknown): ControlMessage | string {
  if (typeof payload !== 'object' || payload === null) return 'control message is not a JSON object';
  const m = payload as Record<string, unknown>;
  if (m['v'] !== 1 || typeof m['jobId'] !== 'string') return 'control message lacks v or jobId';
  if (m['kind'] === 'finalize') return { v: 1, kind: 'finalize', jobId: m['jobId'] };
  return `unknown control message kind ${JSON.stringify(m['kind'])}`;
}

/** Messages on the control queue: job-level work that must survive a crash and run once at least. */
export type ControlMessage =
  | { readonly v: 1; readonly kind: 'finalize'; readonly jobId: string }
  /**
   * Resume (or start) the ingest of a blob: the sweeper's way back into a stalled ingest, and a chunk's
   * continuation. With `jobId`, the ingest goes on with that job's pinned input version, or ends the
   * job's ingest if that version is gone; without it (older messages), the blob as it is now is read.
   */
  | {
      readonly v: 1;
      readonly kind: 'ingest';
      readonly container: string;
      readonly name: string;
      readonly jobId?: string | undefined;
    }
  /** Deliver (attempt) a job's final event to the webhook endpoint. */
  | {
      readonly v: 1;
      readonly kind: 'webhook';
      readonly jobId: string;
      readonly eventId: string;
      readonly attempt: number;
    };

/** Has the job finalised (files written, status final); sent when its last line is recorded or it is cancelled. */
export function finalizeMessage(jobId: string): ControlMessage {
  return { v: 1, kind: 'finalize', jobId };
}

/** Resumes (or starts) the ingest of a blob; with `jobId`, of that job's pinned version of it. */
export function ingestMessage(container: string, name: string, jobId?: string): ControlMessage {
  return jobId === undefined
    ? { v: 1, kind: 'ingest', container, name }
    : { v: 1, kind: 'ingest', container, name, jobId };
}

/** Attempt `attempt` (from 1) at delivering the job's final event `eventId` to the webhook endpoint. */
export function webhookMessage(jobId: string, eventId: string, attempt: number): ControlMessage {
  return { v: 1, kind: 'webhook', jobId, eventId, attempt };
}

export function parseControlMessage(payload: unknown): ControlMessage | string {
  if (typeof payload !== 'object' || payload === null) return 'control message is not a JSON object';
  const m = payload as Record<string, unknown>;
  if (m['v'] !== 1) return 'control message lacks v';
  if (m['kind'] === 'finalize' && typeof m['jobId'] === 'string') return finalizeMessage(m['jobId']);
  if (m['kind'] === 'ingest' && typeof m['container'] === 'string' && typeof m['name'] === 'string') {
    const jobId = m['jobId'];
    if (jobId !== undefined && typeof jobId !== 'string') return 'ingest message has a jobId that is not a string';
    return ingestMessage(m['container'], m['name'], jobId);
  }
  if (
    m['kind'] === 'webhook' &&
    typeof m['jobId'] === 'string' &&
    typeof m['eventId'] === 'string' &&
    Number.isInteger(m['attempt'])
  ) {
    return webhookMessage(m['jobId'], m['eventId'], m['attempt'] as number);
  }
  return `unknown control message kind ${JSON.stringify(m['kind'])}`;
}

/** What a job records of its webhook: the event, how many tries, and how the last one went. */
export interface WebhookRecord {
  readonly eventId: string;
  readonly type: string;
  readonly attempts: number;
  /** HTTP status of the last attempt; 0 when it got no answer (network error, timeout). */
  readonly lastStatus?: number | undefined;
  readonly lastError?: string | undefined;
  readonly lastAttemptAtInMs?: number | undefined;
  readonly deliveredAtInMs?: number | undefined;
  readonly gaveUpAtInMs?: number | undefined;
}

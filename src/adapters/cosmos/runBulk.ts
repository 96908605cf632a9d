import type { Container, OperationInput } from '@azure/cosmos';

/** Cosmos takes at most 100 operations per partition in one bulk request. */
export const BULK_LIMIT = 100;

/**
 * Runs operations of one partition in bulk and returns each one's HTTP status, in order.
 *
 * Through the older `items.bulk` API on purpose: `executeBulkOperations` (SDK 4.9 and 4.10) sleeps
 * 1 s whenever a batch is not full (BulkHelper's intervalForPartialBatchInMs), so every small write,
 * such as one work message's outcomes, would wait a second. `bulk` sends at once. Failures come back
 * as statuses (continueOnError); only a failed request as a whole throws.
 */
export async function runBulk(container: Container, operations: readonly OperationInput[]): Promise<number[]> {
  const statuses: number[] = [];
  for (let start = 0; start < operations.length; start += BULK_LIMIT) {
    const chunk = operations.slice(start, start + BULK_LIMIT);
    const responses = await container.items.bulk([...chunk], { continueOnError: true });
    chunk.forEach((_, index) => statuses.push(responses[index]?.statusCode ?? 0));
  }
  return statuses;
}

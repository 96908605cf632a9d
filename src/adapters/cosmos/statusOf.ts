import { ErrorResponse } from '@azure/cosmos';

/** The HTTP status of a failed Cosmos call (409, 412, 404, ...), or undefined for errors that carry none. */
export const statusOf = (error: unknown): number | undefined =>
  error instanceof ErrorResponse ? (error.code as number | undefined) : (error as { code?: number } | null)?.code;

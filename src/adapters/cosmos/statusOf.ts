import { ErrorResponse, type Container, type ItemDefinition } from '@azure/cosmos';

/** The HTTP status of a failed Cosmos call (409, 412, 404, ...), or undefined for errors that carry none. */
export const statusOf = (error: unknown): number | undefined =>
  error instanceof ErrorResponse ? (error.code as number | undefined) : (error as { code?: number } | null)?.code;

/**
 * Writes a document read a moment ago, only if nobody wrote it since: created when it was absent,
 * replaced under its ETag otherwise. False when another instance got in first (409 or 412): read again.
 */
export async function writeIfUnchanged(
  container: Container,
  read: { readonly _etag?: string } | undefined,
  document: ItemDefinition & { readonly id: string },
): Promise<boolean> {
  try {
    if (read === undefined) await container.items.create(document);
    else
      await container
        .item(document.id, document.id)
        .replace(document, { accessCondition: { type: 'IfMatch', condition: read._etag ?? '' } });
    return true;
  } catch (error) {
    const status = statusOf(error);
    if (status !== 409 && status !== 412) throw error;
    return false;
  }
}

function errorMessageOf(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null || !('error' in body)) return undefined;
  const error = body.error;
  if (typeof error !== 'object' || error === null || !('message' in error)) return undefined;
  return typeof error.message === 'string' && error.message !== '' ? error.message : undefined;
}

/**
 * Reads the app's API relative to the page (the page is /api/dashboard, so `jobs` is /api/jobs),
 * with the function key the page was opened with, if any.
 */
export function createApiClient(key: string | null): <T>(path: string) => Promise<T> {
  return async <T>(path: string): Promise<T> => {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (key) headers['x-functions-key'] = key;
    const response = await fetch(path, { headers, cache: 'no-store' });
    if (response.status === 401 || response.status === 403) {
      throw new Error(`The API refused the request (${response.status}): open this page with ?code=<function key>`);
    }
    if (!response.ok) {
      let message = `HTTP ${response.status}`;
      try {
        message = errorMessageOf(await response.json()) ?? message;
      } catch {
        // not JSON
      }
      throw new Error(`${path.split('?')[0] ?? path}: ${message}`);
    }
    return (await response.json()) as T;
  };
}

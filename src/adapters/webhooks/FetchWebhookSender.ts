import { ensureError } from '../../core/errors.js';
import type { WebhookSender } from '../../app/webhooks.js';

const TIMEOUT_IN_MS = 15_000;

/** Posts with Node's fetch; no redirects followed (a receiver must answer at the configured URL). */
export class FetchWebhookSender implements WebhookSender {
  async post(
    url: string,
    body: string,
    headers: Readonly<Record<string, string>>,
  ): Promise<{ status: number; error?: string }> {
    try {
      const response = await fetch(url, {
        method: 'POST',
        body,
        headers,
        redirect: 'manual',
        signal: AbortSignal.timeout(TIMEOUT_IN_MS),
      });
      await response.body?.cancel();
      return { status: response.status };
    } catch (thrown) {
      const error = ensureError(thrown);
      return { status: 0, error: `${error.name}: ${error.message}` };
    }
  }
}

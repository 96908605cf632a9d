import { QueueMessageEncoding } from './hostJson.js';

const base64Pattern = /^[A-Za-z0-9+/]*={0,2}$/;

/** The message text as the trigger sees it, or undefined when it is not valid for the encoding. */
export function decodeQueueMessage(messageText: string, encoding: QueueMessageEncoding): string | undefined {
  if (encoding === QueueMessageEncoding.none) {
    return messageText;
  }
  if (messageText.length % 4 !== 0 || !base64Pattern.test(messageText)) {
    return undefined;
  }
  return Buffer.from(messageText, 'base64').toString('utf8');
}

/** Like the library's fromRpcTypedData for strings: JSON when it parses, else the string. */
export function toTriggerValue(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** Message texts for an output binding value: arrays fan out, objects become JSON, bytes stay bytes. */
export function encodeQueueOutput(value: unknown, encoding: QueueMessageEncoding): string[] {
  const values = Array.isArray(value) ? value : [value];
  return values.map((item) => {
    const bytes =
      item instanceof Uint8Array
        ? Buffer.from(item)
        : Buffer.from(typeof item === 'string' ? item : JSON.stringify(item), 'utf8');
    return encoding === QueueMessageEncoding.base64 ? bytes.toString('base64') : bytes.toString('utf8');
  });
}

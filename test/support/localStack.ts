import { afterAll, beforeAll } from 'vitest';
import {
  startLocalStack,
  type LocalStack,
  type StartLocalStackOptions,
} from '../../dev/local/stack/startLocalStack.js';

export interface LocalStackFixture {
  /** The running stack; only inside tests and hooks that run after beforeAll. */
  readonly stack: LocalStack;
}

/**
 * Starts Azurite (and, unless `cosmos: false`, the Cosmos stand-in) on free ports before the file's tests
 * and closes it after them. Call at the top level of a test file or describe block.
 */
export function withLocalStack(options: StartLocalStackOptions = {}): LocalStackFixture {
  let stack: LocalStack | undefined;
  beforeAll(async () => {
    stack = await startLocalStack(options);
  });
  afterAll(async () => {
    await stack?.close();
    stack = undefined;
  });
  return {
    get stack(): LocalStack {
      if (!stack) {
        throw new Error('The local stack is only available once beforeAll has run.');
      }
      return stack;
    },
  };
}

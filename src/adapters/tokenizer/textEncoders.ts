import { createRequire } from 'node:module';
import { Tiktoken, type TiktokenBPE } from 'js-tiktoken/lite';

/** Counts the tokens of a plain text segment (no BOS, no chat template). */
export type CountSegmentTokens = (text: string) => number;

const require = createRequire(import.meta.url);

let llamaCounter: CountSegmentTokens | undefined;
let cl100kCounter: CountSegmentTokens | undefined;

/**
 * Llama-2 SentencePiece (Phi-3-mini/medium, Phi-3.5). Loaded on first use with `require` because
 * llama-tokenizer-js decodes its 32k vocabulary while its module is evaluated (~100 ms): a static
 * import would charge that to every process that merely imports this adapter.
 */
export function getLlamaSegmentCounter(): CountSegmentTokens {
  if (llamaCounter === undefined) {
    const tokenizer = (require('llama-tokenizer-js') as typeof import('llama-tokenizer-js')).default;
    // SentencePiece adds its dummy prefix ("▁") to every segment it encodes, as Phi-3's tokenizer does
    // to the text between two special tokens; BOS is accounted for by the chat template, not here.
    llamaCounter = (text) => (text.length === 0 ? 0 : tokenizer.encode(text, false, true).length);
  }
  return llamaCounter;
}

/** cl100k_base (Phi-3-small). Building its rank maps takes most of a second, so only on first use. */
export function getCl100kSegmentCounter(): CountSegmentTokens {
  if (cl100kCounter === undefined) {
    // The CJS build of the ranks module exports the encoding object itself.
    const ranks = require('js-tiktoken/ranks/cl100k_base') as TiktokenBPE | { default: TiktokenBPE };
    const encoding = new Tiktoken('default' in ranks ? ranks.default : ranks);
    // Special-token look-alikes inside user text are plain text to us (the library would throw by default).
    cl100kCounter = (text) => (text.length === 0 ? 0 : encoding.encode(text, [], []).length);
  }
  return cl100kCounter;
}

import type { ChatCompletionBody } from './chat.js';
import { CustomIdSet } from './CustomIdSet.js';
import type { RawLine } from './LineSplitter.js';
import { LineErrorCode, type LineError } from './lineErrors.js';
import { parseBatchLine, RESERVED_CUSTOM_ID_PREFIX } from './parseBatchLine.js';

export type ValidatedLine =
  | { readonly kind: 'blank'; readonly lineNumber: number }
  | {
      readonly kind: 'request';
      readonly lineNumber: number;
      readonly customId: string;
      readonly body: ChatCompletionBody;
      readonly byteOffset: number;
      readonly byteLength: number;
    }
  | { readonly kind: 'invalid'; readonly lineNumber: number; readonly customId: string; readonly error: LineError };

export interface ValidatorState {
  readonly seenCustomIds: CustomIdSet;
  readonly requestedModel: string | undefined;
  /** Requests accepted so far (the per-file limit counts them). */
  readonly tasks: number;
}

export interface BatchFileValidatorOptions {
  readonly maxLineBytes: number;
  readonly maxLinesPerFile: number;
}

/**
 * The id a line gets when it has no `custom_id` of its own: `~line-<n>`, a form no line may give itself
 * (parseBatchLine refuses it), so it can never collide with an explicit id, before or after it in the
 * file: the set of ids seen stays as it was. (`line-<n>` could: an explicit `line-2` made line 2, which
 * had none, fail as a duplicate, and put `line-2` twice in the output.)
 */
export function defaultCustomId(lineNumber: number): string {
  return `${RESERVED_CUSTOM_ID_PREFIX}${lineNumber}`;
}

/**
 * Validates a file line by line, with the cross-line rules (unique `custom_id`, one model per file,
 * the task limit). Holds only what those rules need, never the lines themselves.
 */
export class BatchFileValidator {
  readonly #options: BatchFileValidatorOptions;
  readonly #seenCustomIds: CustomIdSet;
  readonly #decoder = new TextDecoder('utf-8', { fatal: true });
  #model: string | undefined;
  #tasks = 0;

  /** `resume`: the state saved at a checkpoint, to carry on validating a file part-way through. */
  constructor(options: BatchFileValidatorOptions, resume?: ValidatorState) {
    this.#options = options;
    this.#seenCustomIds = resume?.seenCustomIds ?? new CustomIdSet();
    this.#model = resume?.requestedModel;
    this.#tasks = resume?.tasks ?? 0;
  }

  /** What a later chunk needs to carry on exactly where this one stopped. */
  get state(): ValidatorState {
    return { seenCustomIds: this.#seenCustomIds, requestedModel: this.#model, tasks: this.#tasks };
  }

  /** The model named by the file's lines (the first one that names one), if any. */
  get requestedModel(): string | undefined {
    return this.#model;
  }

  validate(line: RawLine): ValidatedLine {
    const { lineNumber } = line;
    const fallbackId = defaultCustomId(lineNumber);
    const text = this.#decode(line);
    if (typeof text !== 'string') return this.#invalid(lineNumber, fallbackId, text);

    const parsed = parseBatchLine(text);
    if (parsed.kind === 'blank') return { kind: 'blank', lineNumber };
    const customId = parsed.customId ?? fallbackId;
    if (parsed.kind === 'invalid') return this.#invalid(lineNumber, customId, crOnlyHint(text, parsed.error));

    const refused = this.#fileRuleBroken(parsed.body);
    if (refused !== undefined) return this.#invalid(lineNumber, customId, refused);
    if (!this.#seenCustomIds.add(customId)) {
      return { kind: 'invalid', lineNumber, customId, error: duplicateCustomIdError(customId) };
    }
    this.#tasks += 1;
    return {
      kind: 'request',
      lineNumber,
      customId,
      body: parsed.body,
      byteOffset: line.byteOffset,
      byteLength: line.byteLength,
    };
  }

  /** The line's text, or why it has none: too large, or not UTF-8. */
  #decode(line: RawLine): string | LineError {
    if (line.bytes === null) {
      return {
        code: LineErrorCode.lineTooLarge,
        message: `Line is ${line.byteLength} bytes; the limit is ${this.#options.maxLineBytes}`,
      };
    }
    try {
      return this.#decoder.decode(line.bytes);
    } catch {
      return { code: LineErrorCode.invalidUtf8, message: 'Line is not valid UTF-8' };
    }
  }

  /**
   * The per-file limit and the one model per file, for a request that parsed; the first model named
   * becomes the file's.
   */
  #fileRuleBroken(body: ChatCompletionBody): LineError | undefined {
    if (this.#tasks >= this.#options.maxLinesPerFile) {
      return {
        code: LineErrorCode.tooManyTasks,
        message: `A file may hold at most ${this.#options.maxLinesPerFile} requests`,
      };
    }
    const { model } = body;
    if (model === undefined) return undefined;
    this.#model ??= model;
    if (model === this.#model) return undefined;
    return {
      code: LineErrorCode.modelMismatch,
      message: `body.model "${model}" differs from "${this.#model}" named earlier in the file`,
      param: 'body.model',
    };
  }

  #invalid(lineNumber: number, customId: string, error: LineError): ValidatedLine {
    // An invalid line's id still claims its custom_id, so a later duplicate is reported against the first.
    this.#seenCustomIds.add(customId);
    return { kind: 'invalid', lineNumber, customId, error };
  }
}

function duplicateCustomIdError(customId: string): LineError {
  return {
    code: LineErrorCode.duplicateCustomId,
    message: `custom_id "${customId}" appears more than once in the file`,
    param: 'custom_id',
  };
}

/**
 * Lines end at LF (a CR before it is dropped). A file saved with CR-only line endings (classic Mac) is
 * therefore one long line; its JSON error would say nothing useful, so the error says what happened.
 */
function crOnlyHint(text: string, error: LineError): LineError {
  if (error.code !== LineErrorCode.invalidJsonLine || !text.includes('\r')) return error;
  return {
    ...error,
    message:
      'Line is not valid JSON and holds carriage returns (CR) without line feeds: the file seems to use CR-only line ' +
      'endings, which make it one line. Save it with LF or CRLF line endings.',
  };
}

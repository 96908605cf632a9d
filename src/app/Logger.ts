/** The logging the use cases need; the function files pass the invocation's context methods. */
export interface Logger {
  info(message: string, ...details: unknown[]): void;
  warn(message: string, ...details: unknown[]): void;
  error(message: string, ...details: unknown[]): void;
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };

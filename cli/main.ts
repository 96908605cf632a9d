#!/usr/bin/env node
import { runCli } from './runCli.js';

// Ctrl-C stops the command cleanly (the bar restores the cursor); a second one exits at once.
const controller = new AbortController();
const onSignal = (): void => {
  if (controller.signal.aborted) process.exit(130);
  controller.abort();
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

process.exitCode = await runCli(process.argv.slice(2), { abortSignal: controller.signal });
process.off('SIGINT', onSignal);
process.off('SIGTERM', onSignal);

// Lets a plain `node` child process run this repo's TypeScript sources (tests spawn hosts from src/).
// Usage: node --import ./test/support/tsLoader/register.mjs dev/local/host/hostProcess.ts
import { register } from 'node:module';

register('./hooks.mjs', import.meta.url);

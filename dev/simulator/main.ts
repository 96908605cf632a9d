import { readSimulatorEnv } from './readSimulatorEnv.js';
import { startPhi3Simulator } from './startPhi3Simulator.js';

// Entry point of `npm run simulator`: configuration from SIMULATOR_* variables, stops on SIGINT/SIGTERM.
try {
  const options = readSimulatorEnv(process.env);
  const simulator = await startPhi3Simulator(options);
  const keySource = options.apiKey === undefined ? 'the built-in placeholder key' : 'the key in SIMULATOR_API_KEY';
  console.log(`Phi-3 simulator (${simulator.model}) listening on ${simulator.url} (expects ${keySource})`);

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      return;
    }
    stopping = true;
    console.log(`${signal} received, closing the simulator`);
    simulator.close().then(
      () => {
        process.exitCode = 0;
      },
      (error: unknown) => {
        console.error('The simulator did not close cleanly:', error);
        process.exitCode = 1;
      },
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
}

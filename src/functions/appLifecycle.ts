import { app } from '@azure/functions';
import { closeServices, getServices } from '../compositionRoot.js';

// Building the services (clients, containers) and loading a tokenizer's vocabulary take a few hundred
// milliseconds of CPU: paid when the app starts rather than by its first messages. Not awaited, so the
// host starts at once; a failure here is left for the first invocation to meet and report.
app.hook.appStart(() => {
  getServices().then(
    (services) => {
      for (const deployment of services.deployments.all) deployment.tokenCounter.countText('warm-up');
    },
    () => undefined,
  );
});

// When the host shuts the app down, close the endpoint pools and the Cosmos client cleanly.
app.hook.appTerminate(async () => {
  await closeServices();
});

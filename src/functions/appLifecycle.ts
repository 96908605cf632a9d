import { app } from '@azure/functions';
import { closeServices } from '../compositionRoot.js';

// When the host shuts the app down, close the endpoint pools and the Cosmos client cleanly.
app.hook.appTerminate(async () => {
  await closeServices();
});

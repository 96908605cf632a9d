import { app, type InvocationContext } from '@azure/functions';
import { recordPoisonMessage } from '../app/recordPoisonMessage.js';
import { getServices } from '../compositionRoot.js';

export async function processRequestsPoisonHandler(payload: unknown, context: InvocationContext): Promise<void> {
  const services = await getServices();
  await recordPoisonMessage(payload, { ...services, logger: context });
}

app.storageQueue('processRequestsPoison', {
  queueName: '%REQUEST_QUEUE%-poison',
  connection: 'AzureWebJobsStorage',
  handler: processRequestsPoisonHandler,
});

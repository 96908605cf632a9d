import { app, type InvocationContext } from '@azure/functions';
import { parseControlMessage } from '../app/controlMessages.js';
import { finalizeJob } from '../app/finalizeJob.js';
import { getServices } from '../compositionRoot.js';

export async function processControlHandler(payload: unknown, context: InvocationContext): Promise<void> {
  const message = parseControlMessage(payload);
  if (typeof message === 'string') throw new Error(`Malformed control message: ${message}`);
  const services = await getServices();
  const result = await finalizeJob(message.jobId, services.finalizeDeps(context));
  context.log(`finalize ${message.jobId}: ${result}`);
}

app.storageQueue('processControl', {
  queueName: '%CONTROL_QUEUE%',
  connection: 'AzureWebJobsStorage',
  handler: processControlHandler,
});

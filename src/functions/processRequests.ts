import { app, type InvocationContext } from '@azure/functions';
import { readDequeueCount } from '../adapters/functions/dequeueCount.js';
import { processRequestMessage } from '../app/processRequestMessage.js';
import { getServices } from '../compositionRoot.js';
import { parseRequestMessage } from '../core/requestMessage.js';

export async function processRequestsHandler(payload: unknown, context: InvocationContext): Promise<void> {
  const parsedMessage = parseRequestMessage(payload);
  // A malformed message is thrown back: after maxDequeueCount it lands in the poison queue, visible.
  if (!parsedMessage.ok) throw new Error(`Malformed request message: ${parsedMessage.error}`);
  const message = parsedMessage.value;
  const services = await getServices();
  const dequeueCount = readDequeueCount(context.triggerMetadata);
  const result = await processRequestMessage(message, services.workerDeps(context), { dequeueCount });
  context.log(
    `job ${message.jobId} message ${message.seq}: ${result.recorded} recorded, ${result.alreadyDone} already done, ${result.requeued} re-queued`,
  );
}

app.storageQueue('processRequests', {
  queueName: '%REQUEST_QUEUE%',
  connection: 'AzureWebJobsStorage',
  handler: processRequestsHandler,
});

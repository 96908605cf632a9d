import { app } from '@azure/functions';

// Results downloads answer with a stream of the output parts. Without this the Node worker reads every response
// body whole before the host sends a byte (a large job's results in memory, against the 230 s limit for an
// HTTP response to start), and hands handlers request bodies read whole too.
app.setup({ enableHttpStream: true });

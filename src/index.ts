// The Functions entry point (package.json "main"): importing a function file registers it.
// First, before any registration: the app's worker options (HTTP streaming).
import './appSetup.js';
import './functions/ingestBlob.js';
import './functions/processRequests.js';
import './functions/processControl.js';
import './functions/listJobs.js';
import './functions/getJob.js';
import './functions/getJobResults.js';
import './functions/cancelJob.js';
import './functions/setJobPriority.js';
import './functions/deleteJob.js';
import './functions/processRequestsPoison.js';
import './functions/retryJob.js';
import './functions/sweeper.js';
import './functions/feeder.js';
import './functions/getCosts.js';
import './functions/getBudgetUse.js';
import './functions/listBudgets.js';
import './functions/dashboard.js';
import './functions/appLifecycle.js';
import './functions/openaiFiles.js';
import './functions/openaiBatches.js';

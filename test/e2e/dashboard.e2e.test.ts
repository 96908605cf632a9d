import type { ScheduleViews } from '../../src/app/ports.js';
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BlobServiceClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryScheduleViews } from '../../src/adapters/memory/InMemoryScheduleViews.js';
import { closeServices, getServices } from '../../src/compositionRoot.js';
import { withSettingDefaults } from '../../src/config.js';
import { jobIdFor } from '../../src/core/jobId.js';
import { createLocalFunctionsHost, type LocalFunctionsHost } from '../../dev/local/host/index.js';
import { startLocalStack, type LocalStack } from '../../dev/local/stack/index.js';
import { startPhi3Simulator, type Phi3Simulator } from '../../dev/simulator/index.js';
import { dumpDom, findChromium, screenshot } from '../support/chromium.js';

const root = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));
const FUNCTION_KEY = 'dashboard-function-key';
const MINI = 'Phi-3-mini-4k-instruct';
const MEDIUM = 'Phi-3-medium-4k-instruct';
/** Long enough for the page's first polls of /api/jobs and /api/costs, in the browser's virtual time. */
const VIRTUAL_TIME_BUDGET_IN_MS = 5_000;

const chromium = findChromium();
const missing = 'Chromium is not installed (apt-get install -y chromium, or set CHROMIUM_PATH)';

describe('the dashboard in a browser', () => {
  it('has a browser to run in on CI', () => {
    if (chromium === undefined && process.env['CI'] !== undefined)
      throw new Error(`${missing}: the dashboard test cannot run`);
    if (chromium === undefined) console.warn(`Skipping the dashboard browser test: ${missing}.`);
  });

  describe.skipIf(chromium === undefined)('with Chromium', () => {
    let stack: LocalStack;
    let mini: Phi3Simulator;
    let medium: Phi3Simulator;
    let host: LocalFunctionsHost;
    let blobService: BlobServiceClient;
    let outputDir: string;
    const savedEnv = { ...process.env };
    const jobs: Record<'mini' | 'medium' | 'capped' | 'waiting', string> = {
      mini: '',
      medium: '',
      capped: '',
      waiting: '',
    };

    const upload = async (
      name: string,
      model: string,
      count: number,
      metadata: Record<string, string> = {},
    ): Promise<string> => {
      const lines = Array.from({ length: count }, (_, i) =>
        JSON.stringify({
          custom_id: `${name}-${i}`,
          method: 'POST',
          url: '/v1/chat/completions',
          body: {
            model,
            messages: [{ role: 'user', content: `Question ${i} for ${name}: explain something briefly.` }],
            max_tokens: 40 + 10 * i,
          },
        }),
      );
      const text = `${lines.join('\n')}\n`;
      const container = blobService.getContainerClient('batch-input');
      await container.createIfNotExists();
      const result = await container
        .getBlockBlobClient(`${name}.jsonl`)
        .upload(text, Buffer.byteLength(text), { metadata });
      return jobIdFor('batch-input', `${name}.jsonl`, result.etag!);
    };

    const statusOf = async (jobId: string): Promise<Record<string, any>> =>
      (await (
        await fetch(`${host.httpUrl}/api/jobs/${jobId}`, { headers: { 'x-functions-key': FUNCTION_KEY } })
      ).json()) as Record<string, any>;

    beforeAll(async () => {
      stack = await startLocalStack();
      const latency = { baseInMs: 0, perCompletionTokenInMs: 0, jitterInMs: 0 };
      mini = await startPhi3Simulator({ model: MINI, latency });
      medium = await startPhi3Simulator({ model: MEDIUM, latency });
      Object.assign(process.env, stack.settings, {
        PHI3_ENDPOINT: mini.url,
        PHI3_API_KEY: mini.apiKey,
        PHI3_MODEL: MINI,
        PHI3_DEPLOYMENT: 'phi3-mini',
        PHI3_EXTRA_DEPLOYMENTS: JSON.stringify([
          {
            name: 'phi3-medium',
            endpoint: medium.url,
            apiKeySetting: 'PHI3_MEDIUM_KEY',
            model: MEDIUM,
            requestsPerMinute: 1000,
            tokensPerMinute: 200_000,
          },
        ]),
        PHI3_MEDIUM_KEY: medium.apiKey,
        COSMOS_DATABASE: 'e2edashboard',
      });
      Object.assign(process.env, withSettingDefaults(process.env));
      host = createLocalFunctionsHost({
        entryModules: [root('src/index.ts')],
        hostJsonPath: root('host.json'),
        httpPort: 0,
        functionKey: FUNCTION_KEY,
        pollAutomatically: false,
      });
      await host.start();
      blobService = BlobServiceClient.fromConnectionString(stack.settings['AzureWebJobsStorage']!);
      outputDir = await mkdtemp(join(tmpdir(), 'dashboard-'));

      jobs.mini = await upload('summaries', MINI, 6, { tag_project: 'apollo' });
      jobs.medium = await upload('translations', MEDIUM, 4, { tag_project: 'hermes' });
      jobs.capped = await upload('capped', MINI, 6, { maxcost: '0.00004' });
      for (let round = 0; round < 300; round += 1) {
        await host.pollBlobsNow();
        await host.pollQueuesNow();
        const states = await Promise.all(
          [jobs.mini, jobs.medium, jobs.capped].map(async (id) => (await statusOf(id))['status']),
        );
        if (states.every((s) => s === 'completed' || s === 'failed')) break;
      }
      // Ingested but not processed: a high-priority job waiting at 0 %, with the share a scheduler would report.
      jobs.waiting = await upload('backlog', MINI, 5, { priority: 'high' });
      await host.pollBlobsNow();
      const waiting = await statusOf(jobs.waiting);
      // The page shows what the schedule reports; fixed figures make what it shows checkable.
      const schedule = new InMemoryScheduleViews();
      ((await getServices()) as { schedule: ScheduleViews }).schedule = schedule;
      schedule.set(String(waiting['deployment']), jobs.waiting, { share: 0.8, etaAtInMs: Date.now() + 60_000 });
    });

    afterAll(async () => {
      await host?.stop();
      await closeServices();
      await Promise.all([mini?.close(), medium?.close()]);
      await stack?.close();
      if (outputDir !== undefined) await rm(outputDir, { recursive: true, force: true });
      process.env = savedEnv;
    });

    it("shows every job with a progress bar and the day's cost stacked by model, with data from the API", async () => {
      expect((await statusOf(jobs.mini))['status']).toBe('completed');
      expect((await statusOf(jobs.capped))['spending_cap'].reached).toBe(true);
      const url = `${host.httpUrl}/api/dashboard?code=${encodeURIComponent(FUNCTION_KEY)}`;
      const dom = await dumpDom(chromium!, url, { virtualTimeBudgetInMs: VIRTUAL_TIME_BUDGET_IN_MS });

      expect(dom).not.toMatch(/id="status" class="error"/);
      const bars = [
        ...dom.matchAll(
          /<div class="progress" role="progressbar" aria-valuemin="0" aria-valuemax="(\d+)" aria-valuenow="(\d+)" aria-label="[^"]*" data-job="([^"]+)">/g,
        ),
      ].map((m) => ({
        total: Number(m[1]),
        done: Number(m[2]),
        job: m[3],
      }));
      expect(bars).toEqual(
        expect.arrayContaining([
          { job: jobs.mini, total: 6, done: 6 },
          { job: jobs.medium, total: 4, done: 4 },
          { job: jobs.capped, total: 6, done: 6 },
          { job: jobs.waiting, total: 5, done: 0 },
        ]),
      );
      expect(dom).toMatch(/class="fill" style="width: 100(\.0)?%;"/);
      expect(dom).toMatch(/class="num cap-reached">\$0\.0000\d* reached</);
      // Priorities in the table; the running job's share there and in its deployment's summary.
      expect(dom).toContain('<span class="priority-level p-high">high</span>');
      expect(dom).toContain('<span class="priority-level p-normal">normal</span>');
      expect(dom).toMatch(new RegExp(`role="meter"[^>]*aria-valuenow="0.8"[^>]*data-job="${jobs.waiting}"`));
      expect(dom).toMatch(/<figure class="shares" data-deployment="phi3-mini">/);
      expect(dom).toMatch(new RegExp(`class="segment p-high" title="${jobs.waiting}: high, 80%"`));

      const today = new Date().toISOString().slice(0, 10);
      const rects = [...dom.matchAll(/<rect class="bar" ([^>]+)>/g)].map((m) =>
        Object.fromEntries([...m[1]!.matchAll(/([\w-]+)="([^"]*)"/g)].map((a) => [a[1], a[2]])),
      );
      const ofToday = rects.filter((r) => r['data-day'] === today);
      expect(ofToday.map((r) => r['data-model']).sort()).toEqual([MEDIUM, MINI]);
      for (const rect of ofToday) {
        expect(Number(rect['height'])).toBeGreaterThan(0);
        expect(Number(rect['data-cost'])).toBeGreaterThan(0);
      }
      // Stacked: the two models' segments of the day touch.
      const [lower, upper] = [...ofToday].sort((a, b) => Number(b['y']) - Number(a['y']));
      expect(Number(upper!['y']) + Number(upper!['height'])).toBeCloseTo(Number(lower!['y']), 1);
      expect(dom).toMatch(new RegExp(`<span class="chip" data-model="${MEDIUM}"`));

      // A wrong key: the API refuses the page's calls, and the page says why instead of showing nothing.
      const page = await fetch(`${host.httpUrl}/api/dashboard?code=${encodeURIComponent(FUNCTION_KEY)}`);
      expect(await page.text()).toContain(`src="dashboard/app.js?code=${encodeURIComponent(FUNCTION_KEY)}"`);
      expect((await fetch(`${host.httpUrl}/api/dashboard`)).status).toBe(401);
    });

    it("groups the day's cost by a tag's value and filters by tag, as the page's URL asks", async () => {
      const today = new Date().toISOString().slice(0, 10);
      const segments = async (query: string): Promise<string[]> => {
        const url = `${host.httpUrl}/api/dashboard?code=${encodeURIComponent(FUNCTION_KEY)}&${query}`;
        const dom = await dumpDom(chromium!, url, { virtualTimeBudgetInMs: VIRTUAL_TIME_BUDGET_IN_MS });
        expect(dom).not.toMatch(/id="status" class="error"/);
        return [...dom.matchAll(/<rect class="bar" [^>]*data-day="([^"]+)" data-model="([^"]*)"/g)]
          .filter((m) => m[1] === today)
          .map((m) => m[2]!)
          .sort();
      };
      expect(await segments('group=tag:project')).toEqual(['(untagged)', 'apollo', 'hermes']);
      expect(await segments('group=tag:project&filter=tag:project%3Dapollo')).toEqual(['apollo']);
      expect(await segments('group=model&filter=tag:project%3Dhermes')).toEqual([MEDIUM]);
    });

    it('renders to a screenshot', async () => {
      const file = join(outputDir, 'dashboard.png');
      await screenshot(chromium!, `${host.httpUrl}/api/dashboard?code=${encodeURIComponent(FUNCTION_KEY)}`, file, {
        virtualTimeBudgetInMs: VIRTUAL_TIME_BUDGET_IN_MS,
        windowSize: { width: 1280, height: 900 },
      });
      const png = await readFile(file);
      expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
      expect(png.readUInt32BE(16)).toBe(1280);
      expect(png.readUInt32BE(20)).toBe(900);
      // UPDATE_DASHBOARD_SCREENSHOT=1 refreshes the picture in the docs.
      if (process.env['UPDATE_DASHBOARD_SCREENSHOT'] === '1') await copyFile(file, root('docs/dashboard.png'));
    });

    it('serves its own files with a strict content policy and nothing else', async () => {
      const get = (path: string) =>
        fetch(`${host.httpUrl}/api/${path}`, { headers: { 'x-functions-key': FUNCTION_KEY } });
      const page = await get('dashboard');
      expect(page.headers.get('content-type')).toMatch(/^text\/html/);
      expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
      const html = await page.text();
      expect(html).not.toMatch(/https?:\/\//);
      expect(html).toContain('src="dashboard/app.js"');
      const script = await get('dashboard/app.js');
      expect(script.headers.get('content-type')).toMatch(/^text\/javascript/);
      expect(await script.text()).toContain('function layoutCostChart');
      expect((await get('dashboard/styles.css')).status).toBe(200);
      expect((await get('dashboard/secrets.json')).status).toBe(404);
      expect((await fetch(`${host.httpUrl}/api/dashboard/app.js`)).status).toBe(401);
      // A key with characters that mean something in HTML comes back encoded.
      const hostile = await fetch(
        `${host.httpUrl}/api/dashboard?code=${encodeURIComponent(`${FUNCTION_KEY}"><script>`)}`,
      );
      expect(hostile.status).toBe(401);
    });

    it("changes a running job's priority through the API (PATCH beside GET on the job's route), not a finished one's", async () => {
      const patch = (jobId: string, body: string) =>
        fetch(`${host.httpUrl}/api/jobs/${jobId}`, {
          method: 'PATCH',
          headers: { 'x-functions-key': FUNCTION_KEY, 'content-type': 'application/json' },
          body,
        });
      const changed = await patch(jobs.waiting, '{"priority":"low"}');
      expect(changed.status).toBe(200);
      expect(await changed.json()).toMatchObject({ id: jobs.waiting, priority: 'low', share: 0.8 });
      expect(await statusOf(jobs.waiting)).toMatchObject({ priority: 'low' });
      expect((await patch(jobs.waiting, '{"priority":"soon"}')).status).toBe(400);
      expect((await patch(jobs.waiting, 'not json')).status).toBe(400);
      expect((await patch(jobs.mini, '{"priority":"high"}')).status).toBe(409);
      expect((await statusOf(jobs.mini))['priority']).toBe('normal');
    });
  });
});

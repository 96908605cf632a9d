import { el, svg } from './dom.js';
import type { WireBudgetUse } from './wire.js';

/** The arc of a gauge: a half circle from the left (0%) over the top to the right (100%). */
function arcPath(fraction: number): string {
  const clamped = Math.min(1, Math.max(0, fraction));
  const angle = Math.PI * (1 - clamped);
  const x = 60 + 50 * Math.cos(angle);
  const y = 60 - 50 * Math.sin(angle);
  return `M 10 60 A 50 50 0 0 1 ${x.toFixed(2)} ${y.toFixed(2)}`;
}

const grouped = (value: number): string => Math.round(value).toLocaleString('en-US');

/** One gauge per deployment: the binding share of its limits used over the last minute, and both figures. */
export function renderBudgetGauges(container: Element, report: WireBudgetUse): void {
  const gauges = report.deployments.map((d) => {
    const level = d.bindingUsed >= 100 ? 'full' : d.bindingUsed >= 80 ? 'high' : 'ok';
    return el('figure', { class: 'gauge' }, [
      svg(
        'svg',
        { viewBox: '0 0 120 70', role: 'img', 'aria-label': `${d.deployment}: ${d.bindingUsed}% of its budget` },
        [
          svg('path', { class: 'track', d: arcPath(1) }),
          svg('path', { class: `value ${level}`, d: arcPath(d.bindingUsed / 100) }),
          svg('text', { x: 60, y: 58, 'text-anchor': 'middle', class: 'percent' }, [`${d.bindingUsed.toFixed(1)}%`]),
        ],
      ),
      el('figcaption', {}, [
        el('strong', {}, [d.deployment]),
        el('div', { class: 'muted' }, [
          `${grouped(d.requests)} / ${grouped(d.requestsPerMinute)} requests/min (${d.requestsUsed}%)`,
        ]),
        el('div', { class: 'muted' }, [
          `${grouped(d.tokens)} / ${grouped(d.tokensPerMinute)} tokens/min (${d.tokensUsed}%)`,
        ]),
      ]),
    ]);
  });
  container.replaceChildren(...gauges);
}

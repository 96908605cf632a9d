import { describe, expect, it } from 'vitest';
import {
  DEFAULT_PRIORITY,
  describePriority,
  parsePriority,
  priorityOf,
  priorityValue,
} from '../../src/core/priority.js';

describe('parsePriority', () => {
  it('reads the three levels in any case, with their weights', () => {
    expect(parsePriority('high')).toEqual({ ok: true, value: { level: 'high', weight: 32 } });
    expect(parsePriority('Normal')).toEqual({ ok: true, value: { level: 'normal', weight: 4 } });
    expect(parsePriority(' LOW ')).toEqual({ ok: true, value: { level: 'low', weight: 1 } });
  });

  it('reads a whole-number weight from 1 to 100 as a weight without a level', () => {
    expect(parsePriority('1')).toEqual({ ok: true, value: { level: undefined, weight: 1 } });
    expect(parsePriority('100')).toEqual({ ok: true, value: { level: undefined, weight: 100 } });
    expect(parsePriority('012')).toEqual({ ok: true, value: { level: undefined, weight: 12 } });
  });

  it.each(['', 'urgent', '0', '101', '2.5', '-3', '1e2', 'toString', '__proto__', ' ', '5 kg'])(
    'refuses %j, naming the value and what is allowed',
    (value) => {
      const result = parsePriority(value);
      expect(result.ok).toBe(false);
      if (!result.ok) {
        expect(result.error).toContain(JSON.stringify(value));
        expect(result.error).toContain('high, normal, low');
        expect(result.error).toContain('1 to 100');
      }
    },
  );
});

describe('showing a priority', () => {
  it('a job without a priority has the default, normal', () => {
    expect(priorityOf({})).toBe(DEFAULT_PRIORITY);
    expect(DEFAULT_PRIORITY).toEqual({ level: 'normal', weight: 4 });
  });

  it('shows the level, or the weight when there is none', () => {
    expect(describePriority({ level: 'high', weight: 32 })).toBe('high');
    expect(describePriority({ level: undefined, weight: 7 })).toBe('weight 7');
    expect(priorityValue({ level: 'low', weight: 1 })).toBe('low');
    expect(priorityValue({ level: undefined, weight: 7 })).toBe(7);
  });
});

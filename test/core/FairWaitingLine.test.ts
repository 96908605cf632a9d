import { describe, expect, it } from 'vitest';
import { FairWaitingLine } from '../../src/core/FairWaitingLine.js';

const drain = <T>(line: FairWaitingLine<T>): T[] => {
  const order: T[] = [];
  for (let next = line.shift(); next !== undefined; next = line.shift()) order.push(next);
  return order;
};

describe('FairWaitingLine', () => {
  it('serves one key in arrival order, and two keys of one weight alternately', () => {
    const line = new FairWaitingLine<string>();
    for (const item of ['a1', 'a2', 'a3']) line.push(item, { key: 'a', weight: 4 });
    for (const item of ['b1', 'b2']) line.push(item, { key: 'b', weight: 4 });
    expect(drain(line)).toEqual(['a1', 'b1', 'a2', 'b2', 'a3']);
  });

  it('lets a heavier key that arrives late overtake, keeping the lighter one moving by weight', () => {
    const line = new FairWaitingLine<string>();
    for (let i = 0; i < 10; i += 1) line.push(`low${i}`, { key: 'low', weight: 1 });
    expect(line.shift()).toBe('low0');
    for (let i = 0; i < 8; i += 1) line.push(`high${i}`, { key: 'high', weight: 4 });
    const order = drain(line);
    // The low job's waiters keep their place in virtual time: four high waiters to each low one.
    expect(order.slice(0, 11)).toEqual([
      'high0',
      'high1',
      'high2',
      'high3',
      'low1',
      'high4',
      'high5',
      'high6',
      'high7',
      'low2',
      'low3',
    ]);
    expect(order).toHaveLength(17);
  });

  it('gives no credit for time with nobody waiting', () => {
    const line = new FairWaitingLine<string>();
    for (let i = 0; i < 6; i += 1) line.push(`a${i}`, { key: 'a', weight: 1 });
    expect(drain(line)).toEqual(['a0', 'a1', 'a2', 'a3', 'a4', 'a5']);
    // b was idle all along: it starts at the virtual time, one turn ahead of a, not six.
    for (let i = 0; i < 3; i += 1) line.push(`a${6 + i}`, { key: 'a', weight: 1 });
    for (let i = 0; i < 3; i += 1) line.push(`b${i}`, { key: 'b', weight: 1 });
    expect(drain(line)).toEqual(['b0', 'a6', 'b1', 'a7', 'b2', 'a8']);
  });

  it('counts the waiters a heavier key overtakes', () => {
    const line = new FairWaitingLine<string>();
    for (let i = 0; i < 3; i += 1) line.push(`low${i}`, { key: 'low', weight: 1 });
    expect(line.overtaken()).toBe(0);
    line.push('normal', { key: 'normal', weight: 4 });
    line.push('high', { key: 'high', weight: 32 });
    expect(line.overtaken()).toBe(4);
    line.remove((item) => item === 'high');
    expect(line.overtaken()).toBe(3);
  });

  it('takes out the waiters that stop waiting, in arrival order', () => {
    const line = new FairWaitingLine<number>();
    for (let i = 0; i < 6; i += 1) line.push(i, { key: i % 2 === 0 ? 'even' : 'odd', weight: 1 });
    expect(line.remove((n) => n >= 3)).toEqual([3, 4, 5]);
    expect(line.length).toBe(3);
    expect(drain(line)).toEqual([0, 1, 2]);
  });
});

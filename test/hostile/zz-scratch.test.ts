import { it } from 'vitest';
import { CustomIdSet } from '../../src/core/CustomIdSet.js';

const K = 0x5bd1e995;
function mix(x: number): number { return (x ^ (x >>> 15)) >>> 0; }
function unmix(y: number): number { let x = y; x = (y ^ (x >>> 15)) >>> 0; x = (y ^ (x >>> 15)) >>> 0; x = (y ^ (x >>> 15)) >>> 0; return x >>> 0; }
function inv(a: number): number { let x = a; for (let i = 0; i < 5; i++) x = Math.imul(x, 2 - Math.imul(a, x)); return x >>> 0; }
const KINV = inv(K);
function bOf(text: string): number { let b = 0x01000193 ^ text.length; for (let i = 0; i < text.length; i++) { b = Math.imul(b ^ text.charCodeAt(i), K); b ^= b >>> 15; } return b >>> 0; }
function state(prefix: string, totalLength: number): number { let b = 0x01000193 ^ totalLength; for (let i = 0; i < prefix.length; i++) { b = Math.imul(b ^ prefix.charCodeAt(i), K); b ^= b >>> 15; } return b >>> 0; }

it('collides', () => {
  const target = 0x12345 & 0x1fffff;
  const table = new Map<number, number>();
  for (let h = 0; h < 2048; h++) { const v = Math.imul(unmix(((h << 21) | target) >>> 0), KINV) >>> 0; table.set(v >>> 16, v); }
  const ids: string[] = [];
  for (let p = 0; ids.length < 100000; p++) {
    const prefix = `p${p}-`;
    const s = state(prefix, prefix.length + 2);
    for (let c1 = 0x20; c1 < 0xd800 && ids.length < 100000; c1++) {
      const b1 = mix(Math.imul(s ^ c1, K) >>> 0);
      const v = table.get(b1 >>> 16);
      if (v === undefined) continue;
      const c2 = (b1 ^ v) & 0xffff;
      if (c2 < 0x20 || (c2 >= 0xd800 && c2 < 0xe000)) continue;
      const id = prefix + String.fromCharCode(c1, c2);
      if ((bOf(id) & 0x1fffff) !== target) throw new Error('bad');
      ids.push(id);
    }
  }
  for (const n of [10000, 20000, 40000]) {
    const t0 = performance.now(); const set = new CustomIdSet(); for (let i = 0; i < n; i++) set.add(ids[i]!); const t1 = performance.now();
    const r = new CustomIdSet(); for (let i = 0; i < n; i++) r.add(`r${i}`); const t2 = performance.now();
    console.log(n, 'colliding ms', Math.round(t1 - t0), 'normal ms', Math.round(t2 - t1));
  }
}, 300000);

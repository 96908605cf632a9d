/**
 * The custom_ids seen so far in a file, as 64-bit hashes in an open-addressing table: 16 bytes per
 * id whatever the id's length, so a million-line file's duplicate check costs ~32 MB, and the whole
 * set can be saved between ingest chunks as one small blob. Two different ids collide with
 * probability ~n²/2⁶⁵ (3·10⁻⁸ for a million ids): the cost of a collision is one line reported as a
 * duplicate, which its error message makes visible.
 */
export class CustomIdSet {
  #hi: Uint32Array;
  #lo: Uint32Array;
  #size = 0;
  /**
   * Keys where an id's hash lands in the table. The hash is public and easy to invert, so without a
   * key a file could pile its ids into one probe run and make every add walk all of them.
   */
  readonly #slotKey = (Math.random() * 0x1_0000_0000) >>> 0;

  constructor(capacity = 1024) {
    let slots = 16;
    while (slots < capacity * 2) slots *= 2;
    this.#hi = new Uint32Array(slots);
    this.#lo = new Uint32Array(slots);
  }

  get size(): number {
    return this.#size;
  }

  /** Adds the id; returns false if it (or an id with the same hash) was already there. */
  add(id: string): boolean {
    const [hi, lo] = hash64(id);
    return this.#insert(hi, lo);
  }

  has(id: string): boolean {
    const [hi, lo] = hash64(id);
    const mask = this.#hi.length - 1;
    for (let slot = this.#slotOf(hi, lo) & mask; ; slot = (slot + 1) & mask) {
      if (this.#hi[slot] === 0 && this.#lo[slot] === 0) return false;
      if (this.#hi[slot] === hi && this.#lo[slot] === lo) return true;
    }
  }

  /** 8 bytes per id, little-endian (hi, lo) pairs. */
  toBuffer(): Buffer {
    const out = Buffer.alloc(this.#size * 8);
    let at = 0;
    for (let slot = 0; slot < this.#hi.length; slot += 1) {
      if (this.#hi[slot] === 0 && this.#lo[slot] === 0) continue;
      out.writeUInt32LE(this.#hi[slot]!, at);
      out.writeUInt32LE(this.#lo[slot]!, at + 4);
      at += 8;
    }
    return out;
  }

  static fromBuffer(buffer: Buffer): CustomIdSet {
    const set = new CustomIdSet(buffer.length / 8);
    for (let at = 0; at + 8 <= buffer.length; at += 8)
      set.#insert(buffer.readUInt32LE(at), buffer.readUInt32LE(at + 4));
    return set;
  }

  #insert(hi: number, lo: number): boolean {
    if ((this.#size + 1) * 2 > this.#hi.length) this.#grow();
    const mask = this.#hi.length - 1;
    for (let slot = this.#slotOf(hi, lo) & mask; ; slot = (slot + 1) & mask) {
      if (this.#hi[slot] === 0 && this.#lo[slot] === 0) {
        this.#hi[slot] = hi;
        this.#lo[slot] = lo;
        this.#size += 1;
        return true;
      }
      if (this.#hi[slot] === hi && this.#lo[slot] === lo) return false;
    }
  }

  /** Both halves of the hash, mixed with the key (murmur3's finaliser steps). */
  #slotOf(hi: number, lo: number): number {
    let x = Math.imul(lo ^ this.#slotKey ^ ((lo ^ this.#slotKey) >>> 16), 0x85ebca6b);
    x = Math.imul(x ^ hi ^ (x >>> 13), 0xc2b2ae35);
    return x ^ (x >>> 16);
  }

  #grow(): void {
    const oldHi = this.#hi;
    const oldLo = this.#lo;
    this.#hi = new Uint32Array(oldHi.length * 2);
    this.#lo = new Uint32Array(oldLo.length * 2);
    this.#size = 0;
    for (let slot = 0; slot < oldHi.length; slot += 1) {
      if (oldHi[slot] !== 0 || oldLo[slot] !== 0) this.#insert(oldHi[slot]!, oldLo[slot]!);
    }
  }
}

/** Two independent 32-bit FNV-1a variants over UTF-16 code units; (0, 0) is reserved for empty slots. */
function hash64(text: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ text.length;
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    a = Math.imul(a ^ code, 0x01000193);
    b = Math.imul(b ^ code, 0x5bd1e995);
    b ^= b >>> 15;
  }
  a >>>= 0;
  b >>>= 0;
  return a === 0 && b === 0 ? [0, 1] : [a, b];
}

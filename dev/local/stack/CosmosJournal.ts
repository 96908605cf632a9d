import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { standInRequire } from './linearQueries.js';

/**
 * Durable state for the Cosmos stand-in (`@vercel/cosmosdb-server` keeps everything in memory): every
 * database, container and document state the stand-in stores (or deletes) is appended to a journal file
 * synchronously, before the request that made it is answered, so an acknowledged write survives a
 * `kill -9` of the process (the bytes are in the OS's page cache once `write` returns; a power loss is not
 * covered). At start the journal is replayed into the stand-in and rewritten as a snapshot (one record per
 * live resource); a journal that grows past a threshold is compacted the same way while running.
 * A record torn by a kill (the file's last line, without its newline) is ignored on replay.
 * Not kept: user-defined functions (the app uses none).
 */

type StandInDocument = Record<string, unknown> & { id: string; _rid: string };

/** The stand-in's in-memory collection of resources (`lib/account/items.js`); only what is used here. */
interface StandInItems {
  _data: Map<string, { read(): StandInDocument | undefined }>;
  _ridCount: number;
  _item(keyPath: string, value: unknown, partition: unknown): { read(): StandInDocument | undefined };
  _getPartition(data: StandInDocument): unknown;
  _set(data: StandInDocument): StandInDocument;
  delete(idOrRid: string, partition: unknown): void;
  replace(data: StandInDocument, original: StandInDocument): StandInDocument;
}

interface StandInCollection {
  read(): StandInDocument | undefined;
  documents: StandInItems;
}

interface StandInDatabase {
  read(): StandInDocument | undefined;
  collections: StandInItems;
}

/** The stand-in's account: the root of its store, one per server. */
export interface StandInAccount {
  databases: StandInItems;
}

/** One line of the journal: a resource's resulting state (`n`: its parent list's resource-id counter), or its deletion. */
type JournalRecord =
  | { readonly k: 'db'; readonly v: StandInDocument; readonly n: number }
  | { readonly k: 'db-'; readonly id: string }
  | { readonly k: 'coll'; readonly db: string; readonly v: StandInDocument; readonly n: number }
  | { readonly k: 'coll-'; readonly db: string; readonly id: string }
  | { readonly k: 'doc'; readonly db: string; readonly coll: string; readonly v: StandInDocument; readonly n: number }
  | { readonly k: 'doc-'; readonly db: string; readonly coll: string; readonly id: string; readonly pk: unknown };

type Scope =
  | { readonly journal: CosmosJournal; readonly kind: 'databases' }
  | { readonly journal: CosmosJournal; readonly kind: 'collections'; readonly db: string }
  | { readonly journal: CosmosJournal; readonly kind: 'documents'; readonly db: string; readonly coll: string };

export class CosmosJournalError extends Error {
  override readonly name = 'CosmosJournalError';
  readonly code = 'CosmosJournalCorrupt';
}

/** Which journal (and which database/container) each of the stand-in's resource lists writes to. */
const scopes = new WeakMap<StandInItems, Scope>();
/** Lists inside a `replace`: its inner delete is not journaled (the put that follows carries the state). */
const replacing = new WeakSet<StandInItems>();
let hooksInstalled = false;
let lastCreatedAccount: StandInAccount | undefined;

/**
 * Wraps the stand-in's store methods once per process. Lists not attached to a journal (every stand-in
 * started without a data directory) behave exactly as before: one WeakMap lookup per write.
 */
function installHooks(): void {
  if (hooksInstalled) return;
  const require = standInRequire();
  const itemsModule = require('@vercel/cosmosdb-server/lib/account/items') as { default: { prototype: StandInItems } };
  const accountModule = require('@vercel/cosmosdb-server/lib/account') as {
    default: new (...args: unknown[]) => StandInAccount;
  };
  const prototype = itemsModule.default.prototype;
  const set = prototype._set;
  const remove = prototype.delete;
  const replace = prototype.replace;
  prototype._set = function journaledSet(this: StandInItems, data: StandInDocument): StandInDocument {
    const stored = set.call(this, data);
    const scope = scopes.get(this);
    if (scope !== undefined) scope.journal.stored(this, scope, stored);
    return stored;
  };
  prototype.delete = function journaledDelete(this: StandInItems, idOrRid: string, partition: unknown): void {
    const scope = replacing.has(this) ? undefined : scopes.get(this);
    const before = scope === undefined ? undefined : this._item('/id', idOrRid, partition).read();
    remove.call(this, idOrRid, partition);
    if (scope !== undefined && before !== undefined) scope.journal.deleted(this, scope, before);
  };
  prototype.replace = function journaledReplace(this: StandInItems, data: StandInDocument, original: StandInDocument) {
    replacing.add(this);
    try {
      return replace.call(this, data, original);
    } finally {
      replacing.delete(this);
    }
  };
  // The stand-in creates its account when its server starts listening; the subclass lets that listening
  // callback (which runs right after, in the same tick) pick it up.
  const Account = accountModule.default;
  accountModule.default = class JournaledAccount extends Account {
    constructor(...args: unknown[]) {
      super(...args);
      lastCreatedAccount = this;
    }
  };
  hooksInstalled = true;
}

/** Call before the stand-in's server starts listening; take the account in its `listening` callback. */
export function prepareStandInAccountCapture(): void {
  installHooks();
  lastCreatedAccount = undefined;
}

/** The account the stand-in created for the server that just started listening. */
export function takeCreatedStandInAccount(): StandInAccount {
  const account = lastCreatedAccount;
  lastCreatedAccount = undefined;
  if (account === undefined) throw new Error('The Cosmos stand-in created no account when it started listening.');
  return account;
}

export interface CosmosJournalOptions {
  /** The journal file, e.g. `.local/cosmos/journal.jsonl`. Its directory must exist. */
  readonly path: string;
  /** Compact while running once the journal has grown by this much over its last snapshot. Default 64 MB. */
  readonly compactAfterBytes?: number;
}

export interface CosmosJournalStats {
  readonly recordsReplayed: number;
  readonly tornRecordIgnored: boolean;
  readonly snapshotBytes: number;
  readonly compactions: number;
}

export class CosmosJournal {
  readonly #path: string;
  readonly #compactAfterBytes: number;
  #account: StandInAccount | undefined;
  #fd: number | undefined;
  #appendedBytes = 0;
  #snapshotBytes = 0;
  #compactions = 0;
  #recordsReplayed = 0;
  #tornRecordIgnored = false;

  constructor(options: CosmosJournalOptions) {
    this.#path = options.path;
    this.#compactAfterBytes = options.compactAfterBytes ?? 64 * 1024 * 1024;
  }

  get stats(): CosmosJournalStats {
    return {
      recordsReplayed: this.#recordsReplayed,
      tornRecordIgnored: this.#tornRecordIgnored,
      snapshotBytes: this.#snapshotBytes,
      compactions: this.#compactions,
    };
  }

  /**
   * Replays the journal into `account` (a fresh stand-in account), rewrites it as a snapshot, and from then on
   * appends every change. Synchronous, so no request is served in between.
   */
  attach(account: StandInAccount): void {
    installHooks();
    if (this.#account !== undefined) throw new Error('This journal is already attached.');
    for (const record of this.#read()) {
      replay(account, record);
      this.#recordsReplayed += 1;
    }
    this.#account = account;
    register(account, this);
    this.#compact();
  }

  /** Stops journaling (the stand-in keeps running in memory) and closes the file. */
  close(): void {
    if (this.#account !== undefined) unregister(this.#account);
    this.#account = undefined;
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }

  /** @internal called by the hooks */
  stored(items: StandInItems, scope: Scope, data: StandInDocument): void {
    switch (scope.kind) {
      case 'databases': {
        this.#append({ k: 'db', v: data, n: items._ridCount });
        const database = items._data.get(data._rid) as unknown as StandInDatabase;
        scopes.set(database.collections, { journal: this, kind: 'collections', db: data.id });
        break;
      }
      case 'collections': {
        this.#append({ k: 'coll', db: scope.db, v: data, n: items._ridCount });
        const collection = items._data.get(data._rid) as unknown as StandInCollection;
        scopes.set(collection.documents, { journal: this, kind: 'documents', db: scope.db, coll: data.id });
        break;
      }
      case 'documents':
        this.#append({ k: 'doc', db: scope.db, coll: scope.coll, v: data, n: items._ridCount });
        break;
    }
  }

  /** @internal called by the hooks */
  deleted(items: StandInItems, scope: Scope, data: StandInDocument): void {
    switch (scope.kind) {
      case 'databases':
        this.#append({ k: 'db-', id: data.id });
        break;
      case 'collections':
        this.#append({ k: 'coll-', db: scope.db, id: data.id });
        break;
      case 'documents':
        this.#append({ k: 'doc-', db: scope.db, coll: scope.coll, id: data.id, pk: items._getPartition(data) });
        break;
    }
  }

  #append(record: JournalRecord): void {
    if (this.#fd === undefined) return;
    const line = Buffer.from(`${JSON.stringify(record)}\n`, 'utf8');
    writeAll(this.#fd, line);
    this.#appendedBytes += line.length;
    if (this.#appendedBytes > Math.max(this.#compactAfterBytes, this.#snapshotBytes)) this.#compact();
  }

  #read(): JournalRecord[] {
    if (!existsSync(this.#path)) return [];
    const text = readFileSync(this.#path, 'utf8');
    const lines = text.split('\n');
    // The text after the last newline is a record the process was killed while writing (or nothing).
    const tail = lines.pop() ?? '';
    this.#tornRecordIgnored = tail.length > 0;
    const records: JournalRecord[] = [];
    lines.forEach((line, index) => {
      if (line.length === 0) return;
      try {
        records.push(JSON.parse(line) as JournalRecord);
      } catch (error) {
        const message = `${this.#path} line ${index + 1} is not a journal record; move the file away or start with --fresh.`;
        throw new CosmosJournalError(message, { cause: error });
      }
    });
    return records;
  }

  /** Rewrites the journal as one record per live resource (to a temporary file, then renamed over it). */
  #compact(): void {
    const account = this.#account;
    if (account === undefined) return;
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
    const temporary = `${this.#path}.tmp`;
    const fd = openSync(temporary, 'w');
    let bytes = 0;
    try {
      for (const record of snapshot(account)) {
        const line = Buffer.from(`${JSON.stringify(record)}\n`, 'utf8');
        writeAll(fd, line);
        bytes += line.length;
      }
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, this.#path);
    syncDirectory(dirname(this.#path));
    this.#snapshotBytes = bytes;
    this.#appendedBytes = 0;
    this.#compactions += 1;
    this.#fd = openSync(this.#path, 'a');
  }
}

function writeAll(fd: number, buffer: Buffer): void {
  let offset = 0;
  while (offset < buffer.length) offset += writeSync(fd, buffer, offset, buffer.length - offset);
}

function syncDirectory(directory: string): void {
  const fd = openSync(directory, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function databaseOf(account: StandInAccount, id: string): StandInDatabase {
  return account.databases._item('/id', id, id) as unknown as StandInDatabase;
}

function collectionOf(account: StandInAccount, db: string, id: string): StandInCollection {
  return databaseOf(account, db).collections._item('/id', id, id) as unknown as StandInCollection;
}

/** Puts a resource's state into a list as it was, replacing what is there under its id. */
function put(items: StandInItems, data: StandInDocument, ridCount: number): void {
  const partition = items._getPartition(data);
  if (items._item('/id', data.id, partition).read() !== undefined) items.delete(data.id, partition);
  items._set(data);
  items._ridCount = Math.max(items._ridCount, ridCount);
}

function drop(items: StandInItems, id: string, partition: unknown): void {
  if (items._item('/id', id, partition).read() !== undefined) items.delete(id, partition);
}

function replay(account: StandInAccount, record: JournalRecord): void {
  switch (record.k) {
    case 'db':
      return put(account.databases, record.v, record.n);
    case 'db-':
      return drop(account.databases, record.id, record.id);
    case 'coll':
      return put(databaseOf(account, record.db).collections, record.v, record.n);
    case 'coll-':
      return drop(databaseOf(account, record.db).collections, record.id, record.id);
    case 'doc':
      return put(collectionOf(account, record.db, record.coll).documents, record.v, record.n);
    case 'doc-':
      return drop(collectionOf(account, record.db, record.coll).documents, record.id, record.pk);
  }
}

function* snapshot(account: StandInAccount): Generator<JournalRecord> {
  const databases = account.databases;
  for (const databaseItem of databases._data.values()) {
    const database = databaseItem as unknown as StandInDatabase;
    const db = database.read();
    if (db === undefined) continue;
    yield { k: 'db', v: db, n: databases._ridCount };
    const collections = database.collections;
    for (const collectionItem of collections._data.values()) {
      const collection = collectionItem as unknown as StandInCollection;
      const coll = collection.read();
      if (coll === undefined) continue;
      yield { k: 'coll', db: db.id, v: coll, n: collections._ridCount };
      const documents = collection.documents;
      for (const documentItem of documents._data.values()) {
        const doc = documentItem.read();
        if (doc !== undefined) yield { k: 'doc', db: db.id, coll: coll.id, v: doc, n: documents._ridCount };
      }
    }
  }
}

function register(account: StandInAccount, journal: CosmosJournal): void {
  scopes.set(account.databases, { journal, kind: 'databases' });
  for (const databaseItem of account.databases._data.values()) {
    const database = databaseItem as unknown as StandInDatabase;
    const db = database.read();
    if (db === undefined) continue;
    scopes.set(database.collections, { journal, kind: 'collections', db: db.id });
    for (const collectionItem of database.collections._data.values()) {
      const collection = collectionItem as unknown as StandInCollection;
      const coll = collection.read();
      if (coll !== undefined)
        scopes.set(collection.documents, { journal, kind: 'documents', db: db.id, coll: coll.id });
    }
  }
}

function unregister(account: StandInAccount): void {
  scopes.delete(account.databases);
  for (const databaseItem of account.databases._data.values()) {
    const database = databaseItem as unknown as StandInDatabase;
    scopes.delete(database.collections);
    for (const collectionItem of database.collections._data.values()) {
      scopes.delete((collectionItem as unknown as StandInCollection).documents);
    }
  }
}

import { once } from 'node:events';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * The worker's code, in one string so that it runs the same from the build and from the sources under test. Its own
 * connection checkpoints the WAL into the database file (PASSIVE: never waiting on, nor blocking, a reader or a
 * writer) every `intervalMs`, and once more when told to stop.
 */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path);
const checkpoint = () => { try { db.pragma('wal_checkpoint(PASSIVE)'); } catch {} };
const timer = setInterval(checkpoint, workerData.intervalMs);
parentPort.on('message', () => { clearInterval(timer); checkpoint(); db.close(); parentPort.close(); });
`;

/**
 * Checkpoints of a SQLite database in WAL mode, off the server's thread. SQLite checkpoints on the committing
 * connection once the WAL passes 1,000 pages; here that took 11-20 ms per commit (page copies and two fsyncs), a stall
 * of every request in flight (issue 26). This worker thread, with a connection of its own, checkpoints every second
 * instead; the server's connection checkpoints only past 10,000 pages (40 MB), should the worker ever fall behind.
 */
export class SqliteCheckpointer {
  readonly #worker: Worker;
  #closed: Promise<void> | null = null;

  constructor(path: string, intervalMs = 1000) {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.#worker = new Worker(WORKER, { eval: true, workerData: { path, driver, intervalMs } });
    // It must never keep the process alive, nor take it down: a checkpoint that fails is tried again next time.
    this.#worker.unref();
    this.#worker.on('error', () => {});
  }

  /** A last checkpoint, then the worker's connection closes. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      const exited = once(this.#worker, 'exit');
      // Held now, or a process with nothing else left to do would end before the worker does.
      this.#worker.ref();
      this.#worker.postMessage('close');
      await exited;
    })();
    return this.#closed;
  }
}

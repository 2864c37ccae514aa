// Types of rtt_driver.js: write an rtt driver (protocol 1) in TypeScript.

export declare const PROTOCOL: 1;
export declare const MAX_LINE: number;
export declare const PLACEMENTS_WRITE: 'placements.write';
export declare const JOURNAL_DIR: '.rtt-driver';

/** One placement row on a host. */
export interface Placement {
  agent: string;
  numa: number;
  replicas: number;
}

/** Full desired placements per host name. */
export type HostPlacements = Record<string, Placement[]>;

/**
 * What a driver does on its own system. Every method may be called again
 * for the same transaction after a crash, so each must be idempotent.
 */
export interface Backend {
  /** Capabilities the driver needs (reported by Probe); default placements.write. */
  capabilities?: string[];
  /** Stage durably, apply nothing: null votes yes, a string is the reason for no. */
  stage(txn: string, plan: string, hosts: HostPlacements): string | null;
  /** Apply what txn staged on hosts. */
  commit(txn: string, hosts: string[]): void;
  /** Drop what txn staged on hosts (some may have nothing staged). */
  abort(txn: string, hosts: string[]): void;
  /** The placements in force on host (any order). */
  read(host: string): Placement[];
  /** Whether the driver can work; default true. */
  healthy?(): boolean;
  /** Telemetry for Health (docs/telemetry.md): route latency seen since the last Health, and the queue depth now. */
  telemetry?(): { routes?: RouteLatency[]; queue_depth?: number };
}

/** One route's samples, as histogram buckets (not cumulative). */
export interface RouteLatency {
  from: string;
  to: string;
  buckets: { le_us: number; count: number }[];
}

/** A protocol error: a snake_case code and a message for people. */
export declare class Refusal extends Error {
  constructor(code: string, message: string);
  readonly code: string;
  readonly detail: string;
}

/** The input broke the framing; the session ends. */
export declare class FramingError extends Error {}

/** Placements as files, in the layout of rtt's built-in dir driver. */
export declare class DirBackend implements Backend {
  constructor(root: string);
  readonly root: string;
  capabilities: string[];
  stage(txn: string, plan: string, hosts: HostPlacements): string | null;
  commit(txn: string, hosts: string[]): void;
  abort(txn: string, hosts: string[]): void;
  read(host: string): Placement[];
  healthy(): boolean;
}

/** The protocol-1 engine over a backend. */
export declare class Driver<B extends Backend = Backend> {
  constructor(name: string, root: string, backend: B);
  readonly name: string;
  readonly backend: B;
  readonly epoch: number;
  handle(method: string, params: Record<string, unknown>): unknown;
}

/** A line reader over chunks of input. */
export declare class Session {
  constructor(driver: Driver);
  readonly done: boolean;
  feed(chunk: Buffer, write: (line: string) => void): void;
  end(): void;
}

export interface ResponseLine {
  id: string;
  result: unknown;
  error: { code: string; message: string } | null;
}

export declare function respond(driver: Driver, line: string): [ResponseLine, boolean];
export declare function serveBuffer(driver: Driver, input: Buffer): { output: string; error: FramingError | null };
export declare function rootFromEnv(name: string, argv?: string[]): string;
export declare function socketFromEnv(argv?: string[]): string | null;
export declare function listen(driver: Driver, file: string): void;
export declare function run(driver: Driver): void;
export declare function writeAtomic(file: string, data: string | Buffer): void;
export declare function writeSynced(file: string, data: string | Buffer): void;
export declare function syncDir(dir: string): void;
export declare function readJson(file: string): unknown;

/**
 * Triggers: `POST /triggers/:name` hands the request to the parsers registered under that name,
 * in order; the first that recognises it says which workflow to start, with what input and id.
 * Triggers take no bearer token: a parser checks what the sender proves (a webhook signature).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { HttpError } from '../http-errors.js';

/** What a parser sees of the request. */
export interface TriggerRequest {
  readonly method: string;
  /** Header names in lower case, as Node gives them. */
  readonly headers: IncomingHttpHeaders;
  /** The body exactly as received (what signatures are computed over); empty when there was none. */
  readonly rawBody: Buffer;
  /** The body parsed as JSON when it was sent as JSON (`undefined` otherwise, or when it does not parse). */
  readonly body: unknown;
  readonly query: Readonly<Record<string, unknown>>;
}

/** A recognised request: the definition to start (DeFlow.start), its input, and an id that makes the start idempotent. */
export interface TriggerStart {
  workflow: string;
  input?: unknown;
  id?: string;
  key?: string;
}

/** A parser passing on a request, saying why (the reason goes into the 422 if no parser takes it). */
export interface TriggerSkip {
  skipped: string;
}

export type TriggerResult = TriggerStart | TriggerSkip | null;

/** Returns what to start, or null / skip(reason) when the request is not for it; throws to refuse it. */
export type TriggerParser = (request: TriggerRequest) => TriggerResult | Promise<TriggerResult>;

/** A parser's way of saying "not mine, because ...". */
export function skip(reason: string): TriggerSkip {
  return { skipped: reason };
}

/**
 * A request whose signature is missing or does not match: answered 401 and nothing is started,
 * even if a later parser would take the request.
 */
export class WebhookSignatureError extends HttpError {
  constructor(message: string) {
    super(401, message);
    this.name = 'WebhookSignatureError';
  }
}

/** Array.isArray without narrowing (a readonly array would narrow to any[]). */
export function isList(value: unknown): boolean {
  return Array.isArray(value);
}

/** The parsers by trigger name; registering a name again replaces its chain. */
export class TriggerRegistry {
  private readonly chains = new Map<string, readonly TriggerParser[]>();

  constructor(initial: Readonly<Record<string, readonly TriggerParser[]>> = {}) {
    for (const [name, parsers] of Object.entries(initial)) this.set(name, parsers);
  }

  set(name: string, parsers: readonly TriggerParser[]): void {
    if (typeof name !== 'string' || !/^[A-Za-z0-9._~-]{1,200}$/.test(name)) {
      throw new TypeError(`trigger name must be 1 to 200 letters, digits or . _ ~ - (it is a URL segment), got ${JSON.stringify(name)}`);
    }
    if (!isList(parsers) || parsers.length === 0 || parsers.some((parser) => typeof parser !== 'function')) {
      throw new TypeError(`trigger ${JSON.stringify(name)}: give a non-empty array of parser functions`);
    }
    this.chains.set(name, [...parsers]);
  }

  get(name: string): readonly TriggerParser[] | undefined {
    return this.chains.get(name);
  }

  names(): string[] {
    return [...this.chains.keys()].sort();
  }
}

// Fault injection for the HTTPS test doubles (Key Vault now; ARM and Graph later).
//
// A double describes each request it is about to serve with a `RequestDescriptor`
// and asks `faults.apply(req, res, descriptor)` before doing the work. The injector
// may add latency, answer with an error status (optionally with Retry-After), drop the
// connection without answering, or throttle the caller the way Key Vault does once a
// vault exceeds its published transaction limits. `apply` resolves to true when it has
// already answered (or dropped) the request, false when the double should carry on.
//
// Faults are generic over services: the error body is the `{"error":{"code","message"}}`
// shape that Key Vault, ARM and Graph all share, and a double adds its own headers
// (request ids and the like) through `apply`'s options.
import type { IncomingMessage, ServerResponse } from "node:http";

/** What a double knows about a request when it asks for a fault decision. */
export interface RequestDescriptor {
  /** "keyvault", "arm", "graph", ... */
  service: string;
  /** Vault name (Key Vault only); throttling windows are kept per service + vault. */
  vault?: string;
  method: string;
  /** URL path without the query string. */
  path: string;
  /** The service's operation name, e.g. "GetSecret", "SetSecret". */
  operation?: string;
  /**
   * The throttling class the service counts the request in (Key Vault: "secretCreate",
   * "keyCreateSoftware", "keyCreateHsm"); undefined: "other".
   */
  transaction?: string;
}

export interface FaultMatch {
  service?: string;
  vault?: string;
  /** Case-insensitive. */
  method?: string;
  /** RegExp: tested against the path. String: the path itself, or a prefix of it that ends at a "/" boundary. */
  path?: RegExp | string;
  operation?: string;
}

export interface FaultRule {
  match?: FaultMatch;
  /** Delay before the request is answered (or handed on to the double). Rules' latencies add up. */
  latencyMs?: number;
  /** Answer with this status instead of serving the request (e.g. 429, 500, 503). */
  status?: number;
  /** With `status`: send `Retry-After: <seconds>`. */
  retryAfterSeconds?: number;
  /** With `status`: the error code in the body; defaults per status ("Throttled" for 429, ...). */
  errorCode?: string;
  /** With `status`: the error message in the body. */
  errorMessage?: string;
  /** Destroy the connection without answering. */
  drop?: true;
  /** Chance (0..1) that the rule applies to a matching request; default 1. */
  probability?: number;
  /** How many requests the rule applies to; default unlimited. */
  times?: number;
}

export interface ThrottleOptions {
  /**
   * Requests allowed per sliding window per service + vault, by throttling class
   * (`RequestDescriptor.transaction`; "other" for requests of no class). A class without
   * a limit here is not throttled. The figures are the caller's to give (Key Vault's are
   * in core/keyvault-limits.ts): the double holds no copy of them.
   */
  perVault: Readonly<Record<string, number>>;
  /** Requests allowed per window for all vaults of the service together (the subscription), by class. */
  subscription?: Readonly<Record<string, number>>;
  /** Length of the sliding window; default 10 s. */
  windowMs?: number;
  match?: FaultMatch;
}

export type FaultDecision =
  | { kind: "pass"; latencyMs: number }
  | { kind: "drop"; latencyMs: number }
  | {
      kind: "respond";
      latencyMs: number;
      status: number;
      retryAfterSeconds?: number;
      errorCode: string;
      errorMessage: string;
    };

export interface FaultInjectorOptions {
  /** Random source for `probability`; default Math.random. */
  random?: () => number;
  /** Real-time clock in ms for the throttle windows; default Date.now. */
  now?: () => number;
}

export interface ApplyOptions {
  /** Extra headers on an injected error answer (request id, service version, ...). */
  headers?: Record<string, string>;
  /**
   * When the request arrived (performance.now()): the added latency counts from then, so
   * the double's own reading and routing of the request is not added on top of it.
   */
  arrivedAt?: number;
}

const DEFAULT_WINDOW_MS = 10_000;

const DEFAULT_ERROR_CODES: Record<number, string> = {
  400: "BadRequest",
  408: "RequestTimeout",
  429: "Throttled",
  500: "InternalServerError",
  502: "BadGateway",
  503: "ServiceUnavailable",
  504: "GatewayTimeout",
};

interface RuleState {
  rule: FaultRule;
  remaining: number;
}

interface ThrottleState {
  options: ThrottleOptions;
  /** Accepted request times per window key (service/vault/class; service, a star and class for the subscription). */
  windows: Map<string, number[]>;
}

export class FaultInjector {
  private rules: RuleState[] = [];
  private throttles: ThrottleState[] = [];
  private readonly random: () => number;
  private readonly now: () => number;

  constructor(options: FaultInjectorOptions = {}) {
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
  }

  /** Adds a rule; returns a function that removes it. Rules are consulted in the order added. */
  add(rule: FaultRule): () => void {
    if (rule.probability !== undefined && (rule.probability < 0 || rule.probability > 1)) {
      throw new RangeError(`probability must be within 0..1, got ${rule.probability}`);
    }
    const state: RuleState = { rule, remaining: rule.times ?? Number.POSITIVE_INFINITY };
    this.rules.push(state);
    return () => {
      this.rules = this.rules.filter((r) => r !== state);
    };
  }

  /**
   * Answers 429 (code "Throttled", Retry-After = seconds until the window frees) once a
   * service + vault exceeds its limit for the request's class in a sliding window, or all
   * vaults together exceed the subscription's. Like Key Vault, throttled requests do not
   * count towards any limit. Returns a function that removes the throttle.
   */
  throttle(options: ThrottleOptions): () => void {
    const state: ThrottleState = { options, windows: new Map() };
    this.throttles.push(state);
    return () => {
      this.throttles = this.throttles.filter((t) => t !== state);
    };
  }

  /** Removes every rule and throttle. */
  clear(): void {
    this.rules = [];
    this.throttles = [];
  }

  /**
   * Decides what happens to a request, and consumes one use of each rule that applied.
   * Latencies of all applying rules add up; the first applying rule with `status` or `drop`
   * decides the answer; throttles are consulted only when no rule answered.
   */
  decide(request: RequestDescriptor): FaultDecision {
    let latencyMs = 0;
    let terminal: FaultRule | undefined;
    for (const state of this.rules) {
      const { rule } = state;
      if (state.remaining <= 0 || !matches(rule.match, request)) continue;
      const terminalRule = rule.status !== undefined || rule.drop === true;
      // A second answering rule cannot apply once one has: leave its uses untouched.
      if (terminalRule && terminal) continue;
      if (rule.probability !== undefined && this.random() >= rule.probability) continue;
      state.remaining -= 1;
      latencyMs += rule.latencyMs ?? 0;
      if (terminalRule) terminal = rule;
    }
    this.rules = this.rules.filter((r) => r.remaining > 0);

    if (terminal?.drop) return { kind: "drop", latencyMs };
    if (terminal?.status !== undefined) {
      const status = terminal.status;
      return {
        kind: "respond",
        latencyMs,
        status,
        ...(terminal.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: terminal.retryAfterSeconds }),
        errorCode: terminal.errorCode ?? DEFAULT_ERROR_CODES[status] ?? "Error",
        errorMessage: terminal.errorMessage ?? `Injected fault: HTTP ${status}.`,
      };
    }

    const throttled = this.checkThrottles(request);
    if (throttled !== undefined) {
      return {
        kind: "respond",
        latencyMs,
        status: 429,
        retryAfterSeconds: throttled,
        errorCode: "Throttled",
        errorMessage: "Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached",
      };
    }
    return { kind: "pass", latencyMs };
  }

  /**
   * Applies the decision for `request` to a node http exchange. Resolves true when the
   * request was answered or dropped here (the double must not touch `res` again).
   */
  async apply(req: IncomingMessage, res: ServerResponse, request: RequestDescriptor, options: ApplyOptions = {}): Promise<boolean> {
    const decision = this.decide(request);
    if (decision.latencyMs > 0) await sleep(decision.latencyMs - (options.arrivedAt === undefined ? 0 : performance.now() - options.arrivedAt));
    switch (decision.kind) {
      case "pass":
        return false;
      case "drop":
        req.socket.destroy();
        return true;
      case "respond": {
        const body = JSON.stringify({ error: { code: decision.errorCode, message: decision.errorMessage } });
        const headers: Record<string, string | number> = {
          ...options.headers,
          "content-type": "application/json; charset=utf-8",
          "content-length": Buffer.byteLength(body),
        };
        if (decision.retryAfterSeconds !== undefined) headers["retry-after"] = String(decision.retryAfterSeconds);
        if (!res.destroyed) res.writeHead(decision.status, headers).end(body);
        return true;
      }
    }
  }

  /** Returns Retry-After seconds when a throttle rejects the request, else records it as accepted. */
  private checkThrottles(request: RequestDescriptor): number | undefined {
    const now = this.now();
    const accepted: number[][] = [];
    const transaction = request.transaction ?? "other";
    for (const throttle of this.throttles) {
      if (!matches(throttle.options.match, request)) continue;
      const windowMs = throttle.options.windowMs ?? DEFAULT_WINDOW_MS;
      const scopes: Array<[string, number | undefined]> = [
        [`${request.service}/${request.vault ?? ""}/${transaction}`, throttle.options.perVault[transaction]],
        [`${request.service}/*/${transaction}`, throttle.options.subscription?.[transaction]],
      ];
      for (const [key, limit] of scopes) {
        if (limit === undefined) continue;
        let window = throttle.windows.get(key);
        if (!window) throttle.windows.set(key, (window = []));
        while (window.length > 0 && window[0]! <= now - windowMs) window.shift();
        if (window.length >= limit) {
          const oldest = window[0] ?? now;
          return Math.max(1, Math.ceil((oldest + windowMs - now) / 1000));
        }
        accepted.push(window);
      }
    }
    // Only a request that every throttle let through counts against the windows.
    for (const window of accepted) window.push(now);
    return undefined;
  }
}

function matches(match: FaultMatch | undefined, request: RequestDescriptor): boolean {
  if (!match) return true;
  if (match.service !== undefined && match.service !== request.service) return false;
  if (match.vault !== undefined && match.vault !== request.vault) return false;
  if (match.method !== undefined && match.method.toUpperCase() !== request.method.toUpperCase()) return false;
  if (match.operation !== undefined && match.operation !== request.operation) return false;
  if (match.path !== undefined) {
    if (match.path instanceof RegExp) {
      match.path.lastIndex = 0;
      if (!match.path.test(request.path)) return false;
    } else {
      const prefix = match.path.endsWith("/") ? match.path : `${match.path}/`;
      if (request.path !== match.path && !request.path.startsWith(prefix)) return false;
    }
  }
  return true;
}

function sleep(ms: number): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    // Unref'd: a pending injected delay must never keep a test process alive.
    setTimeout(resolve, ms).unref();
  });
}

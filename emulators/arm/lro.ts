// ARM's asynchronous-operation protocol, as the Azure SDKs' pollers (core-lro) follow it.
//
// A PATCH or POST that takes time is answered 202 with two URLs:
//   Azure-AsyncOperation  .../providers/{ns}/locations/{loc}/{asyncSegment}/{id}   -> {"status":"InProgress"|"Succeeded"|"Failed"}
//   Location              .../providers/{ns}/locations/{loc}/{resultSegment}/{id}  -> 202 while running, then the final result
// and `Retry-After`. Providers differ in the details, each as its recorded sessions show
// (see `OperationStyle`). core-lro polls the Azure-AsyncOperation URL until the status is
// terminal, then fetches the final result from the Location URL (or, when the SDK says
// `resourceLocationConfig: "azure-async-operation"`, from the original resource URL).
//
// The work of an operation (setting a password, regenerating a key) runs when the
// operation completes, not when it is accepted: a client that stops polling early has
// not changed anything, as with the real service. Completion happens on the poll that
// follows `lroPolls` "InProgress" answers, counted over both URLs.
import { randomUUID } from "node:crypto";
import type { Headers } from "./http.js";

/**
 * How a provider words its operations (Azure/azure-sdk-assets js/sdk/sql/arm-sql and
 * js/sdk/cosmosdb/arm-cosmosdb recordings; ARM's async-operation contract otherwise):
 * - "sql": URLs under the resource group, 202 body `{operation, startTime}`, status
 *   body `{name, status, startTime}`, `Retry-After` on the 202 and every poll;
 * - "cosmos": 202 body and status `{"status":"Enqueued"}` until done, no `Retry-After`;
 * - "arm": the contract's status body `{id, name, status, startTime, endTime}`, no 202 body.
 */
export type OperationStyle = "sql" | "cosmos" | "arm";

export interface OperationUrls {
  /** Provider namespace in the URLs, e.g. "Microsoft.Sql". */
  readonly namespace: string;
  readonly style: OperationStyle;
  /** The 202's `operation` name (style "sql"), e.g. "UpsertLogicalServer". */
  readonly operationName?: string;
  /** Path segment of the Azure-AsyncOperation URL, e.g. "serverAzureAsyncOperation". */
  readonly asyncSegment: string;
  /** Path segment of the Location URL, e.g. "serverOperationResults". */
  readonly resultSegment: string;
}

/** Thrown by an operation's work to make it end "Failed" with this ARM error. */
export class OperationFailedError extends Error {
  override readonly name = "OperationFailedError";
  constructor(
    readonly code: string,
    message: string,
    /** HTTP status the Location URL answers with for this failure. */
    readonly httpStatus = 400,
  ) {
    super(message);
  }
}

export type OperationStatus = "InProgress" | "Succeeded" | "Failed";

export interface ArmOperation {
  readonly id: string;
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly location: string;
  readonly urls: OperationUrls;
  readonly apiVersion: string;
  readonly startTime: string;
  status: OperationStatus;
  endTime?: string;
  error?: { code: string; message: string };
  errorHttpStatus?: number;
  /** "InProgress" answers given so far. */
  pollsAnswered: number;
  /** The work; runs once, on completion. */
  readonly work: () => Promise<void>;
  /** Final body for the Location URL; undefined answers 204 No Content. */
  readonly result: () => unknown;
  completing?: Promise<void>;
}

export interface OperationRegistryOptions {
  /** ARM base URL, "https://127.0.0.1:PORT". */
  readonly baseUrl: () => string;
  readonly lroPolls: number;
  readonly retryAfterSeconds: number;
}

export class OperationRegistry {
  private readonly operations = new Map<string, ArmOperation>();

  constructor(private readonly options: OperationRegistryOptions) {}

  start(o: {
    /** The resource the operation works on: its subscription, group and location place the operation's URLs. */
    on: { readonly subscriptionId: string; readonly resourceGroup: string; readonly location: string };
    urls: OperationUrls;
    apiVersion: string;
    work: () => Promise<void>;
    result: () => unknown;
  }): { operation: ArmOperation; headers: Headers; body: unknown } {
    const operation: ArmOperation = {
      id: randomUUID(),
      subscriptionId: o.on.subscriptionId,
      resourceGroup: o.on.resourceGroup,
      location: o.on.location,
      urls: o.urls,
      apiVersion: o.apiVersion,
      startTime: new Date().toISOString(),
      status: "InProgress",
      pollsAnswered: 0,
      work: o.work,
      result: o.result,
    };
    this.operations.set(operation.id, operation);
    const style = o.urls.style;
    return {
      operation,
      headers: {
        "azure-asyncoperation": this.url(operation, "async"),
        location: this.url(operation, "result"),
        ...this.retryAfter(operation),
      },
      body:
        style === "sql"
          ? { operation: o.urls.operationName ?? "UpsertLogicalServer", startTime: operation.startTime }
          : style === "cosmos"
            ? { status: "Enqueued" }
            : undefined,
    };
  }

  /** `Retry-After` while the operation runs, where the provider sends one (not Cosmos DB). */
  retryAfter(op: ArmOperation): Headers {
    return op.status === "InProgress" && op.urls.style !== "cosmos" ? { "retry-after": String(this.options.retryAfterSeconds) } : {};
  }

  url(op: ArmOperation, which: "async" | "result"): string {
    const segment = which === "async" ? op.urls.asyncSegment : op.urls.resultSegment;
    const scope = op.urls.style === "sql" ? `/resourceGroups/${op.resourceGroup}` : "";
    return (
      `${this.options.baseUrl()}/subscriptions/${op.subscriptionId}${scope}/providers/${op.urls.namespace}` +
      `/locations/${op.location}/${segment}/${op.id}?api-version=${op.apiVersion}`
    );
  }

  /** Finds the operation a polling URL names; `which` tells whether it is the status or the result URL. */
  find(subscriptionId: string, namespace: string, segment: string, id: string, resourceGroup?: string): { operation: ArmOperation; which: "async" | "result" } | undefined {
    const operation = this.operations.get(id.toLowerCase());
    if (!operation) return undefined;
    if (operation.subscriptionId.toLowerCase() !== subscriptionId.toLowerCase()) return undefined;
    // An operation is found only at the URL it was announced at.
    if ((operation.urls.style === "sql") !== (resourceGroup !== undefined)) return undefined;
    if (resourceGroup !== undefined && operation.resourceGroup.toLowerCase() !== resourceGroup.toLowerCase()) return undefined;
    if (operation.urls.namespace.toLowerCase() !== namespace.toLowerCase()) return undefined;
    if (operation.urls.asyncSegment.toLowerCase() === segment.toLowerCase()) return { operation, which: "async" };
    if (operation.urls.resultSegment.toLowerCase() === segment.toLowerCase()) return { operation, which: "result" };
    return undefined;
  }

  /** One poll: answers "InProgress" `lroPolls` times, then runs the work once and settles. */
  async advance(op: ArmOperation): Promise<void> {
    if (op.status !== "InProgress") return;
    if (op.completing) return op.completing;
    if (op.pollsAnswered < this.options.lroPolls) {
      op.pollsAnswered += 1;
      return;
    }
    op.completing = (async () => {
      try {
        await op.work();
        op.status = "Succeeded";
      } catch (error) {
        op.status = "Failed";
        if (error instanceof OperationFailedError) {
          op.error = { code: error.code, message: error.message };
          op.errorHttpStatus = error.httpStatus;
        } else {
          op.error = { code: "InternalServerError", message: `The operation failed: ${(error as Error)?.message ?? String(error)}` };
          op.errorHttpStatus = 500;
        }
      } finally {
        op.endTime = new Date().toISOString();
      }
    })();
    return op.completing;
  }

  /** Body of the Azure-AsyncOperation URL, in the provider's words. */
  statusBody(op: ArmOperation): unknown {
    const error = op.error ? { error: op.error } : {};
    if (op.urls.style === "cosmos") return { status: op.status === "InProgress" ? "Enqueued" : op.status, ...error };
    if (op.urls.style === "sql") return { name: op.id, status: op.status, startTime: op.startTime, ...error };
    return {
      id: this.url(op, "async").replace(/^https:\/\/[^/]+/, "").replace(/\?.*$/, ""),
      name: op.id,
      status: op.status,
      startTime: op.startTime,
      ...(op.endTime ? { endTime: op.endTime } : {}),
      ...error,
    };
  }
}

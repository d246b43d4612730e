// Proving a client secret: a client-credentials token request as the application,
// exactly what a consumer of the secret does first.
//
// A new ClientSecretCredential per attempt: MSAL caches tokens per credential, and a
// cached answer would prove nothing. @azure/identity is loaded on first use (it is heavy
// and most cold starts never need it).
//
// Instance discovery: MSAL validates an authority by asking the public cloud's discovery
// endpoint, except for the Microsoft cloud hosts whose metadata it carries built in. We
// keep that validation for those hosts and turn it off for any other host (the local
// test double, a private cloud), where the discovery call would fail or would go to the
// public cloud. The host comes from keyturn's settings, never from a tag.
import type { AccessToken } from "@azure/core-auth";
import type { AzureClientOptions } from "../../core/rotator.js";

// MSAL's built-in instance metadata (msal-common AuthorityMetadata): no discovery call needed.
const KNOWN_AUTHORITY_HOSTS = new Set([
  "login.microsoftonline.com",
  "login.windows.net",
  "login.microsoft.com",
  "sts.windows.net",
  "login.partner.microsoftonline.cn",
  "login.chinacloudapi.cn",
  "login.microsoftonline.de",
  "login.microsoftonline.us",
  "login.usgovcloudapi.net",
  "login-us.microsoftonline.com",
]);

export function needsInstanceDiscoveryDisabled(authorityHost: string): boolean {
  return !KNOWN_AUTHORITY_HOSTS.has(new URL(authorityHost).hostname.toLowerCase());
}

export interface TokenRequest {
  readonly authorityHost: string;
  readonly tenantId: string;
  readonly clientId: string;
  readonly secretText: string;
  readonly scope: string;
  readonly clientOptions: AzureClientOptions;
}

/** One token request with a fresh credential; rejects with @azure/identity's error. */
export async function acquireToken(req: TokenRequest): Promise<AccessToken> {
  const { ClientSecretCredential } = await import("@azure/identity");
  const credential = new ClientSecretCredential(req.tenantId, req.clientId, req.secretText, {
    authorityHost: req.authorityHost,
    disableInstanceDiscovery: needsInstanceDiscoveryDisabled(req.authorityHost),
    ...(req.clientOptions.tlsOptions ? { tlsOptions: req.clientOptions.tlsOptions } : {}),
    ...(req.clientOptions.retryOptions ? { retryOptions: req.clientOptions.retryOptions } : {}),
  });
  return credential.getToken(req.scope);
}

/** The identity platform's error code (`AADSTS7000215`) in an @azure/identity error, if it answered with one. */
export function aadstsCode(error: unknown): string | undefined {
  const message = error instanceof Error ? error.message : String(error);
  return /\bAADSTS(\d{5,9})\b/.exec(message)?.[0];
}

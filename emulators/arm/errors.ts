// ARM's error answers, in the `{"error":{"code","message"}}` shape every resource
// provider behind ARM uses, with the codes and message wording ARM uses for them.
import type { ServerResponse } from "node:http";
import { sendJson, type Headers } from "./http.js";

export function armError(res: ServerResponse, status: number, code: string, message: string, headers: Headers = {}): void {
  sendJson(res, status, { error: { code, message } }, headers);
}

export const armErrors = {
  authenticationMissing: (res: ServerResponse, headers: Headers) =>
    armError(res, 401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.", {
      ...headers,
      "www-authenticate":
        'Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token", error_description="The authentication failed because of missing \'Authorization\' header."',
    }),
  authenticationMalformed: (res: ServerResponse, headers: Headers) =>
    armError(res, 401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is provided in an invalid format.", {
      ...headers,
      "www-authenticate":
        'Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token", error_description="The authentication failed because of invalid \'Authorization\' header."',
    }),
  missingApiVersion: (res: ServerResponse, headers: Headers) =>
    armError(res, 400, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.", headers),
  invalidApiVersion: (res: ServerResponse, headers: Headers, given: string, supported: readonly string[]) =>
    armError(res, 400, "InvalidApiVersionParameter", `The api-version '${given}' is invalid. The supported versions are '${supported.join(",")}'.`, headers),
  invalidNamespace: (res: ServerResponse, headers: Headers, namespace: string) =>
    armError(res, 400, "InvalidResourceNamespace", `The resource namespace '${namespace}' is invalid.`, headers),
  invalidResourceType: (res: ServerResponse, headers: Headers, namespace: string, type: string, apiVersion: string) =>
    armError(
      res,
      404,
      "InvalidResourceType",
      `The resource type '${type}' could not be found in the namespace '${namespace}' for api version '${apiVersion}'.`,
      headers,
    ),
  subscriptionNotFound: (res: ServerResponse, headers: Headers, subscriptionId: string) =>
    armError(res, 404, "SubscriptionNotFound", `The subscription '${subscriptionId}' could not be found.`, headers),
  resourceGroupNotFound: (res: ServerResponse, headers: Headers, resourceGroup: string) =>
    armError(res, 404, "ResourceGroupNotFound", `Resource group '${resourceGroup}' could not be found.`, headers),
  resourceNotFound: (res: ServerResponse, headers: Headers, namespace: string, type: string, name: string, resourceGroup: string) =>
    armError(
      res,
      404,
      "ResourceNotFound",
      `The Resource '${namespace}/${type}/${name}' under resource group '${resourceGroup}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
      headers,
    ),
  authorizationFailed: (res: ServerResponse, headers: Headers, clientId: string, objectId: string, action: string, scope: string) =>
    armError(
      res,
      403,
      "AuthorizationFailed",
      `The client '${clientId}' with object id '${objectId}' does not have authorization to perform action '${action}' over scope '${scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
      headers,
    ),
  invalidRequestContent: (res: ServerResponse, headers: Headers, detail: string) =>
    armError(res, 400, "InvalidRequestContent", `The request content was invalid and could not be deserialized: '${detail}'.`, headers),
} as const;

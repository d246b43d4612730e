metadata name = 'keyturn role assignments'
metadata description = 'Deploys every entry of the one role list (principal, scope resource, role) as a role assignment on that single resource, in whatever subscription and resource group the resource lives.'

import { roleAssignmentType } from 'types.bicep'

@description('Required. The role list built in main.bicep. Each entry names a principal key, one resource and one role.')
param assignments roleAssignmentType[]

@description('Required. Principal object IDs by key: { keyturn: <id>, eventGridDeadLetter: <id> }.')
param principalIds {
  @description('Required. Object ID of the keyturn function app\'s user-assigned identity.')
  keyturn: string

  @description('Required. Object ID of the identity the Key Vault system topics use to write dead letters.')
  eventGridDeadLetter: string
}

// The loop runs here rather than in main.bicep because principal IDs are only known once
// the identities exist; as module parameters they are fixed when this deployment starts,
// which is what a for-expression and a role assignment's name require.
module assignment 'role-assignment.bicep' = [
  for (a, i) in assignments: {
    name: take('keyturn-ra-${i}-${uniqueString(a.scope.subscriptionId, a.scope.resourceGroup, a.scope.resourceType, a.scope.name, a.principal, a.roleDefinitionId)}', 64)
    scope: resourceGroup(a.scope.subscriptionId, a.scope.resourceGroup)
    params: {
      principalId: principalIds[a.principal]
      roleDefinitionId: a.roleDefinitionId
      resourceType: a.scope.resourceType
      resourceName: a.scope.name
      reason: a.reason
    }
  }
]

@description('Number of role assignments deployed.')
output count int = length(assignments)

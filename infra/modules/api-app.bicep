metadata name = 'keyturn API app registration'
metadata description = 'The Microsoft Entra application that protects keyturn\'s HTTP API through App Service Authentication, with the app roles the code checks (core/auth.ts AppRole), and its service principal. Created with the Microsoft Graph Bicep extension (bicepconfig.json).'

extension microsoftGraphV1

@description('Required. Unique name of the application in the tenant (its idempotent key).')
@minLength(1)
@maxLength(120)
param uniqueName string

@description('Required. Display name of the application.')
@minLength(1)
@maxLength(120)
param displayName string

// The app roles of core/auth.ts AppRole (test/infra/infra.test.ts compares them). Role IDs
// are derived from the application's unique name, so a redeployment keeps them.
var appRoles = [
  {
    value: 'Rotation.Operator'
    displayName: 'Rotation operator'
    description: 'Rotate secrets now (normal, dry run, emergency) and read their rotation status.'
  }
  {
    value: 'Rotation.Reader'
    displayName: 'Rotation reader'
    description: 'Read rotation status, what is due and the posture audit.'
  }
]

resource apiApp 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: uniqueName
  displayName: displayName
  signInAudience: 'AzureADMyOrg'
  api: {
    // v2 tokens: their audience is the client ID, which App Service Authentication accepts.
    requestedAccessTokenVersion: 2
  }
  appRoles: [
    for r in appRoles: {
      id: guid(uniqueName, r.value)
      value: r.value
      displayName: r.displayName
      description: r.description
      allowedMemberTypes: [
        'User'
        'Application'
      ]
      isEnabled: true
    }
  ]
}

// Only principals assigned one of the app roles can get a token for the API at all.
resource apiServicePrincipal 'Microsoft.Graph/servicePrincipals@v1.0' = {
  appId: apiApp.appId
  appRoleAssignmentRequired: true
}

@description('Client ID (appId) of the API application: the audience App Service Authentication accepts.')
output clientId string = apiApp.appId

@description('Object ID of the API\'s service principal (Enterprise application), where app roles are assigned to people and groups.')
output servicePrincipalId string = apiServicePrincipal.id

metadata name = 'keyturn monitoring'
metadata description = 'Log Analytics workspace and a workspace-based Application Insights component that accepts only Entra ID authenticated telemetry.'

@description('Required. Name of the Log Analytics workspace.')
@minLength(4)
@maxLength(63)
param workspaceName string

@description('Required. Name of the Application Insights component.')
@minLength(1)
@maxLength(260)
param appInsightsName string

@description('Optional. Location. Default: the resource group location.')
param location string = resourceGroup().location

@description('Optional. Tags.')
param tags object = {}

@description('Optional. Days the workspace keeps data.')
@minValue(30)
@maxValue(730)
param retentionInDays int = 30

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: workspaceName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
    // Queries and ingestion with Entra tokens only (the component sends with its identity).
    features: {
      disableLocalAuth: true
    }
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    // Telemetry must carry an Entra token (the function app sends it with its identity,
    // see APPLICATIONINSIGHTS_AUTHENTICATION_STRING): the instrumentation key alone is
    // not enough to write, so the connection string is not a credential.
    DisableLocalAuth: true
  }
}

@description('Resource ID of the Application Insights component.')
output appInsightsResourceId string = appInsights.id

@description('Name of the Application Insights component.')
output appInsightsName string = appInsights.name

@description('Resource ID of the Log Analytics workspace.')
output workspaceResourceId string = workspace.id
